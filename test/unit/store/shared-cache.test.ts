/**
 * The cache over the in-process store, on a clock the test moves: fresh, stale-while-revalidate and
 * expired reads; misses and runs shared by callers at once; a leader's own trouble not passed on;
 * results kept only when asked and only under the size cap. Latches, not sleeps, order the callers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonCodec, SharedCache } from '../../../src/store/shared-cache.js';
import { MemoryStore } from '../../../src/store/store.js';
import { latch } from '../../helpers/latch.js';

function setup(options: { maxValueBytes?: number } = {}) {
  const clock = { t: 1_000_000 };
  const now = () => clock.t;
  const store = new MemoryStore({ now });
  const cache = new SharedCache(store, { now, ...options });
  return { clock, store, cache };
}

const codec = jsonCodec<string>();
/** Lets writes the cache made after answering land. */
const settle = () => new Promise((r) => setImmediate(r));

test('read: a miss loads and keeps; fresh is served; stale is served while one refresh runs; expired loads again', async () => {
  const { clock, cache } = setup();
  const freshness = { ttlMs: 1_000, staleMs: 5_000 };
  let loads = 0;
  const load = async () => `v${++loads}`;
  assert.deepEqual(await cache.read('k', freshness, codec, load), { value: 'v1', outcome: 'miss' });
  await settle();
  clock.t += 999;
  assert.deepEqual(await cache.read('k', freshness, codec, load), { value: 'v1', outcome: 'fresh' });

  clock.t += 1;
  const refresh = latch<string>();
  let refreshes = 0;
  const refreshing = () => {
    refreshes += 1;
    return refresh.promise;
  };
  assert.deepEqual(await cache.read('k', freshness, codec, load, refreshing), { value: 'v1', outcome: 'stale' });
  assert.deepEqual(await cache.read('k', freshness, codec, load, refreshing), { value: 'v1', outcome: 'stale' }, 'still stale while the refresh runs');
  assert.equal(refreshes, 1, 'one refresh for both');
  refresh.resolve('v2');
  await refresh.promise;
  await settle();
  await settle();
  assert.deepEqual(await cache.read('k', freshness, codec, load), { value: 'v2', outcome: 'fresh' });

  clock.t += 6_001;
  assert.deepEqual(await cache.read('k', freshness, codec, load), { value: 'v2', outcome: 'miss' }, 'past ttl + stale: loaded again');
  assert.equal(loads, 2);
  assert.deepEqual(await cache.read('k', { ttlMs: 0, staleMs: 0 }, codec, load), { value: 'v3', outcome: 'miss' }, 'a TTL of 0 keeps nothing');
});

test('read: callers missing one key at once share one load; if it fails, each loads for itself', async () => {
  const { cache } = setup();
  const freshness = { ttlMs: 1_000, staleMs: 0 };
  const first = latch<string>();
  let loads = 0;
  const a = cache.read('k', freshness, codec, () => {
    loads += 1;
    return first.promise;
  });
  const b = cache.read('k', freshness, codec, async () => `b${++loads}`);
  await settle();
  first.reject(new Error('the first caller\'s request ended'));
  await assert.rejects(a, /request ended/);
  assert.deepEqual(await b, { value: 'b2', outcome: 'miss' }, 'the second loaded for itself');

  const shared = latch<string>();
  let calls = 0;
  const c = cache.read('j', freshness, codec, () => {
    calls += 1;
    return shared.promise;
  });
  const d = cache.read('j', freshness, codec, async () => {
    calls += 1;
    return 'never';
  });
  shared.resolve('one');
  assert.deepEqual([await c, await d], [{ value: 'one', outcome: 'miss' }, { value: 'one', outcome: 'miss' }]);
  assert.equal(calls, 1);
});

test('share: callers at once share one run; the run\'s own failure is shared, the leader\'s trouble is not', async () => {
  const { cache } = setup();
  const options = { keepMs: 0, waitMs: 1_000, lockMs: 1_000, shareable: (e: unknown) => e instanceof TypeError };
  const run = latch<string>();
  let runs = 0;
  const lead = cache.share('r', codec, () => {
    runs += 1;
    return run.promise;
  }, options);
  const joiners = Array.from({ length: 5 }, () => cache.share('r', codec, async () => {
    runs += 1;
    return 'own';
  }, options));
  assert.equal(cache.inFlight, 1);
  run.resolve('shared');
  assert.deepEqual((await lead).outcome, 'ran');
  for (const j of await Promise.all(joiners)) assert.deepEqual([j.value, j.outcome], ['shared', 'shared']);
  assert.equal(runs, 1);
  assert.equal(cache.inFlight, 0);

  // The query itself failed: every caller gets that answer, and nobody runs it again.
  const failing = latch<string>();
  const f1 = cache.share('f', codec, () => failing.promise, options);
  const f2 = cache.share('f', codec, async () => 'should not run', options);
  failing.reject(new TypeError('the query failed'));
  await assert.rejects(f1, TypeError);
  await assert.rejects(f2, TypeError);

  // The leader's own trouble (its request ended): the others run it themselves.
  const ended = latch<string>();
  const g1 = cache.share('g', codec, () => ended.promise, options);
  const g2 = cache.share('g', codec, async () => 'ran myself', options);
  ended.reject(new Error('request ended'));
  await assert.rejects(g1, /request ended/);
  assert.deepEqual([(await g2).value, (await g2).outcome], ['ran myself', 'ran']);
});

test('share: a result is kept only when asked, for as long as asked, and only under the size cap', async () => {
  const { clock, cache } = setup({ maxValueBytes: 64 });
  const keep = { keepMs: 1_000, waitMs: 1_000, lockMs: 1_000 };
  let runs = 0;
  const run = async () => `r${++runs}`;
  assert.equal((await cache.share('a', codec, run, { ...keep, keepMs: 0 })).outcome, 'ran');
  await settle();
  assert.equal((await cache.share('a', codec, run, keep)).outcome, 'ran', 'nothing was kept without keepMs');
  await settle();
  assert.deepEqual(await cache.share('a', codec, run, keep), { value: 'r2', outcome: 'cache', storedAt: clock.t });
  clock.t += 1_000;
  assert.equal((await cache.share('a', codec, run, keep)).outcome, 'ran', 'expired');

  const big = async () => 'x'.repeat(100);
  await cache.share('big', codec, big, keep);
  await settle();
  assert.equal((await cache.share('big', codec, big, keep)).outcome, 'ran', 'over the cap: not kept');
});

test('an instance serves its own decoded copy only while fresh: a stale one is read again from the store another instance refreshed', async () => {
  const clock = { t: 5_000_000 };
  const now = () => clock.t;
  const store = new MemoryStore({ now });
  const a = new SharedCache(store, { now });
  const b = new SharedCache(store, { now });
  const freshness = { ttlMs: 1_000, staleMs: 10_000 };
  let loads = 0;
  const load = async () => `v${++loads}`;
  assert.deepEqual(await a.read('k', freshness, codec, load), { value: 'v1', outcome: 'miss' });
  await settle();
  // Instance a's own copy: served without the store (even when the store loses the entry).
  await store.close();
  assert.deepEqual(await a.read('k', freshness, codec, load), { value: 'v1', outcome: 'fresh' });
  await store.set('k', codec.encode('v1', clock.t), 60_000);

  clock.t += 1_500;
  assert.deepEqual(await b.read('k', freshness, codec, load), { value: 'v1', outcome: 'stale' }, 'b refreshes it');
  await settle();
  await settle();
  assert.deepEqual(await a.read('k', freshness, codec, load), { value: 'v2', outcome: 'fresh' }, 'a reads the refreshed entry, not its stale copy');
  assert.equal(loads, 2);
  const none = new SharedCache(new MemoryStore({ now }), { now, localMaxBytes: 0 });
  await none.read('j', freshness, codec, load);
  await settle();
  assert.equal((await none.read('j', freshness, codec, load)).outcome, 'fresh', 'without a local copy, from the store');
});
