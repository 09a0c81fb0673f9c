/**
 * The access-request stores keep one contract, in Redis (shared by instances) and in memory (one
 * instance alone): a pending request per requester and target, merged when asked again; every change
 * of state a compare-and-set, so of two answers given at once exactly one wins; listings newest first,
 * each requester's own apart. And a Redis that does not answer fails the write loudly.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { MemoryAccessStore, RedisAccessStore, sameKeyOf, type AccessRecord, type AccessStore, AccessStoreUnavailable } from '../../../src/access/records.js';
import { RedisStore } from '../../../src/store/store.js';
import { startRedis, testPrefix, twoInstanceStores } from '../../helpers/redis.js';

const NOW = Date.UTC(2026, 11, 1, 12);
const party = (subject: string) => ({ issuer: 'idp', subject, email: `${subject}@example.test`, name: subject });

function draft(subject: string, targetId: number, at = NOW): AccessRecord {
  return {
    id: randomUUID(), state: 'pending', requester: party(subject), requesterRole: 'sales', target: { kind: 'dashboard', id: targetId, subtree: false },
    grantingRole: 'analyst', approvers: ['owner'], reason: 'review', durationMinutes: 60, requestedAt: at, pendingUntil: at + 60 * 60_000,
    decision: null, grantedUntil: null, ended: null, duplicates: 0,
  };
}

const stores = twoInstanceStores();

function contract(name: string, open: () => { a: AccessStore; b: AccessStore }): void {
  describe(name, () => {
    test('asking again for the same target while pending is the same request; another target, or another requester, is a new one', async () => {
      const { a, b } = open();
      const who = `sam-${randomUUID()}`;
      const first = await a.open(draft(who, 2), sameKeyOf(draft(who, 2)), NOW);
      assert.equal(first.merged, false);
      const again = await b.open(draft(who, 2, NOW + 1_000), sameKeyOf(draft(who, 2)), NOW + 1_000);
      assert.deepEqual([again.merged, again.record.id, again.record.duplicates], [true, first.record.id, 1]);
      assert.equal((await a.get(first.record.id))?.duplicates, 1, 'the count is kept');
      const other = await b.open(draft(who, 3, NOW + 2_000), sameKeyOf(draft(who, 3)), NOW + 2_000);
      assert.equal(other.merged, false);
      assert.equal((await b.open(draft(`other-${who}`, 2), sameKeyOf(draft(who, 2)), NOW)).merged, false);
      // Once the wait is over, asking again is a new request.
      const late = await a.open(draft(who, 2, NOW + 61 * 60_000), sameKeyOf(draft(who, 2)), NOW + 61 * 60_000);
      assert.equal(late.merged, false);
      assert.notEqual(late.record.id, first.record.id);
      const mine = await a.byRequester(party(who), 10);
      assert.deepEqual(mine.map((r) => r.id), [late.record.id, other.record.id, first.record.id], 'newest first, this requester\'s only');
      assert.ok((await a.recent(50)).some((r) => r.id === first.record.id));
    });

    test('a change of state happens once: of two answers at once, one wins; an answered request is not pending again', async () => {
      const { a, b } = open();
      const { record } = await a.open(draft(`ana-${randomUUID()}`, 4), 'k', NOW);
      const approve: AccessRecord = { ...record, state: 'approved', decision: { by: party('olga'), role: 'owner', note: null, at: NOW }, grantedUntil: NOW + 3_600_000 };
      const deny: AccessRecord = { ...record, state: 'denied', decision: { by: party('otto'), role: 'owner', note: 'no', at: NOW } };
      const outcomes = await Promise.all([a.move(record.id, 'pending', approve), b.move(record.id, 'pending', deny)]);
      assert.equal(outcomes.filter(Boolean).length, 1, `exactly one wins: ${outcomes}`);
      const stored = (await b.get(record.id))!;
      assert.equal(stored.state, outcomes[0] ? 'approved' : 'denied');
      assert.equal(await a.move(record.id, 'pending', approve), false, 'no longer pending');
      if (stored.state === 'approved') {
        assert.equal(await b.move(record.id, 'approved', { ...stored, state: 'revoked', ended: { by: party('olga'), at: NOW } }), true);
        assert.equal((await a.get(record.id))?.state, 'revoked');
      }
      assert.equal(await a.get(randomUUID()), null);
    });
  });
}

contract('in Redis, two instances', () => ({ a: new RedisAccessStore(stores.one), b: new RedisAccessStore(stores.two) }));
const memory = new MemoryAccessStore();
contract('in memory, one instance', () => ({ a: memory, b: memory }));

test('the memory store holds at most its bound, dropping the oldest', async () => {
  const store = new MemoryAccessStore(5);
  const ids: string[] = [];
  for (let i = 0; i < 8; i++) ids.push((await store.open(draft(`u${i}`, 1), 'k', NOW)).record.id);
  const kept = (await store.recent(100)).map((r) => r.id);
  assert.equal(kept.length, 5);
  assert.deepEqual(kept, ids.slice(3).reverse());
});

test('with Redis down, writes fail loudly and reads say so: nothing is taken for granted', async () => {
  const redis = await startRedis();
  const store = new RedisStore({ url: redis.url, prefix: testPrefix(), timeoutMs: 200 });
  try {
    await store.whenState('ok');
    const access = new RedisAccessStore(store);
    const { record } = await access.open(draft('sam', 1), 'k', NOW);
    await redis.stop();
    await assert.rejects(access.open(draft('sam', 2), 'k2', NOW), AccessStoreUnavailable);
    await assert.rejects(access.byRequester(party('sam'), 10), AccessStoreUnavailable);
    await assert.rejects(access.move(record.id, 'pending', { ...record, state: 'denied' }), AccessStoreUnavailable);
  } finally {
    await store.close();
    await redis.stop().catch(() => undefined);
  }
});
