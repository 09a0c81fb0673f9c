import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latch, type Latch } from '../../helpers/latch.js';
import { Semaphore } from '../../../src/utils/semaphore.js';

test('runs at most `limit` tasks at once, in arrival order, and frees slots on failure', async () => {
  const s = new Semaphore(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates = [0, 1, 2, 3, 4].map(() => latch());
  const task = (i: number) => s.run(async () => {
    running++;
    peak = Math.max(peak, running);
    order.push(i);
    await gates[i]!.promise;
    running--;
    if (i === 1) throw new Error('boom');
    return i;
  });
  const settled = Promise.allSettled([0, 1, 2, 3, 4].map(task));
  await Promise.resolve();
  assert.deepEqual(order, [0, 1], 'two start, three wait');
  // Release them out of order: the waiting tasks still start in arrival order.
  for (const i of [1, 0, 3, 2, 4]) {
    gates[i]!.resolve();
    await new Promise((r) => setImmediate(r));
  }
  const results = await settled;
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(results[1]!.status, 'rejected');
  assert.deepEqual(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value), [0, 2, 3, 4]);
  assert.equal(s.running, 0);
});

test('a waiting task gives up when its signal aborts, and the slot goes to the next', async () => {
  const s = new Semaphore(1);
  const hold = latch();
  const first = s.run(() => hold.promise);
  const controller = new AbortController();
  const gaveUp = s.run(async () => 'never', controller.signal);
  const next = s.run(async () => 'next');
  controller.abort(new Error('request ended'));
  await assert.rejects(gaveUp, /request ended/);
  hold.resolve();
  await first;
  assert.equal(await next, 'next');
  assert.equal(s.running, 0);
});

test('waiting keys are served in turn: a second key is served while the first holds a long queue', async () => {
  const s = new Semaphore(2);
  const order: string[] = [];
  const gates = new Map<string, Latch<void>>();
  const task = (key: string, i: number) => s.run(async () => {
    order.push(`${key}${i}`);
    const gate = latch();
    gates.set(`${key}${i}`, gate);
    await gate.promise;
  }, undefined, key);
  const all = [...Array.from({ length: 10 }, (_, i) => task('a', i)), task('b', 0), task('b', 1), task('c', 0)];
  await Promise.resolve();
  assert.deepEqual(order, ['a0', 'a1'], 'a holds both slots');
  assert.equal(s.waiting, 11);
  // Each freed slot goes to the next key in turn, whatever a's queue holds.
  for (const done of ['a0', 'a1', 'a2', 'b0', 'c0']) {
    gates.get(done)!.resolve();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(order, ['a0', 'a1', 'a2', 'b0', 'c0', 'a3', 'b1']);
  for (let i = 0; i < 20 && s.waiting + s.running > 0; i++) {
    for (const g of gates.values()) g.resolve();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(all);
  assert.deepEqual(order.filter((o) => o.startsWith('a')), Array.from({ length: 10 }, (_, i) => `a${i}`), 'each key\'s own calls keep their order');
  assert.equal(s.running, 0);
  assert.equal(s.waiting, 0);
});

test('a key whose every waiter gave up leaves the turn order', async () => {
  const s = new Semaphore(1);
  const hold = latch();
  const first = s.run(() => hold.promise, undefined, 'a');
  const controller = new AbortController();
  const gaveUp = s.run(async () => 'never', controller.signal, 'b');
  const next = s.run(async () => 'next', undefined, 'c');
  controller.abort(new Error('request ended'));
  await assert.rejects(gaveUp, /request ended/);
  assert.equal(s.waiting, 1);
  hold.resolve();
  await first;
  assert.equal(await next, 'next');
  assert.equal(s.running, 0);
});

test('rejects a limit that is not a positive integer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new Semaphore(bad), TypeError);
});
