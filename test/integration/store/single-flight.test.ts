/**
 * The hand-over between instances, on a real Redis: two caches (two instances' stores) running the
 * same work at once. The second gets the first's result under the lock's token; when the first fails
 * for its own reasons (the lock goes without a result) or takes longer than the wait, the second runs
 * it itself. Latches order the two; the store is the machine's Redis, under a prefix of this run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonCodec, SharedCache } from '../../../src/store/shared-cache.js';
import { eventually } from '../../helpers/eventually.js';
import { twoInstanceStores } from '../../helpers/redis.js';
import { latch } from '../../helpers/latch.js';

const stores = twoInstanceStores();

const codec = jsonCodec<string>();
const options = { keepMs: 0, waitMs: 5_000, lockMs: 10_000 };

/** Instance a takes the lock for `key` and runs until the test settles the returned latch. */
async function leading(a: SharedCache, key: string) {
  const running = latch<string>();
  let started = false;
  const lead = a.share(key, codec, () => {
    started = true;
    return running.promise;
  }, options);
  await eventually(() => started, 'the first instance holds the lock and runs');
  return { running, lead };
}

test('the second instance gets the first one\'s result, and runs nothing', async () => {
  const [a, b] = [new SharedCache(stores.one), new SharedCache(stores.two)];
  const { running, lead } = await leading(a, 'sf-1');
  let ranOnB = false;
  const follow = b.share('sf-1', codec, async () => {
    ranOnB = true;
    return 'b';
  }, options);
  running.resolve('from a');
  assert.deepEqual([(await lead).outcome, (await lead).value], ['ran', 'from a']);
  assert.deepEqual([(await follow).outcome, (await follow).value], ['shared', 'from a']);
  assert.equal(ranOnB, false);
});

test('when the first instance fails for its own reasons, the second runs it as soon as the lock goes', async () => {
  const [a, b] = [new SharedCache(stores.one), new SharedCache(stores.two)];
  const { running, lead } = await leading(a, 'sf-2');
  const follow = b.share('sf-2', codec, async () => 'b ran it', options);
  const t0 = performance.now();
  running.reject(new Error('its request ended'));
  await assert.rejects(lead, /request ended/);
  assert.deepEqual([(await follow).outcome, (await follow).value], ['ran', 'b ran it']);
  assert.ok(performance.now() - t0 < 2_000, 'without waiting out its wait');
});

test('a wait that runs out: the second instance runs it itself', async () => {
  const [a, b] = [new SharedCache(stores.one), new SharedCache(stores.two)];
  const { running, lead } = await leading(a, 'sf-3');
  const follow = await b.share('sf-3', codec, async () => 'b did not wait longer', { ...options, waitMs: 150 });
  assert.deepEqual([follow.outcome, follow.value], ['ran', 'b did not wait longer']);
  running.resolve('a, late');
  assert.equal((await lead).value, 'a, late');
});
