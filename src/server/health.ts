/**
 * `/healthz`: the process answers. `/readyz`: the gateway is serving and Metabase answers (and how the
 * shared store is: `ok` or `degraded`, which does not make the gateway unready). Both need
 * no token, so Metabase is asked at most once per READY_CACHE_MS whatever the number of callers: a
 * flood of readiness checks cannot take Metabase's connections from the roles' queries.
 */
import type { FastifyInstance } from 'fastify';

export type GatewayState = 'starting' | 'ready' | 'draining' | 'stopped';

/** How long an answer from Metabase's health check is reused. */
export const READY_CACHE_MS = 2_000;

export interface HealthDeps {
  readonly state: () => GatewayState;
  readonly metabaseReady: () => Promise<unknown>;
  /**
   * The shared store (Redis), when there is one. A degraded store does not make the gateway unready
   * (it serves from Metabase, with per-instance limits); /readyz says so.
   */
  readonly storeState?: () => 'ok' | 'degraded';
}

export function registerHealth(app: FastifyInstance, deps: HealthDeps): void {
  let last: { at: number; check: Promise<boolean> } | undefined;
  const metabaseOk = (): Promise<boolean> => {
    if (!last || Date.now() - last.at > READY_CACHE_MS) {
      last = { at: Date.now(), check: deps.metabaseReady().then(() => true, () => false) };
    }
    return last.check;
  };
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = deps.state();
    if (state !== 'ready') return reply.code(503).send({ status: state });
    const store = deps.storeState ? { store: deps.storeState() } : {};
    if (await metabaseOk()) return { status: 'ready', metabase: 'ok', ...store };
    return reply.code(503).send({ status: 'unavailable', metabase: 'unreachable', ...store });
  });
}
