/** Kept runs: one body per distinct result, a record per run, readable only by its owner, expiring together. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader } from '../../../src/metabase/decode.js';
import { RunStore } from '../../../src/metabase/stored-runs.js';
import { readQueryResult } from '../../../src/metabase/types.js';
import { MemoryStore } from '../../../src/store/store.js';

const result = (rows: unknown[][]) => readQueryResult(Reader.of({ data: { rows, cols: [{ name: 'N' }] }, row_count: rows.length, status: 'completed' }, 'r'));
const ana = { issuer: 'idp', subject: 'ana', role: 'analyst', scope: 'scope-1' };
const reach = { collections: [1] };
const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];

test('identical results are stored once; each run has its own record, for its owner only', async () => {
  const clock = { t: 1_000 };
  const store = new MemoryStore({ now: () => clock.t });
  const runs = new RunStore(store, { ttlMs: 10_000, now: () => clock.t });
  const same = result([[1], [2], [3]]);
  assert.equal(await runs.keep(ids[0]!, ana, same, 3, { truncated: false, source: 'METABASE', reach }), 11_000);
  assert.equal(await runs.keep(ids[1]!, { ...ana, subject: 'alex' }, same, 3, { truncated: false, source: 'GATEWAY_CACHE', reach }), 11_000);
  assert.equal(store.size, 3, 'two records, one body');
  await runs.keep(ids[2]!, ana, same, 2, { truncated: true, source: 'METABASE', reach: 'native' });
  assert.equal(store.size, 5, 'fewer rows is another body');

  const mine = await runs.read(ids[0]!, ana);
  assert.deepEqual(mine?.result.rows, [[1], [2], [3]]);
  assert.deepEqual([mine?.facts, mine?.storedAt, mine?.expiresAt], [{ truncated: false, source: 'METABASE', reach }, 1_000, 11_000]);
  assert.equal((await runs.read(ids[2]!, ana))?.facts.reach, 'native');
  assert.deepEqual((await runs.read(ids[2]!, ana))?.result.rows, [[1], [2]]);
  assert.equal(await runs.read(ids[0]!, { ...ana, subject: 'alex' }), null, 'another viewer');
  assert.equal(await runs.read(ids[0]!, { ...ana, role: 'sales' }), null, 'another role');
  assert.equal(await runs.read(ids[0]!, { ...ana, scope: 'scope-2' }), null, 'the role with another credential');
  assert.equal(await runs.read('not-a-run-id', ana), null);

  // A later run of the same result keeps the shared body alive as long as its own record.
  clock.t = 9_000;
  await runs.keep('44444444-4444-4444-8444-444444444444', ana, same, 3, { truncated: false, source: 'SHARED', reach });
  clock.t = 12_000;
  assert.equal(await runs.read(ids[0]!, ana), null, 'the first record expired');
  assert.deepEqual((await runs.read('44444444-4444-4444-8444-444444444444', ana))?.result.rows, [[1], [2], [3]], 'the body lives on with the later record');

  const small = new RunStore(new MemoryStore(), { maxBytes: 100 });
  assert.equal(await small.keep(ids[0]!, ana, result(Array.from({ length: 50 }, (_, i) => [i])), 50, { truncated: false, source: 'METABASE', reach }), null, 'over the byte cap: not kept');
});
