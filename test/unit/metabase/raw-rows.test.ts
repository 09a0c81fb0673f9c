/**
 * Run rows kept as Metabase's JSON text: the scan accepts exactly what JSON.parse accepts (checked
 * against it on generated bodies and on every one-character damage of them), finds `data.rows` and
 * each row's end, and the response splices the text where the rows stand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawJson, scanRunBody, stringifyWithRawJson } from '../../../src/metabase/raw-rows.js';

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const STRINGS = ['', 'plain', 'quote " and \\ backslash', 'tab\tnew\nline', 'unicode é ✓ 😀', '\u0000 nul', '</script>', 'ends with \\'];

function value(r: () => number, depth: number): unknown {
  const pick = r();
  if (depth > 3 || pick < 0.5) {
    const k = Math.floor(r() * 7);
    return [null, true, false, Math.floor(r() * 1e6) - 5e5, (r() - 0.5) * 1e-3, 1.5e300, STRINGS[Math.floor(r() * STRINGS.length)]][k];
  }
  if (pick < 0.75) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}${STRINGS[Math.floor(r() * STRINGS.length)]}`, value(r, depth + 1)]));
}

function body(r: () => number): string {
  const rows = Array.from({ length: Math.floor(r() * 6) }, () => Array.from({ length: Math.floor(r() * 4) }, () => value(r, 2)));
  const data = { cols: [{ name: 'A' }], rows, native_form: { query: 'SELECT "rows" FROM t' }, rows_truncated: null };
  const whole = { data, json_query: { rows: [1] }, status: 'completed', row_count: rows.length, started_at: null };
  // Some bodies pretty-printed: whitespace anywhere JSON allows it.
  return r() < 0.3 ? JSON.stringify(whole, null, 2) : JSON.stringify(whole);
}

test('on generated bodies, the scan keeps the rows JSON.parse would give, and the rest of the body as JSON.parse gives it', () => {
  const r = prng(7);
  for (let n = 0; n < 300; n++) {
    const text = body(r);
    const scanned = scanRunBody(text);
    assert.ok(scanned, text);
    const parsed = JSON.parse(text) as { data: { rows: unknown[][] } };
    assert.deepEqual(scanned.rows.parse(), parsed.data.rows);
    assert.equal(scanned.rows.length, parsed.data.rows.length);
    for (let k = 0; k <= parsed.data.rows.length; k++) assert.deepEqual(JSON.parse(scanned.rows.json(k).text), parsed.data.rows.slice(0, k), `the first ${k} rows`);
    assert.deepEqual({ ...(scanned.rest as object), data: { ...(scanned.rest as { data: object }).data, rows: parsed.data.rows } }, parsed);
  }
});

test('every one-character damage of a body is refused exactly when JSON.parse refuses it', () => {
  const r = prng(11);
  const noise = ['"', '\\', ',', ']', '[', '{', '}', ':', '0', '-', '.', 'e', 'x', ' ', '\u0001', 'u'];
  let refused = 0;
  for (let n = 0; n < 40; n++) {
    const text = body(r);
    for (let at = 0; at < text.length; at += 1 + Math.floor(r() * 3)) {
      const c = noise[Math.floor(r() * noise.length)]!;
      for (const damaged of [text.slice(0, at) + text.slice(at + 1), text.slice(0, at) + c + text.slice(at), text.slice(0, at) + c + text.slice(at + 1)]) {
        let parsed: { ok: true; value: unknown } | { ok: false };
        try {
          parsed = { ok: true, value: JSON.parse(damaged) };
        } catch {
          parsed = { ok: false };
        }
        let scanned: ReturnType<typeof scanRunBody> | 'refused';
        try {
          scanned = scanRunBody(damaged);
        } catch (err) {
          assert.ok(err instanceof SyntaxError);
          scanned = 'refused';
        }
        if (!parsed.ok) {
          assert.equal(scanned, 'refused', `JSON.parse refuses ${JSON.stringify(damaged)}`);
          refused++;
        } else if (scanned === 'refused') {
          // Still JSON, but a row is no longer an array: refused as Metabase's rows must be arrays.
          const rows = (parsed.value as { data?: { rows?: unknown } }).data?.rows;
          assert.ok(Array.isArray(rows) && rows.some((row) => !Array.isArray(row)), `only non-array rows are refused: ${JSON.stringify(damaged)}`);
        } else if (scanned) {
          assert.deepEqual(scanned.rows.parse(), (parsed.value as { data: { rows: unknown } }).data.rows);
        }
      }
    }
  }
  assert.ok(refused > 1_000, `${refused} damaged bodies refused`);
});

test('bodies the scan leaves to JSON.parse: no data.rows array, duplicate keys, deep nesting', () => {
  assert.equal(scanRunBody('{"status":"failed","error":"boom"}'), null);
  assert.equal(scanRunBody('{"data":{"rows":null}}'), null);
  assert.equal(scanRunBody('{"data":{"rows":[[1]]},"data":{"cols":[]}}'), null, 'JSON.parse keeps the last data');
  assert.equal(scanRunBody('{"data":{"rows":[[1]],"rows":[[2]]}}'), null);
  assert.equal(scanRunBody(`{"data":{"rows":[[${'['.repeat(600)}${']'.repeat(600)}]]}}`), null);
  assert.throws(() => scanRunBody('{"data":{"rows":[1,2]}}'), /rows must be arrays/);
  // Rows of plain values are checked by one expression: each of these is refused, as JSON.parse refuses it.
  for (const row of ['[1,]', '[,1]', '[01]', '[1.]', '[-]', '[1e]', '["\\x"]', '["\\u12"]', '[tru]', '[1 2]', '["a\u0001"]', '[nul]', '[1,,2]']) {
    const text = `{"data":{"rows":[${row}]}}`;
    assert.throws(() => JSON.parse(text), SyntaxError, row);
    assert.throws(() => scanRunBody(text), SyntaxError, row);
  }
  for (const row of ['[]', '[ ]', '[-0.5e+3,"\\u00e9\\n",true,false,null]', '[ 1 , "a" ]']) {
    assert.deepEqual(scanRunBody(`{"data":{"rows":[${row}]}}`)!.rows.parse(), [JSON.parse(row)], row);
  }
  assert.throws(() => scanRunBody('{"data":{"rows":[[1]]}} trailing'), SyntaxError);
});

test('the response splices each run\'s text where it stands; no string in the value can pose as one', () => {
  const sneaky = `\u0000${'0'.repeat(24)}:0`;
  const value = { a: new RawJson('[[1,"x"]]'), b: [new RawJson('[]'), sneaky], c: 'plain' };
  const out = stringifyWithRawJson(value);
  assert.deepEqual(JSON.parse(out), { a: [[1, 'x']], b: [[], sneaky], c: 'plain' });
  assert.equal(JSON.stringify(value), out, 'encoded without the splice, a RawJson is its parsed value');
});
