import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenCache } from '../../../src/identity/token-cache.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');

test('an entry lives until its token\'s exp or the age limit, whichever is first', () => {
  let now = T0;
  const cache = new TokenCache<string>({ maxAgeMs: 60_000, now: () => now });
  cache.set('token-a', 'a', T0 / 1000 + 30); // expires in 30 s
  cache.set('token-b', 'b', T0 / 1000 + 3_600); // expires in an hour: the age limit (60 s) applies
  assert.equal(cache.get('token-a'), 'a');
  now = T0 + 30_000;
  assert.equal(cache.get('token-a'), undefined, 'gone at its exp');
  assert.equal(cache.get('token-b'), 'b');
  now = T0 + 60_000;
  assert.equal(cache.get('token-b'), undefined, 'gone at the age limit');
  assert.equal(cache.size, 0, 'expired entries are dropped when met');
});

test('an already expired token is not remembered; 0 turns the cache off', () => {
  const cache = new TokenCache<string>({ maxAgeMs: 60_000, now: () => T0 });
  cache.set('old', 'x', T0 / 1000 - 1);
  assert.equal(cache.get('old'), undefined);
  const off = new TokenCache<string>({ maxAgeMs: 0, now: () => T0 });
  off.set('t', 'x', T0 / 1000 + 60);
  assert.equal(off.get('t'), undefined);
  assert.equal(off.size, 0);
});

test('bounded by entries and by token bytes: the oldest go first', () => {
  const cache = new TokenCache<number>({ maxAgeMs: 60_000, maxEntries: 3, maxBytes: 1_000, now: () => T0 });
  const exp = T0 / 1000 + 60;
  for (let i = 0; i < 5; i++) cache.set(`token-${i}`, i, exp);
  assert.equal(cache.size, 3);
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => cache.get(`token-${i}`)), [undefined, undefined, 2, 3, 4]);
  cache.set('x'.repeat(600), 9, exp);
  cache.set('y'.repeat(600), 10, exp);
  assert.equal(cache.get('x'.repeat(600)), undefined, 'the bytes bound pushed the older big token out');
  assert.equal(cache.get('y'.repeat(600)), 10);
  cache.set('z'.repeat(2_000), 11, exp);
  assert.equal(cache.get('z'.repeat(2_000)), undefined, 'a token larger than the whole bound is never held');
});

test('tokens are told apart by their whole text', () => {
  const cache = new TokenCache<string>({ maxAgeMs: 60_000, now: () => T0 });
  cache.set('header.payload.signature', 'good', T0 / 1000 + 60);
  assert.equal(cache.get('header.payload.signaturf'), undefined);
  assert.equal(cache.get('header.payload.signature'), 'good');
});
