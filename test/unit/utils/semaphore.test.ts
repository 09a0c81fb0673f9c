import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore } from '../../../src/utils/semaphore.js';

/** A promise the test resolves when it chooses: tasks end in an order the test sets, with no timer. */
function latch(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

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
    gates[i]!.open();
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
  hold.open();
  await first;
  assert.equal(await next, 'next');
  assert.equal(s.running, 0);
});

test('rejects a limit that is not a positive integer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new Semaphore(bad), TypeError);
});
