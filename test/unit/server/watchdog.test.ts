/** The event-loop watchdog logs a stall once the loop is free again, and says how long it lasted. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { Writable } from 'node:stream';
import { createLogger } from '../../../src/logging/logger.js';
import { startWatchdog } from '../../../src/server/watchdog.js';

test('a blocked event loop is logged as event-loop.stall with its length', async () => {
  const lines: Record<string, unknown>[] = [];
  const written = new EventEmitter();
  const logger = createLogger({ level: 'warn', destination: new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      written.emit('line');
      done();
    },
  }) });
  const watchdog = startWatchdog(logger, 200);
  // The watchdog's timer does not hold the process open (unref'd); this one does, while the test waits.
  const keepAlive = setInterval(() => undefined, 1_000);
  try {
    // Node's delay histogram samples from a timer armed on the loop's next turns: yield and block twice,
    // so that a sample is pending when a block holds the loop.
    const block = (): void => {
      const until = performance.now() + 600;
      while (performance.now() < until) { /* a request that never yields */ }
    };
    const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
    await turn();
    block();
    await turn();
    block();
    await once(written, 'line', { signal: AbortSignal.timeout(5_000) });
    const stall = lines.find((l) => l['event'] === 'event-loop.stall');
    assert.ok(stall, JSON.stringify(lines));
    assert.ok((stall['maxDelayMs'] as number) >= 500, `measured ${String(stall['maxDelayMs'])} ms`);
    assert.equal(stall['level'], 40);
  } finally {
    clearInterval(keepAlive);
    watchdog.stop();
  }
});
