/**
 * The gateway's HTTP server: Fastify with Apollo Server at /graphql (GET and POST, CSRF prevention
 * on, no CDN landing page), bearer-token identity before any operation runs, /healthz and /readyz,
 * and a drain on close. It listens nowhere until `listen()`; tests and `main.ts` both use it.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import type { Logger } from 'pino';
import type { Socket } from 'node:net';
import type { Config } from './config/config.js';
import { auditPlugin, NO_AUDIT, type AuditLog } from './audit/audit.js';
import { Trail, withTrail } from './audit/trail.js';
import { protect } from './authz/rules.js';
import { AccessChecker } from './authz/access.js';
import { contextWithoutRole, type GatewayContext } from './context/context.js';
import { createFormatError } from './errors/format-error.js';
import { ForbiddenError, GatewayError, type GatewayErrorCode } from './errors/index.js';
import { createLoaders } from './graph/loaders.js';
import { buildGatewaySchema } from './graph/schema.js';
import { tokenError, type TokenVerifier } from './identity/verifier.js';
import { decideRoles, viewerFromClaims, type RoleDecision, type Viewer } from './identity/viewer.js';
import type { ActiveRole, PolicyStore } from './policy/store.js';

export interface GatewayDeps {
  /** The policy in force: claim mapping, roles and their Metabase clients. */
  readonly policy: PolicyStore;
  readonly verifyToken: TokenVerifier;
  /** Checks Metabase answers, for /readyz. */
  readonly metabaseReady: () => Promise<unknown>;
  /** The root logger (pino). Default: silent. */
  readonly logger?: Logger;
  /** The audit trail. Default: off. */
  readonly audit?: AuditLog;
}

export type GatewayState = 'starting' | 'ready' | 'draining' | 'stopped';

export interface Gateway {
  readonly state: GatewayState;
  listen(port: number, host: string): Promise<string>;
  /** Stops accepting, lets in-flight requests finish within the grace period, then cuts what is left. */
  close(): Promise<void>;
}

/** The header with which a caller asks for another of the roles it may act in. */
export const ROLE_HEADER = 'x-gateway-role';
/** Headers up to this size are read, so an oversized token is refused with a reason, not cut off by the parser. */
const MAX_HEADER_BYTES = 128 * 1024;

type Limits = Pick<Config, 'limits' | 'drainGraceMs'>;

const HTTP_STATUS: Partial<Record<GatewayErrorCode, number>> = {
  UNAUTHENTICATED: 401, FORBIDDEN: 403, BAD_USER_INPUT: 400, NOT_FOUND: 404, RATE_LIMITED: 429,
  UPSTREAM_AUTH: 502, UPSTREAM_TIMEOUT: 504, UPSTREAM_UNAVAILABLE: 503,
};

declare module 'fastify' {
  interface FastifyRequest {
    caller?: { viewer: Viewer; decision: RoleDecision<ActiveRole>; role: ActiveRole | null };
    trail?: Trail;
    responseBytes?: number;
  }
}

function sendError(reply: FastifyReply, status: number, code: GatewayErrorCode, message: string, extensions: Readonly<Record<string, unknown>> = {}): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ errors: [{ message, extensions: { ...extensions, code } }] });
}

/** Headers too large even for MAX_HEADER_BYTES: answered before Fastify sees the request. */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, text, message] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'Request Header Fields Too Large', `Request headers are larger than ${MAX_HEADER_BYTES} bytes.`]
    : [400, 'Bad Request', 'The request could not be read as HTTP.'];
  const body = JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] });
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
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
  const logger = deps.logger ?? pino({ level: 'silent' });
  const audit = deps.audit ?? NO_AUDIT;
  const app = Fastify({
    bodyLimit: limits.limits.bodyLimitBytes,
    loggerInstance: logger,
    http: { maxHeaderSize: MAX_HEADER_BYTES },
    clientErrorHandler,
    // The gateway's own id: the audit trail's key, which a caller must not be able to choose or collide.
    genReqId: () => randomUUID(),
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  const apollo = new ApolloServer<GatewayContext>({
    schema: protect(await buildGatewaySchema()),
    csrfPrevention: true,
    includeStacktraceInErrorResponses: false,
    // Signals belong to main.ts, which drains Fastify and Apollo together; Apollo's own handler would race it.
    stopOnTerminationSignals: false,
    formatError: createFormatError(app.log),
    plugins: [ApolloServerPluginLandingPageDisabled(), fastifyApolloDrainPlugin(app), auditPlugin(audit)],
  });
  await apollo.start();

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const thrown: unknown = err;
    if (thrown instanceof GatewayError) {
      const code: GatewayErrorCode = thrown.code;
      if (code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer realm="metabase-gateway"');
      return sendError(reply, HTTP_STATUS[code] ?? 500, code, thrown.message, thrown.extensions);
    }
    const fault = requestFault(err, limits.limits.bodyLimitBytes);
    if (fault) return sendError(reply, fault.status, 'BAD_USER_INPUT', fault.message);
    request.log.error({ err }, 'unexpected error outside an operation');
    return sendError(reply, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error.');
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, 'NOT_FOUND', `Nothing is served at ${request.method} ${request.url.split('?')[0]}; GraphQL is at /graphql.`));

  // While draining, answers close their connection, so keep-alive sockets do not hold the drain open.
  app.addHook('onSend', async (request, reply, payload) => {
    if (state === 'draining') reply.header('connection', 'close');
    if (request.trail) request.responseBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.length : Number(reply.getHeader('content-length') ?? 0);
    return payload;
  });
  // Every GraphQL request that got as far as its token leaves exactly one audit record, refused ones
  // and ones whose caller went away included (status 499), once the work done for it has settled.
  const unwritten = new Set<Promise<void>>();
  const recordOnClose = (request: FastifyRequest, reply: FastifyReply, trail: Trail): void => {
    reply.raw.once('close', () => {
      const status = reply.raw.writableFinished ? reply.statusCode : 499;
      const written = trail.settled(limits.drainGraceMs + 1_000).then(() => audit.write(trail, { status, responseBytes: request.responseBytes ?? 0 }));
      unwritten.add(written);
      void written.finally(() => unwritten.delete(written));
    });
  };

  // Preflights never reach Apollo (they carry no token); the gateway serves no cross-origin callers.
  app.options('/graphql', async (_request, reply) => reply.code(204).header('allow', 'GET, POST, OPTIONS').send());

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

  /**
   * Who is calling and in which role: the token is verified, read through the policy's claim paths,
   * and matched against its roles. No fitting role is not an error here: `viewer` still answers,
   * and the rules refuse the rest. Asking (with X-Gateway-Role) for a role that does not fit is.
   */
  async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const trail = new Trail(String(request.id));
    request.trail = trail;
    const clientId = request.headers['x-request-id'];
    if (typeof clientId === 'string') trail.clientRequestId = clientId.slice(0, 128);
    recordOnClose(request, reply, trail);
    const active = deps.policy.current;
    const header = request.headers.authorization;
    try {
      if (header === undefined || header === '') throw tokenError('missing');
      const match = /^Bearer +(\S+)$/i.exec(header);
      if (!match) throw tokenError('malformed');
      const claims = await deps.verifyToken(match[1]!);
      const viewer = viewerFromClaims(claims, active.policy.claims);
      const decision = decideRoles(viewer, active.roles);
      const who = { subject: viewer.subject, email: viewer.email, groups: viewer.groups, clientKind: viewer.clientKind };
      trail.viewer = who;
      const asked = request.headers[ROLE_HEADER];
      if (typeof asked === 'string' && asked !== '') trail.askedRole = asked.slice(0, 64);
      // Every later log line of this request carries who it is for.
      request.log = request.log.child({ viewer: who });
      reply.log = request.log;
      const role = chooseRole(decision, asked);
      request.caller = { viewer, decision, role };
      request.log = request.log.child({ role: role?.name ?? null });
      reply.log = request.log;
      trail.role = role?.name ?? null;
    } catch (err) {
      if (err instanceof GatewayError) trail.refused = { code: err.code, reason: err.extensions['reason'] };
      if (err instanceof GatewayError && (err.code === 'UNAUTHENTICATED' || err.code === 'FORBIDDEN')) {
        // Who tried what, never the token: its reason, and where it came from.
        request.log.info({ event: 'auth.refused', requestId: request.id, code: err.code, reason: err.extensions['reason'], ip: request.ip, userAgent: request.headers['user-agent'] }, 'request refused before any operation');
      }
      throw err;
    }
  }

  const apolloHandler = fastifyApolloHandler(apollo, {
    context: async (request): Promise<GatewayContext> => {
      const { viewer, decision, role } = request.caller!;
      const base = { requestId: String(request.id), viewer, decision, limits: limits.limits, trail: request.trail ?? null };
      if (!role) return contextWithoutRole(base);
      const loaders = createLoaders(role.client, limits.limits);
      return { ...base, roleName: role.name, role, loaders, access: new AccessChecker(role.collections, loaders.collections) };
    },
  });

  app.route({
    url: '/graphql',
    method: ['GET', 'POST'],
    preHandler: authenticate,
    // Runs inside the request's trail: Metabase calls made for it are recorded and carry its correlation headers.
    handler(request, reply) {
      return withTrail(request.trail ?? new Trail(String(request.id)), () => Reflect.apply(apolloHandler, this, [request, reply]) as unknown);
    },
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
        // Records of the last requests are written before close() returns, so the audit log can then be closed.
        await Promise.all(unwritten);
      } finally {
        clearTimeout(grace);
        state = 'stopped';
      }
    },
  };
}



/** The default role (the first that fits), or the one asked for by name if it fits too. */
function chooseRole(decision: RoleDecision<ActiveRole>, asked: string | string[] | undefined): ActiveRole | null {
  if (asked === undefined || asked === '') return decision.allowed[0] ?? null;
  const name = Array.isArray(asked) ? asked[0] : asked;
  const role = decision.allowed.find((r) => r.name === name);
  if (role) return role;
  const fits = decision.allowed.map((r) => r.name);
  throw new ForbiddenError(
    `You asked for role "${String(name).slice(0, 64)}" with ${ROLE_HEADER}, but your token allows ${fits.length ? fits.join(', ') : 'no role'}.`,
    { details: { reason: 'role-not-allowed' } },
  );
}
