/** The in-process store holds what it counts: each value in memory of its own, each entry with its overhead. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENTRY_OVERHEAD_BYTES, MemoryStore } from '../../../src/store/store.js';

test('a small Buffer (a slice of the shared pool) or a view of a larger one is kept as a copy of its own bytes', async () => {
  const store = new MemoryStore();
  const pooled = Buffer.from('{"run":"a kept-run record"}');
  assert.ok(pooled.buffer.byteLength > pooled.length, 'Node hands out small Buffers from a shared pool');
  const big = Buffer.alloc(1024 * 1024, 7);
  const view = big.subarray(10, 20);
  await store.set('pooled', pooled, 60_000);
  await store.set('view', view, 60_000);
  await store.set('text', 'plain text', 60_000);
  for (const [key, expected] of [['pooled', pooled], ['view', view], ['text', Buffer.from('plain text')]] as const) {
    const held = (await store.get(key))!;
    assert.deepEqual(held, expected);
    assert.equal(held.buffer.byteLength, held.length, `${key}: no larger memory is kept alive`);
  }
  const own = Buffer.allocUnsafeSlow(16).fill(1);
  await store.set('own', own, 60_000);
  assert.equal(await store.get('own'), own, 'a Buffer that owns its memory is kept as it is');
});

test('entries are counted with their keys and overhead: many tiny values stay within the byte bound', async () => {
  const store = new MemoryStore({ maxBytes: 100_000, maxEntries: 1_000_000 });
  for (let i = 0; i < 10_000; i++) await store.set(`key:${i}`, 'x', 60_000);
  assert.ok(store.size <= 100_000 / ENTRY_OVERHEAD_BYTES, `${store.size} entries held in 100,000 bytes`);
  assert.equal((await store.get('key:9999'))?.toString(), 'x', 'the newest are kept');
});
