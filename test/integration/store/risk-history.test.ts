/**
 * The risk flags' history shared through Redis: a burst or a run of cut results spread over two
 * instances is counted once, per caller; and while Redis does not answer, each instance counts alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunRecord } from '../../../src/audit/trail.js';
import { SharedRiskHistory } from '../../../src/server/risk-flags.js';
import { RedisStore } from '../../../src/store/store.js';
import { startRedis, testPrefix, twoInstanceStores } from '../../helpers/redis.js';

const run = (questionId: number, truncated = false): RunRecord => ({
  questionId, dashboardId: null, dashboardCardId: null, databaseId: 1, parameters: [], status: 'completed',
  rowCount: 1, truncated, cached: false, from: 'metabase', runId: `r${questionId}`,
});
const policy = { distinctQuestionsPerMinute: 2, rowCapCutsPerMinute: 2 };

const stores = twoInstanceStores();

test('a burst spread over two instances is one burst, for that caller only', async () => {
  const a = new SharedRiskHistory(stores.one);
  const b = new SharedRiskHistory(stores.two);
  await a.record('caller-1', [run(1)]);
  await b.record('caller-1', [run(2), run(1)]);
  assert.deepEqual(await a.flags('caller-1', policy), [], 'two distinct questions, the repeat counted once');
  assert.deepEqual(await b.flags('caller-1', policy, [run(2)]), [], 'a question already run is no new one');
  assert.deepEqual(await b.flags('caller-1', policy, [run(3)]), ['question-burst'], 'the call that makes the burst, on the other instance');
  await b.record('caller-1', [run(3)]);
  assert.deepEqual(await a.flags('caller-1', policy), ['question-burst']);
  assert.deepEqual(await a.flags('caller-2', policy), [], 'another caller has its own history');
});

test('cut results are counted across instances, each cut once', async () => {
  const a = new SharedRiskHistory(stores.one);
  const b = new SharedRiskHistory(stores.two);
  await a.record('caller-3', [run(1, true)]);
  await b.record('caller-3', [run(1, true)]);
  assert.deepEqual(await a.flags('caller-3', policy), []);
  assert.deepEqual(await b.flags('caller-3', policy, [run(4, true)]), ['row-cap-repeated']);
});

test('while Redis does not answer, each instance counts on its own, and the call is not held', async () => {
  const own = await startRedis();
  const store = new RedisStore({ url: own.url, prefix: testPrefix(), timeoutMs: 200 });
  try {
    await store.whenState('ok');
    const history = new SharedRiskHistory(store);
    await history.record('caller-4', [run(1), run(2)]);
    await own.stop();
    await store.whenState('degraded');
    assert.deepEqual(await history.flags('caller-4', policy, [run(3)]), ['question-burst'], 'this instance\'s own count');
    await history.record('caller-4', [run(3)]);
  } finally {
    await store.close();
  }
});
