/**
 * The shared store against a real redis-server, and in memory: the same behaviour from both; keys
 * under a prefix and version; and a Redis that stops, or hangs, never makes a caller wait past the
 * store's deadline or fail: reads miss, writes do nothing, the change is logged once, and the store
 * recovers by itself when Redis answers again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { ENTRY_OVERHEAD_BYTES, MemoryStore, RedisStore, tagged, type SharedStore, type StoreLogger } from '../../../src/store/store.js';
import { eventually } from '../../helpers/eventually.js';
import { sharedRequestLimiter } from '../../../src/store/shared-rate-limiter.js';
import { sharedRedis, startRedis, startRedisCluster, startRedisSentinel, testPrefix, type OwnCluster, type OwnRedis, type OwnSentinel } from '../../helpers/redis.js';

function recordingLogger(): StoreLogger & { lines: { level: string; event: string }[] } {
  const lines: { level: string; event: string }[] = [];
  return {
    lines,
    warn: (obj) => lines.push({ level: 'warn', event: (obj as { event: string }).event }),
    info: (obj) => lines.push({ level: 'info', event: (obj as { event: string }).event }),
  };
}

async function conforms(store: SharedStore, expire: (key: string) => Promise<void>): Promise<void> {
  assert.equal(await store.get('missing'), null);
  assert.equal(await store.set('a', 'one', 60_000), true);
  assert.deepEqual(await store.get('a'), Buffer.from('one'));
  assert.equal(await store.set('a', Buffer.from([0, 1, 2, 255]), 60_000), true, 'values are bytes, overwritten whole');
  assert.deepEqual(await store.get('a'), Buffer.from([0, 1, 2, 255]));
  assert.equal(await store.setIfAbsent('lock', 'holder-1', 60_000), true);
  assert.equal(await store.setIfAbsent('lock', 'holder-2', 60_000), false, 'taken');
  assert.equal(await store.deleteIfEquals('lock', 'holder-2'), false, 'only its holder releases it');
  assert.equal(await store.deleteIfEquals('lock', 'holder-1'), true);
  assert.equal(await store.setIfAbsent('lock', 'holder-2', 60_000), true, 'free again');
  assert.equal(await store.takeOrRead('lock-2', 'first', 60_000), true, 'taken');
  assert.equal(await store.takeOrRead('lock-2', 'second', 60_000), 'first', 'held: its holder read in the same step');
  assert.equal(await store.deleteIfEquals('lock-2', 'first'), true);
  assert.equal(await store.takeOrRead('lock-2', 'second', 60_000), true, 'free again');
  assert.equal(await store.extend('missing', 60_000), false, 'nothing to extend');
  await store.set('short', 'x', 1);
  await expire('short');
  assert.equal(await store.get('short'), null, 'gone after its TTL');
  assert.equal(await store.extend('short', 60_000), false, 'an expired key is not brought back');
  await store.set('kept', 'y', 30);
  assert.equal(await store.extend('kept', 60_000), true, 'a live key is kept longer');
  await store.set('later', 'z', 30);
  await expire('later');
  assert.deepEqual(await store.get('kept'), Buffer.from('y'), 'still there past its first TTL');
}

describe('the shared store', () => {
  let shared: { url: string; close(): Promise<void> };
  before(async () => {
    shared = await sharedRedis();
  });
  after(() => shared.close());

  test('Redis and memory behave alike: get, set with TTL, extend, set-if-absent, take-or-read, delete-if-equals', async () => {
    const redis = new RedisStore({ url: shared.url, prefix: testPrefix() });
    try {
      await redis.whenState('ok');
      await conforms(redis, (key) => eventually(async () => (await redis.get(key)) === null, `${key} expires`));
    } finally {
      await redis.close();
    }
    let now = Date.parse('2026-06-01T00:00:00Z');
    const memory = new MemoryStore({ now: () => now });
    await conforms(memory, async () => {
      now += 100;
    });
  });

  test('keys live under the prefix and version; tagged keys share a Cluster slot tag', async () => {
    const prefix = testPrefix();
    const store = new RedisStore({ url: shared.url, prefix });
    const raw = new Redis(shared.url);
    try {
      await store.whenState('ok');
      await store.set(tagged('analysts-key', 'card', '2'), 'v', 60_000);
      assert.equal(await raw.get(`${prefix}v1:{analysts-key}:card:2`), 'v');
      const ttl = await raw.pttl(`${prefix}v1:{analysts-key}:card:2`);
      assert.ok(ttl > 0 && ttl <= 60_000, `a TTL is always set (${ttl} ms)`);
      assert.equal(tagged('a{b}c', 'x'), '{a_b_c}:x', 'braces in a scope cannot end its tag early');
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('memory is bounded by entries and bytes, the least recently used going first', async () => {
    // Each entry counts its value, its key (two bytes a character) and a fixed overhead: room for three one-byte entries.
    const entryBytes = (key: string, valueBytes: number) => valueBytes + key.length * 2 + ENTRY_OVERHEAD_BYTES;
    const maxBytes = 3 * entryBytes('a', 1) + 1;
    const store = new MemoryStore({ maxEntries: 3, maxBytes });
    for (const k of ['a', 'b', 'c']) await store.set(k, 'x', 60_000);
    assert.deepEqual(await store.get('a'), Buffer.from('x'), 'a read keeps a hot entry');
    await store.set('d', 'x', 60_000);
    assert.equal(store.size, 3);
    assert.equal(await store.get('b'), null, 'the least recently used went first');
    assert.deepEqual(await store.get('a'), Buffer.from('x'));
    await store.set('big', 'y'.repeat(90), 60_000);
    assert.equal(await store.get('c'), null);
    assert.deepEqual(await store.get('big'), Buffer.from('y'.repeat(90)));
    assert.equal(await store.set('huge', 'z'.repeat(maxBytes), 60_000), false, 'a value larger than the whole bound is refused');
  });

  describe('when Redis fails', () => {
    let own: OwnRedis;
    before(async () => {
      own = await startRedis();
    });
    after(() => own.stop());

    test('stopped: reads miss and writes do nothing at once, logged once; started again: it recovers by itself', async () => {
      const logger = recordingLogger();
      const store = new RedisStore({ url: own.url, prefix: testPrefix(), logger });
      try {
        await store.whenState('ok');
        assert.equal(await store.set('k', 'v', 60_000), true);
        await own.stop();
        await store.whenState('degraded');
        const started = performance.now();
        for (let i = 0; i < 20; i++) {
          assert.equal(await store.get('k'), null);
          assert.equal(await store.set('k', 'v', 60_000), false);
          assert.equal(await store.setIfAbsent('lock', 'me', 60_000), null, 'a lock that cannot be taken or refused says so');
        }
        const tookMs = performance.now() - started;
        assert.ok(tookMs < 1_000, `sixty commands against a stopped Redis took ${Math.round(tookMs)} ms`);
        assert.deepEqual(logger.lines, [{ level: 'warn', event: 'store.degraded' }], 'said once, not per command');
        await own.start();
        await store.whenState('ok', 10_000);
        assert.equal(await store.set('k', 'again', 60_000), true);
        assert.deepEqual(await store.get('k'), Buffer.from('again'));
        assert.deepEqual(logger.lines.map((l) => l.event), ['store.degraded', 'store.recovered']);
      } finally {
        await store.close();
      }
    });

    test('hung (it accepts nothing, answers nothing): a command gives up at the store\'s deadline', async () => {
      const logger = recordingLogger();
      const store = new RedisStore({ url: own.url, prefix: testPrefix(), logger, timeoutMs: 50 });
      try {
        await store.whenState('ok');
        own.pause();
        const started = performance.now();
        assert.equal(await store.get('k'), null);
        const tookMs = performance.now() - started;
        // The deadline is 50 ms; the bound leaves room for a busy machine, not for waiting on Redis.
        assert.ok(tookMs < 500, `a read against a hung Redis took ${Math.round(tookMs)} ms`);
        assert.equal(store.state, 'ok', 'one late command is not an outage');
        // Commands failing for a second, with no success between, are.
        await eventually(async () => (await store.get('k')) === null && store.state === 'degraded', 'the store turns degraded', { withinMs: 5_000 });
        assert.equal(logger.lines.filter((l) => l.event === 'store.degraded').length, 1, 'logged once');
        const limiter = sharedRequestLimiter(store);
        assert.deepEqual(await limiter.take('agent', 10, { failClosed: true }), { allowed: false, retryAfterMs: 1_000, unavailable: true }, 'a role that fails closed is refused');
        own.resume();
        // Only the limits of a role that fails closed speak to Redis now: their own answers bring the store back.
        await eventually(async () => (await limiter.take('agent', 10, { failClosed: true })).allowed && store.state === 'ok', 'the store recovers', { withinMs: 5_000 });
      } finally {
        own.resume();
        await store.close();
      }
    });
  });

  describe('on a Redis Cluster (three masters started by the test)', () => {
    let cluster: OwnCluster;
    before(async () => {
      cluster = await startRedisCluster();
    });
    after(() => cluster.stop());

    test('the same behaviour, and request limits shared by two instances\' stores', async () => {
      const prefix = testPrefix();
      const one = new RedisStore({ cluster: cluster.nodes, prefix });
      const two = new RedisStore({ cluster: cluster.nodes, prefix });
      try {
        await Promise.all([one.whenState('ok', 10_000), two.whenState('ok', 10_000)]);
        await conforms(one, (key) => eventually(async () => (await one.get(key)) === null, `${key} expires`));
        // Keys of many scopes land on every master; each command names one key, so none crosses slots.
        for (let i = 0; i < 30; i++) assert.equal(await one.set(tagged(`scope-${i}`, 'card', '2'), `v${i}`, 60_000), true);
        for (let i = 0; i < 30; i++) assert.deepEqual(await two.get(tagged(`scope-${i}`, 'card', '2')), Buffer.from(`v${i}`));
        const [a, b] = [sharedRequestLimiter(one), sharedRequestLimiter(two)];
        const taken = [await a.take('ana', 4), await b.take('ana', 4), await a.take('ana', 4), await b.take('ana', 4), await a.take('ana', 4)];
        assert.deepEqual(taken.map((t) => t.allowed), [true, true, true, true, false], 'four a minute across both');
        assert.equal((await b.take('bob', 4)).allowed, true, 'another caller has their own allowance');
      } finally {
        await one.close();
        await two.close();
      }
    });
  });

  describe('through Redis Sentinel (a password-protected server and a Sentinel started by the test)', () => {
    let own: OwnSentinel;
    before(async () => {
      own = await startRedisSentinel();
    });
    after(() => own.stop());

    test('the same behaviour, the server found through the Sentinel and its password used', async () => {
      const store = new RedisStore({ sentinels: { nodes: [own.sentinel], name: own.name }, password: own.password, prefix: testPrefix() });
      try {
        await store.whenState('ok', 10_000);
        await conforms(store, (key) => eventually(async () => (await store.get(key)) === null, `${key} expires`));
      } finally {
        await store.close();
      }
      const logger = recordingLogger();
      const refused = new RedisStore({ sentinels: { nodes: [own.sentinel], name: own.name }, password: 'not-the-password', prefix: testPrefix(), logger });
      try {
        await refused.whenState('degraded');
        assert.equal(await refused.set('k', 'v', 1_000), false, 'a wrong password stores nothing, and fails nothing');
        assert.equal(await refused.get('k'), null);
      } finally {
        await refused.close();
      }
    });
  });
});
