/**
 * Stopping without losing work or records. The listener closes at once; requests in flight get the
 * grace period to finish. When it is over, whatever still runs is stopped (its Metabase calls are
 * cancelled, so it answers at once with an error) and, a moment later, connections still open are
 * cut. Then every audit record still waiting is written. The whole takes at most the grace period
 * plus CUT_AFTER_MS, whatever the requests in flight are doing.
 */
import type { FastifyInstance } from 'fastify';
import type { AuditRecorder } from './audit-recording.js';

/** How long stopped requests may take to send their answer before their connections are cut. */
export const CUT_AFTER_MS = 500;

export async function drain(app: FastifyInstance, recorder: AuditRecorder, graceMs: number): Promise<void> {
  let closedYet = false;
  const closed = app.close().finally(() => {
    closedYet = true;
  });
  const timers: NodeJS.Timeout[] = [];
  const after = (ms: number): Promise<void> => new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    timers.push(t);
  });
  try {
    await Promise.race([closed, after(graceMs)]);
    if (!closedYet || recorder.inFlight.size > 0) {
      recorder.inFlight.stopAll('shutdown');
      await Promise.race([closed, after(CUT_AFTER_MS)]);
      if (!closedYet) app.server.closeAllConnections();
    }
    await closed;
  } finally {
    for (const t of timers) clearTimeout(t);
    recorder.flushNow();
    await recorder.idle();
  }
}
