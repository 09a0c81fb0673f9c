/** `/healthz`: the process answers. `/readyz`: the gateway is serving and Metabase answers. */
import type { FastifyInstance } from 'fastify';

export type GatewayState = 'starting' | 'ready' | 'draining' | 'stopped';

export function registerHealth(app: FastifyInstance, deps: { state: () => GatewayState; metabaseReady: () => Promise<unknown> }): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = deps.state();
    if (state !== 'ready') return reply.code(503).send({ status: state });
    try {
      await deps.metabaseReady();
      return { status: 'ready', metabase: 'ok' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', metabase: 'unreachable' });
    }
  });
}
