/** The emulator's leak bodies and oversized-body generator, without HTTP. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OVERSIZE_CHUNK_BYTES, gzippedLength, oversizedChunks } from '../../../src/emulator/oversize.js';
import { LEAK_MARKERS, exceptionBody, h2ErrorMessage, proxyBadGatewayPage, warehouseRejection } from '../../../src/emulator/internals.js';
import { constants, gunzipSync, gzipSync } from 'node:zlib';

const body = (size: number): Buffer => Buffer.concat([...oversizedChunks(size)]);

test('oversized bodies have exactly the size asked for and are valid JSON from 11 bytes up', () => {
  const C = OVERSIZE_CHUNK_BYTES;
  for (const size of [11, 12, 13, 14, 100, C + 8, C + 9, C + 10, C + 11, C + 12, C + 13, C + 14, 2 * C + 11, 2 * C + 12, 2 * C + 13, 3 * C + 1000]) {
    const b = body(size);
    assert.equal(b.length, size, `size ${size}`);
    const parsed = JSON.parse(b.toString('utf8')) as { data: string[] };
    assert.ok(Array.isArray(parsed.data) && parsed.data.every((x) => /^x*$/.test(x)), `size ${size}`);
    assert.equal(b.subarray(0, 9).toString(), '{"data":[');
  }
  for (const size of [2, 5, 10]) assert.deepEqual(JSON.parse(body(size).toString()), {}, `size ${size}`);
  assert.equal(body(0).length, 0);
  assert.equal(body(1).length, 1);
});

test('oversized bodies are generated in chunks of at most 64 KiB, reusing the full ones', () => {
  const chunks = [...oversizedChunks(10 * OVERSIZE_CHUNK_BYTES)];
  assert.ok(chunks.every((c) => c.length <= OVERSIZE_CHUNK_BYTES));
  const full = chunks.filter((c) => c.length === OVERSIZE_CHUNK_BYTES);
  assert.ok(full.length >= 8);
  assert.equal(new Set(full.slice(1)).size, 1, 'the same buffer again and again: no allocation per chunk');
});

test('the gzipped length is measured without keeping the body, and matches a one-shot gzip at the same (fastest) level', async () => {
  const size = 3 * OVERSIZE_CHUNK_BYTES + 123;
  const expected = gzipSync(body(size), { level: constants.Z_BEST_SPEED });
  assert.equal(await gzippedLength(size), expected.length);
  assert.equal(gunzipSync(expected).length, size);
});

test('SQLite errors in H2\'s form, quoting the statement', () => {
  assert.equal(h2ErrorMessage('no such column: NOPE', 'SELECT NOPE FROM PRODUCTS'), 'Column "NOPE" not found; SQL statement:\nSELECT NOPE FROM PRODUCTS [42122-214]');
  assert.equal(h2ErrorMessage('no such column: p.nope', 'SELECT p.nope FROM PRODUCTS p'), 'Column "P.NOPE" not found; SQL statement:\nSELECT p.nope FROM PRODUCTS p [42122-214]');
  assert.equal(h2ErrorMessage('no such table: X', 'SELECT * FROM X'), 'Table "X" not found; SQL statement:\nSELECT * FROM X [42102-214]');
  assert.equal(h2ErrorMessage('near "FORM": syntax error', 'SELECT * FORM X'), 'near "FORM": syntax error; SQL statement:\nSELECT * FORM X [90000-214]');
  assert.equal(warehouseRejection('SELECT "ID" FROM "ORDERS" LIMIT 1'), 'Not enough rights for object "PUBLIC.ORDERS"; SQL statement:\nSELECT "ID" FROM "ORDERS" LIMIT 1 [90096-214]');
});

test('exception bodies: internals shown by default, one fixed message when hidden', () => {
  const shown = JSON.stringify(exceptionBody(false));
  assert.ok(['mb_app', '10.2.3.4', 'PSQLException', '.clj:'].every((m) => shown.includes(m)));
  const internal = exceptionBody(false, 'internal');
  assert.match(String(internal['message']), /^java\.lang\.NullPointerException: /);
  assert.ok(Array.isArray(internal['via']) && Array.isArray(internal['trace']));
  assert.deepEqual(exceptionBody(true), { message: 'Something went wrong' });
  assert.deepEqual(exceptionBody(true, 'internal'), { message: 'Something went wrong' });
});

test('the proxy page names the upstream but echoes only the path\'s safe characters', () => {
  const page = proxyBadGatewayPage('/api/card/1"><script>alert(1)</script>');
  assert.ok(page.includes('metabase-0.metabase.internal:3000/api/card/1scriptalert1/script'));
  assert.ok(!page.includes('<script>'));
  assert.ok(LEAK_MARKERS.filter((m) => page.includes(m)).length >= 2);
});
