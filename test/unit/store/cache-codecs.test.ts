/**
 * What the caches store reads back as it was: Metabase's objects through the JSON envelope (real
 * recorded responses), a run through the run codec (rows kept as text, cut and paged by row), and a
 * stored entry that is damaged or foreign is refused, never served.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Reader } from '../../../src/metabase/decode.js';
import { scanRunBody } from '../../../src/metabase/raw-rows.js';
import { decodeRun, encodeRun } from '../../../src/metabase/run-codec.js';
import { readCard, readCollection, readDashboard, readDatabase, readQueryResult, type QueryResult } from '../../../src/metabase/types.js';
import { jsonCodec } from '../../../src/store/shared-cache.js';

const recorded = JSON.parse(readFileSync(new URL('../../fixtures/metabase/recorded/cypress_sample_instance_data.json', import.meta.url), 'utf8')) as Record<string, unknown[]>;

test('Metabase\'s objects read back from the JSON envelope exactly as they were read from Metabase', () => {
  const readers = { questions: readCard, dashboards: readDashboard, databases: readDatabase, collections: readCollection } as const;
  let checked = 0;
  for (const [kind, read] of Object.entries(readers)) {
    for (const [i, raw] of (recorded[kind] ?? []).entries()) {
      const value = read(Reader.of(raw, `${kind}[${i}]`));
      const codec = jsonCodec<typeof value>();
      const back = codec.decode(codec.encode(value, 1234));
      assert.deepStrictEqual(back.value, value, `${kind}[${i}]`);
      assert.equal(back.storedAt, 1234);
      checked += 1;
    }
  }
  assert.ok(checked >= 15, `${checked} objects checked`);
  const codec = jsonCodec<unknown>();
  for (const bad of ['', 'null', '{"v":1}', '{"at":"x","v":1}', '[1]', '{"at":1']) assert.throws(() => codec.decode(bad), SyntaxError, bad);
});

function run(rows: unknown[][], extra: Record<string, unknown> = {}): QueryResult {
  const text = JSON.stringify({
    data: { rows, cols: [{ name: 'ID', display_name: 'Id', base_type: 'type/Integer', effective_type: 'type/Integer', semantic_type: 'type/PK' }, { name: 'NOTE', base_type: 'type/Text' }] },
    row_count: rows.length, status: 'completed', running_time: 12, started_at: '2026-11-29T10:00:00Z', cached: null, context: 'question', ...extra,
  });
  const scanned = scanRunBody(text)!;
  ((scanned.rest as { data: Record<string, unknown> }).data)['rows'] = scanned.rows;
  return readQueryResult(Reader.of(scanned.rest, 'result'));
}

const ROWS = Array.from({ length: 25 }, (_, i) => [i, i % 3 ? `note "${i}" ✓` : null]);

test('a run reads back from its stored text with its rows as text, all or cut to a count', () => {
  const result = run(ROWS);
  const back = decodeRun(encodeRun(result, 99));
  assert.equal(back.storedAt, 99);
  assert.ok(back.result.rowsJson, 'the rows stay text');
  assert.deepEqual(back.result.rows, ROWS);
  assert.deepEqual(back.result.columns, result.columns);
  const { rows: _r, rowsJson: _j, ...meta } = back.result;
  const { rows: _r2, rowsJson: _j2, ...before } = result;
  assert.deepEqual(meta, before);
  const cut = decodeRun(encodeRun(result, 99, 10)).result;
  assert.deepEqual(cut.rows, ROWS.slice(0, 10));
  assert.equal(cut.rowCount, 10);
  const truncated = run(ROWS, {});
  assert.equal(decodeRun(encodeRun({ ...truncated, truncatedAt: 2000 }, 1)).result.truncatedAt, 2000);
  const parsed = { ...result, rowsJson: null, rows: ROWS };
  assert.deepEqual(decodeRun(encodeRun(parsed, 1)).result.rows, ROWS, 'parsed rows are written too');
});

test('rows are paged by row from their text: every window equals the parsed slice', () => {
  const rows = run(ROWS).rowsJson!;
  for (const from of [0, 1, 7, 24, 25, 30]) {
    for (const count of [0, 1, 5, 25, 100]) {
      assert.deepEqual(JSON.parse(rows.json(count, from).text), ROWS.slice(from, from + count), `from ${from}, count ${count}`);
    }
  }
  assert.equal(rows.json(-3, 2).text, '[]');
});

test('a damaged or foreign stored run is refused', () => {
  const text = encodeRun(run(ROWS), 5);
  for (const bad of [text.slice(0, -1), text.replace('"stored_at":5', '"stored_at":"5"'), text.replace('[0,null]', '[0,nul]'), '{"data":{"rows":[1]}}', '{}']) {
    assert.throws(() => decodeRun(bad), bad.slice(0, 60));
  }
});
