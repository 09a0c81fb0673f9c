/**
 * The gateway's HTTP server: Fastify with Apollo Server at /graphql (GET and POST, CSRF prevention
 * on, no CDN landing page), bearer-token identity before any operation runs, /healthz and /readyz,
 * and a drain on close. It listens nowhere until `listen()`; tests and `main.ts` both use it.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import type { Config } from './config/config.js';
import type { GatewayContext } from './context/context.js';
import { createFormatError } from './errors/format-error.js';
import { GatewayError, UnauthenticatedError, type GatewayErrorCode } from './errors/index.js';
import { createLoaders } from './graph/loaders.js';
import { buildGatewaySchema } from './graph/schema.js';
import type { TokenVerifier } from './identity/verifier.js';
import { resolveRole, viewerFromClaims, type Viewer } from './identity/viewer.js';
import type { MetabaseClient } from './metabase/client.js';

export interface GatewayRole {
  readonly name: string;
  readonly groups: readonly string[];
  /** The client holding this role's Metabase credential. */
  readonly client: MetabaseClient;
}

export interface GatewayDeps {
  readonly roles: readonly GatewayRole[];
  readonly verifyToken: TokenVerifier;
  /** Checks Metabase answers, for /readyz. */
  readonly metabaseReady: () => Promise<unknown>;
  /** Claim holding the caller's groups. Default `groups`. */
  readonly groupsClaim?: string;
  /** Log requests (pino through Fastify). Default false. */
  readonly logger?: boolean | object;
}

export type GatewayState = 'starting' | 'ready' | 'draining' | 'stopped';

export interface Gateway {
  readonly state: GatewayState;
  listen(port: number, host: string): Promise<string>;
  /** Stops accepting, lets in-flight requests finish within the grace period, then cuts what is left. */
  close(): Promise<void>;
}

type Limits = Pick<Config, 'limits' | 'drainGraceMs'>;

const HTTP_STATUS: Partial<Record<GatewayErrorCode, number>> = {
  UNAUTHENTICATED: 401, FORBIDDEN: 403, BAD_USER_INPUT: 400, NOT_FOUND: 404, RATE_LIMITED: 429,
  UPSTREAM_AUTH: 502, UPSTREAM_TIMEOUT: 504, UPSTREAM_UNAVAILABLE: 503,
};

declare module 'fastify' {
  interface FastifyRequest {
    caller?: { viewer: Viewer; role: GatewayRole };
  }
}

function sendError(reply: FastifyReply, status: number, code: GatewayErrorCode, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ errors: [{ message, extensions: { code } }] });
}

/** Fastify's own request failures (bad JSON, size, media type), in the GraphQL error shape. */
function requestFault(err: FastifyError, limitBytes: number): { status: number; message: string } | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY': case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, message: 'The request body is not valid JSON.' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: `The request body is larger than ${limitBytes} bytes.` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'Send GraphQL requests as application/json (POST) or as query parameters (GET).' };
    default:
      return err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? { status: err.statusCode, message: 'The request could not be read.' } : undefined;
  }
}

export async function createGateway(limits: Limits, deps: GatewayDeps): Promise<Gateway> {
  let state: GatewayState = 'starting';
  const app = Fastify({
    bodyLimit: limits.limits.bodyLimitBytes,
    logger: deps.logger ?? false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  const apollo = new ApolloServer<GatewayContext>({
    schema: await buildGatewaySchema(),
    csrfPrevention: true,
    includeStacktraceInErrorResponses: false,
    formatError: createFormatError(app.log),
    plugins: [ApolloServerPluginLandingPageDisabled(), fastifyApolloDrainPlugin(app)],
  });
  await apollo.start();

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const thrown: unknown = err;
    if (thrown instanceof GatewayError) {
      const code: GatewayErrorCode = thrown.code;
      if (code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer realm="metabase-gateway"');
      return sendError(reply, HTTP_STATUS[code] ?? 500, code, thrown.message);
    }
    const fault = requestFault(err, limits.limits.bodyLimitBytes);
    if (fault) return sendError(reply, fault.status, 'BAD_USER_INPUT', fault.message);
    request.log.error({ err }, 'unexpected error outside an operation');
    return sendError(reply, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error.');
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, 'NOT_FOUND', `Nothing is served at ${request.method} ${request.url.split('?')[0]}; GraphQL is at /graphql.`));

  // While draining, answers close their connection, so keep-alive sockets do not hold the drain open.
  app.addHook('onSend', async (_request, reply) => {
    if (state === 'draining') reply.header('connection', 'close');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (state !== 'ready') return reply.code(503).send({ status: state });
    try {
      await deps.metabaseReady();
      return { status: 'ready', metabase: 'ok' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', metabase: 'unreachable' });
    }
  });

  const groupsClaim = deps.groupsClaim ?? 'groups';
  async function authenticate(request: FastifyRequest): Promise<void> {
    if (request.method === 'OPTIONS') return;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header) : null;
    if (!match) throw new UnauthenticatedError('Send `Authorization: Bearer <token>` with a token from your identity provider.');
    const claims = await deps.verifyToken(match[1]!);
    const viewer = viewerFromClaims(claims, groupsClaim);
    request.caller = { viewer, role: resolveRole(viewer, deps.roles) };
  }

  app.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    preHandler: authenticate,
    handler: fastifyApolloHandler(apollo, {
      context: async (request): Promise<GatewayContext> => {
        const { viewer, role } = request.caller!;
        return {
          requestId: String(request.id),
          viewer,
          role: { name: role.name, client: role.client },
          loaders: createLoaders(role.client, limits.limits),
          limits: limits.limits,
        };
      },
    }),
  });

  await app.ready();
  return {
    get state() {
      return state;
    },
    async listen(port, host) {
      const address = await app.listen({ port, host });
      state = 'ready';
      return address.replace('[::1]', 'localhost');
    },
    async close() {
      if (state === 'draining' || state === 'stopped') return;
      state = 'draining';
      // In-flight requests get the grace period; after it, whatever is still open is cut.
      const grace = setTimeout(() => app.server.closeAllConnections(), limits.drainGraceMs);
      grace.unref();
      try {
        await app.close();
        await apollo.stop().catch(() => undefined);
      } finally {
        clearTimeout(grace);
        state = 'stopped';
      }
    },
  };
}
