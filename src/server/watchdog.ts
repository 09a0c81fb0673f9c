/**
 * An event-loop watchdog: when the loop was blocked for longer than `stallMs` since the last check,
 * one warning (`event: event-loop.stall`) says for how long, so a stall shows in the log even when
 * the request that caused it never finishes. The check runs every second on an unref'd timer.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';

export function startWatchdog(logger: Logger, stallMs: number): { stop(): void } {
  const histogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  const timer = setInterval(() => {
    const maxMs = histogram.max / 1e6;
    if (maxMs > stallMs) logger.warn({ event: 'event-loop.stall', maxDelayMs: Math.round(maxMs) }, 'the event loop was blocked');
    histogram.reset();
  }, 1_000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}
