/**
 * The access-request stores keep one contract, in Redis (shared by instances) and in memory (one
 * instance alone): a pending request per requester and target, merged when asked again; every change
 * of state a compare-and-set, so of two answers given at once exactly one wins; listings newest first,
 * each requester's own apart. And a Redis that does not answer fails the write loudly.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { MemoryAccessStore, RedisAccessStore, sameKeyOf, TooManyPending, type AccessRecord, type AccessStore, AccessStoreUnavailable } from '../../../src/access/records.js';
import { RedisStore } from '../../../src/store/store.js';
import { startRedis, testPrefix, twoInstanceStores } from '../../helpers/redis.js';

/** The tests' clock, near wall time (records' keeping times are counted from it). */
const NOW = Date.now();
const party = (subject: string) => ({ issuer: 'idp', subject, email: `${subject}@example.test`, name: subject });

function draft(subject: string, targetId: number, at = NOW): AccessRecord {
  return {
    id: randomUUID(), state: 'pending', requester: party(subject), requesterRole: 'sales', target: { kind: 'dashboard', id: targetId, subtree: false },
    grantingRole: 'analyst', approvers: ['owner'], reason: 'review', durationMinutes: 60, requestedAt: at, pendingUntil: at + 60 * 60_000,
    decision: null, grantedUntil: null, ended: null, duplicates: 0, entry: 'e1',
  };
}

const stores = twoInstanceStores();

function contract(name: string, open: () => { a: AccessStore; b: AccessStore }): void {
  describe(name, () => {
    test('asking again for the same target while pending is the same request; another target, or another requester, is a new one', async () => {
      const { a, b } = open();
      const who = `sam-${randomUUID()}`;
      const first = await a.open(draft(who, 2), sameKeyOf(draft(who, 2)), NOW, 10);
      assert.equal(first.merged, false);
      const again = await b.open(draft(who, 2, NOW + 1_000), sameKeyOf(draft(who, 2)), NOW + 1_000, 10);
      assert.deepEqual([again.merged, again.record.id, again.record.duplicates], [true, first.record.id, 1]);
      assert.equal((await a.get(first.record.id))?.duplicates, 1, 'the count is kept');
      const other = await b.open(draft(who, 3, NOW + 2_000), sameKeyOf(draft(who, 3)), NOW + 2_000, 10);
      assert.equal(other.merged, false);
      assert.equal((await b.open(draft(`other-${who}`, 2), sameKeyOf(draft(who, 2)), NOW, 10)).merged, false);
      // Once the wait is over, asking again is a new request.
      const late = await a.open(draft(who, 2, NOW + 61 * 60_000), sameKeyOf(draft(who, 2)), NOW + 61 * 60_000, 10);
      assert.equal(late.merged, false);
      assert.notEqual(late.record.id, first.record.id);
      const mine = await a.byRequester(party(who), 10);
      assert.deepEqual(mine.map((r) => r.id), [late.record.id, other.record.id, first.record.id], 'newest first, this requester\'s only');
      assert.ok((await a.recent(50)).some((r) => r.id === first.record.id));
    });

    test('a change of state happens once: of two answers at once, one wins; an answered request is not pending again', async () => {
      const { a, b } = open();
      const { record } = await a.open(draft(`ana-${randomUUID()}`, 4), 'k', NOW, 10);
      const approve: AccessRecord = { ...record, state: 'approved', decision: { by: party('olga'), role: 'owner', note: null, at: NOW }, grantedUntil: NOW + 3_600_000 };
      const deny: AccessRecord = { ...record, state: 'denied', decision: { by: party('otto'), role: 'owner', note: 'no', at: NOW } };
      const outcomes = await Promise.all([a.move(record.id, 'pending', approve, NOW), b.move(record.id, 'pending', deny, NOW)]);
      assert.equal(outcomes.filter(Boolean).length, 1, `exactly one wins: ${outcomes}`);
      const stored = (await b.get(record.id))!;
      assert.equal(stored.state, outcomes[0] ? 'approved' : 'denied');
      assert.equal(await a.move(record.id, 'pending', approve, NOW), false, 'no longer pending');
      if (stored.state === 'approved') {
        assert.equal(await b.move(record.id, 'approved', { ...stored, state: 'revoked', ended: { by: party('olga'), at: NOW } }, NOW), true);
        assert.equal((await a.get(record.id))?.state, 'revoked');
      }
      assert.equal(await a.get(randomUUID()), null);
    });

    test('at most maxPending requests wait per requester, counted in the same step as the write, however many arrive at once', async () => {
      const { a, b } = open();
      const who = `flood-${randomUUID()}`;
      const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).open(draft(who, 100 + i), `t${i}`, NOW, 10)));
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 10);
      assert.ok(outcomes.every((o) => o.status === 'fulfilled' || o.reason instanceof TooManyPending));
      const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!.reason as TooManyPending;
      assert.deepEqual([refused.pending, refused.freeAt], [10, NOW + 60 * 60_000], 'how many wait, and when the first wait ends');
      assert.equal((await a.open(draft(`other-${who}`, 1), 't', NOW, 10)).merged, false, 'another requester is not held back');
      // Answered requests no longer count.
      const mine = await b.byRequester(party(who), 50);
      assert.equal(await a.move(mine[0]!.id, 'pending', { ...mine[0]!, state: 'denied' }, NOW), true);
      assert.equal((await b.open(draft(who, 999), 'later', NOW, 10)).merged, false);
      assert.ok((await a.pending(NOW, 500, ['analyst'])).filter((r) => r.requester.subject === who).length === 10, 'the approvers\' pending index, by granting role');
      assert.ok(!(await a.pending(NOW, 500, ['support'])).some((r) => r.requester.subject === who), 'another role\'s approvers do not read them');
    });

    test('grants: approved records in force, however many requests came after; a revoked one leaves at once', async () => {
      const { a, b } = open();
      const who = `holder-${randomUUID()}`;
      const { record } = await a.open(draft(who, 7), 'g', NOW, 10);
      const approved: AccessRecord = { ...record, state: 'approved', decision: { by: party('olga'), role: 'owner', note: null, at: NOW }, grantedUntil: NOW + 30 * 24 * 3_600_000 };
      assert.equal(await b.move(record.id, 'pending', approved, NOW), true);
      for (let i = 0; i < 12; i++) {
        const later = await b.open(draft(who, 200 + i, NOW + i + 1), `later${i}`, NOW + i + 1, 50);
        await a.move(later.record.id, 'pending', { ...later.record, state: 'denied' }, NOW);
      }
      assert.deepEqual((await a.grantsOf(party(who))).map((r) => r.id), [record.id]);
      // Due for the sweep: nothing yet; past its end, the grant (and the denied ones never).
      const later = NOW + 30 * 24 * 3_600_000 + 1;
      assert.ok(!(await b.due(NOW + 1, 10_000)).some((r) => r.id === record.id));
      assert.ok((await b.due(later, 10_000)).some((r) => r.id === record.id));
      assert.ok(!(await b.due(later, 10_000)).some((r) => r.requester.subject === who && r.state === 'denied'));
      assert.equal(await a.move(record.id, 'approved', { ...approved, state: 'revoked', ended: { by: party('olga'), at: NOW } }, NOW), true);
      assert.deepEqual(await b.grantsOf(party(who)), []);
    });
  });
}

test('in Redis, the requester\'s indexes live as long as their longest grant', async () => {
  const access = new RedisAccessStore(stores.one);
  const who = `long-${randomUUID()}`;
  const { record } = await access.open(draft(who, 1), 'k', NOW, 10);
  const thirtyDays = 30 * 24 * 3_600_000;
  const now = Date.now();
  assert.equal(await access.move(record.id, 'pending', { ...record, state: 'approved', decision: { by: party('olga'), role: 'owner', note: null, at: now }, grantedUntil: now + thirtyDays }, NOW), true);
  const partyKey = createHash('sha256').update(`idp\u0000${who}`).digest('base64url');
  const ttl = (key: string) => stores.one.client.pttl(stores.one.key(key));
  const recordTtl = await ttl(`{access}:r:${record.id}`);
  assert.ok(recordTtl > thirtyDays, 'the record outlives the grant');
  assert.ok((await ttl(`{access}:by:${partyKey}`)) >= recordTtl - 60_000, 'the requester\'s index as long as the record');
  assert.ok((await ttl(`{access}:grants:${partyKey}`)) >= recordTtl - 60_000, 'the grants index too');
  // A later, shorter request does not shorten them.
  await access.open(draft(who, 2), 'k2', NOW, 10);
  assert.ok((await ttl(`{access}:by:${partyKey}`)) >= recordTtl - 60_000);
});

test('the memory store never drops a pending request or a grant in force: full, it refuses new requests', async () => {
  const store = new MemoryAccessStore(3);
  const live: string[] = [];
  for (let i = 0; i < 3; i++) live.push((await store.open(draft(`u${i}`, 1), 'k', NOW, 10)).record.id);
  await assert.rejects(store.open(draft('u9', 1), 'k', NOW, 10), AccessStoreUnavailable);
  const first = (await store.get(live[0]!))!;
  await store.move(first.id, 'pending', { ...first, state: 'denied' }, NOW);
  assert.equal((await store.open(draft('u9', 1), 'k', NOW, 10)).merged, false, 'an ended record makes room');
  assert.deepEqual((await store.recent(10)).map((r) => r.id).slice(1).sort(), live.slice(1).sort());
});

contract('in Redis, two instances', () => ({ a: new RedisAccessStore(stores.one), b: new RedisAccessStore(stores.two) }));
const memory = new MemoryAccessStore();
contract('in memory, one instance', () => ({ a: memory, b: memory }));

test('with Redis down, writes fail loudly and reads say so: nothing is taken for granted', async () => {
  const redis = await startRedis();
  const store = new RedisStore({ url: redis.url, prefix: testPrefix(), timeoutMs: 200 });
  try {
    await store.whenState('ok');
    const access = new RedisAccessStore(store);
    const { record } = await access.open(draft('sam', 1), 'k', NOW, 10);
    await redis.stop();
    await assert.rejects(access.open(draft('sam', 2), 'k2', NOW, 10), AccessStoreUnavailable);
    await assert.rejects(access.byRequester(party('sam'), 10), AccessStoreUnavailable);
    await assert.rejects(access.move(record.id, 'pending', { ...record, state: 'denied' }, NOW), AccessStoreUnavailable);
  } finally {
    await store.close();
    await redis.stop().catch(() => undefined);
  }
});
