/**
 * The gateway's HTTP server: Fastify with Apollo Server at /graphql. It listens nowhere until
 * `listen()`; tests and `main.ts` both use it. Each concern of the edge is its own module in
 * `server/` (and the operation gate in `gate/`), put together here in the order a request meets them:
 *
 *   onRequest    audit recording (trail, deadline, record on close) → authentication (token, role)
 *                → rate limit (all before the body is read)
 *   body         parsed by Fastify (size, JSON, media type)
 *   preHandler   vetted operations (an id becomes its document; vetted-only roles send ids only)
 *                → request limits (document, variables) → risk flags (agent traffic)
 *   handler      Apollo: the request's context (server/request-context.ts: role, loaders, reaches)
 *                → parse, validate → operation gate → shield rules → resolvers
 *   onSend       `connection: close` while draining; response size for the record
 *   onResponse   one request log line
 *
 * Errors outside Apollo are shaped by server/http-errors.ts, inside it by errors/format-error.ts.
 * /mcp (mcp/endpoint.ts) authenticates and counts its requests the same way, and runs each tool
 * call as a request to /graphql above, in process.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { auditPlugin, NO_AUDIT, type AuditLog } from './audit/audit.js';
import { protect } from './authz/rules.js';
import { MemoryAccessStore, type AccessStore } from './access/records.js';
import { createAccessRequests } from './access/service.js';
import type { WebhookOptions } from './access/webhook.js';
import type { GatewayContext } from './context/context.js';
import { requestContext } from './server/request-context.js';
import { createFormatError } from './errors/format-error.js';
import { operationGatePlugin } from './gate/plugin.js';
import { checkRequestLimits } from './gate/request-gate.js';
import { persistedOperations, VettedOperations } from './gate/persisted.js';
import { buildGatewaySchema } from './graph/schema.js';
import { registerMcp } from './mcp/endpoint.js';
import { McpTools } from './mcp/tools.js';
import { explorerSignIn, registerExplorer } from './explorer/explorer.js';
import type { TokenVerification } from './identity/issuers.js';
import { stringifyWithRawJson } from './metabase/raw-rows.js';
import type { PolicyStore } from './policy/store.js';
import { AuditRecorder } from './server/audit-recording.js';
import { authenticate } from './server/authenticate.js';
import { drain } from './server/drain.js';
import { errorLogPlugin } from './server/error-log.js';
import { graphqlOverHttpPlugin } from './server/graphql-over-http.js';
import { registerHealth, type GatewayState } from './server/health.js';
import { clientErrorHandler, installErrorHandlers, OTHER_HEADERS_BYTES, sendError, URL_BYTES } from './server/http-errors.js';
import { rateLimit } from './server/rate-limit.js';
import { flagRisks, LocalRiskHistory, settleRiskFlags } from './server/risk-flags.js';
import type { SharedState } from './server/shared-state.js';
import { localConcurrencyLimiter, localRequestLimiter } from './store/rate-limiter.js';
import { logCompletedRequest } from './server/request-log.js';
import { startWatchdog } from './server/watchdog.js';

export { ROLE_HEADER } from './server/authenticate.js';

const GATEWAY_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
export type { GatewayState } from './server/health.js';

export interface GatewayDeps {
  /** The policy in force: claim mapping, roles and their Metabase clients. */
  readonly policy: PolicyStore;
  /** Verifies tokens against the issuers in force (IssuerRegistry over the policy store's issuers). */
  readonly tokens: TokenVerification;
  /** Checks Metabase answers, for /readyz. */
  readonly metabaseReady: () => Promise<unknown>;
  /** The root logger (pino). Default: silent. */
  readonly logger?: Logger;
  /** The audit trail. Default: off. */
  readonly audit?: AuditLog;
  /**
   * Limits, caches and kept runs, shared through Redis or held in this process (server/shared-state.ts).
   * Default: limits in this process, and no caches or kept runs.
   */
  readonly shared?: Pick<SharedState, 'limiter' | 'concurrency' | 'cache' | 'runs' | 'storeState'> & Partial<Pick<SharedState, 'risks' | 'access'>>;
  /** The vetted operations. Default: schema/persisted-operations.json. */
  readonly vetted?: VettedOperations;
  /**
   * Just-in-time access: where requests and grants are kept (default: the shared state's store, else
   * this process's memory), the clock they expire by, and the webhook's retry timing.
   */
  readonly access?: {
    readonly store?: AccessStore; readonly clock?: () => number; readonly webhook?: Pick<WebhookOptions, 'attempts' | 'baseDelayMs' | 'timeoutMs'>;
    /** How often this instance settles requests and grants whose time ran out unseen (their expiry events), in ms. Default 30,000. */
    readonly sweepMs?: number;
  };
  /** Demo mode: the demo users' tokens, which the explorer offers. */
  readonly demoUsers?: () => readonly { readonly name: string; readonly token: string }[];
}

export interface Gateway {
  readonly state: GatewayState;
  listen(port: number, host: string): Promise<string>;
  /**
   * Stops accepting, lets in-flight requests finish within the grace period, then stops what is left
   * and writes every audit record; resolves within the grace period plus half a second.
   */
  close(): Promise<void>;
}

type Settings = Pick<Config, 'limits' | 'drainGraceMs' | 'requestTimeoutMs' | 'stallWarningMs' | 'tokens' | 'cache'> & Partial<Pick<Config, 'publicUrl' | 'explorer'>> & { readonly metabase: Pick<Config['metabase'], 'timeoutMs'> };

export async function createGateway(settings: Settings, deps: GatewayDeps): Promise<Gateway> {
  let state: GatewayState = 'starting';
  const logger = deps.logger ?? pino({ level: 'silent' });
  const audit = deps.audit ?? NO_AUDIT;
  // The header limit follows the token limit: a token just over it is refused with its reason, not cut off by the parser.
  const maxHeaderBytes = settings.tokens.maxBytes + OTHER_HEADERS_BYTES + URL_BYTES;
  const app = Fastify({
    bodyLimit: settings.limits.bodyLimitBytes,
    loggerInstance: logger as FastifyBaseLogger,
    // One line per request, written by server/request-log.ts without query-string values.
    logController: new LogController({ disableRequestLogging: true }),
    http: { maxHeaderSize: maxHeaderBytes, connectionsCheckingInterval: Math.min(5_000, settings.requestTimeoutMs) },
    // A request must arrive whole within its deadline (a body trickled in byte by byte is cut);
    // a socket idle for longer than the deadline serves no request and is closed.
    requestTimeout: settings.requestTimeoutMs,
    connectionTimeout: settings.requestTimeoutMs + 10_000,
    clientErrorHandler: clientErrorHandler(maxHeaderBytes),
    // The gateway's own id: the audit trail's key, which a caller must not be able to choose or collide.
    genReqId: () => randomUUID(),
    forceCloseConnections: 'idle',
    // Requests arriving on kept-alive connections during the drain are served (and recorded) like any other.
    return503OnClosing: false,
  });
  const schema = protect(await buildGatewaySchema());
  const logged = new WeakSet<object>();
  const apollo = new ApolloServer<GatewayContext>({
    schema,
    csrfPrevention: true,
    // No automatic persisted queries: any caller could register any document under a hash. Persisted
    // operations come from a reviewed manifest (the vetted-operations work), not from callers.
    persistedQueries: false,
    includeStacktraceInErrorResponses: false,
    // Run rows go out as the JSON text Metabase sent (checked, never parsed and encoded again).
    stringifyResult: stringifyWithRawJson,
    // Signals belong to main.ts, which drains Fastify and Apollo together; Apollo's own handler would race it.
    stopOnTerminationSignals: false,
    formatError: createFormatError(logger, logged),
    plugins: [
      ApolloServerPluginLandingPageDisabled(), operationGatePlugin(() => schema), errorLogPlugin(logged),
      graphqlOverHttpPlugin(), auditPlugin(audit),
    ],
  });
  await apollo.start();

  installErrorHandlers(app, settings.limits.bodyLimitBytes);
  const risks = deps.shared?.risks ?? new LocalRiskHistory();
  const recorder = new AuditRecorder({
    audit, logger, requestTimeoutMs: settings.requestTimeoutMs, defaultLimits: () => deps.policy.current.policy.limits,
    beforeWrite: (trail) => settleRiskFlags(risks, trail),
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    // While draining, answers close their connection, so keep-alive sockets do not hold the drain open.
    if (state === 'draining') reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', logCompletedRequest);
  // Preflights never reach Apollo (they carry no token); the gateway serves no cross-origin callers.
  app.options('/graphql', async (_request, reply) => reply.code(204).header('allow', 'GET, POST, OPTIONS').send());
  app.route({
    url: '/graphql', method: ['PUT', 'PATCH', 'DELETE'],
    handler: async (request, reply) => sendError(request, reply.header('allow', 'GET, POST, OPTIONS'), 405, 'BAD_USER_INPUT', 'GraphQL is served by GET and POST.'),
  });
  const shared = deps.shared ?? { limiter: localRequestLimiter(), concurrency: localConcurrencyLimiter(), cache: null, runs: null };
  registerHealth(app, { state: () => state, metabaseReady: deps.metabaseReady, ...(shared.storeState ? { storeState: shared.storeState } : {}) });

  const accessRequests = createAccessRequests({
    store: deps.access?.store ?? deps.shared?.access ?? new MemoryAccessStore(), policy: deps.policy, audit, logger,
    ...(deps.access?.clock ? { clock: deps.access.clock } : {}), ...(deps.access?.webhook ? { webhook: deps.access.webhook } : {}),
  });
  // Expiries nobody comes back to are settled (and audited) by a sweep; every instance sweeps, one wins each.
  const stopSweeping = accessRequests.sweepEvery(deps.access?.sweepMs ?? 30_000, logger);
  const apolloHandler = fastifyApolloHandler(apollo, { context: requestContext({ settings, policy: deps.policy, shared, accessRequests }) });

  const vetted = deps.vetted ?? VettedOperations.load();
  const authenticateCaller = authenticate({ policy: deps.policy, tokens: deps.tokens });
  const limitRequests = rateLimit(deps.policy, shared.limiter);
  app.route({
    url: '/graphql',
    method: ['GET', 'POST'],
    onRequest: [recorder.begin, authenticateCaller, limitRequests],
    preHandler: [persistedOperations(vetted), checkRequestLimits, flagRisks(risks)],
    onSend: recorder.measure,
    // The request's loaders carry its scope: Metabase calls made for it are recorded, budgeted, cancellable and correlated.
    handler: apolloHandler,
  });

  // MCP: each vetted operation a tool, run through /graphql above (mcp/endpoint.ts).
  const tools = McpTools.load(vetted);
  registerMcp(app, {
    tools, onRequest: [authenticateCaller, limitRequests],
    issuers: () => deps.tokens.issuerUrls?.() ?? [], publicUrl: settings.publicUrl ?? null, version: GATEWAY_VERSION, audit,
  });

  if (settings.explorer?.enabled ?? true) {
    // Checked at start (a client id with no issuer to pair it with is refused), then read on each page
    // load so that it follows policy reloads; a reload that leaves it unpaired turns sign-in off, logged.
    let inForce = { policy: deps.policy.current as object, signIn: explorerSignIn(settings.explorer, deps.policy.current.issuers) };
    // Worked out once per policy (and logged once when a reload leaves it unpaired), not per request.
    const signIn = () => {
      const policy = deps.policy.current;
      if (inForce.policy !== policy) {
        let next = null;
        try {
          next = explorerSignIn(settings.explorer, policy.issuers);
        } catch (err) {
          logger.warn({ event: 'explorer.sign-in-off', problem: (err as Error).message }, 'the explorer offers no sign-in under the policy in force');
        }
        inForce = { policy, signIn: next };
      }
      return inForce.signIn;
    };
    await registerExplorer(app, {
      signIn,
      ...(deps.demoUsers ? { demoUsers: deps.demoUsers } : {}),
      operations: tools.forRole({ operations: null }).map((t) => ({ name: t.name, description: t.description, document: vetted.get(t.operationId)!.document })),
    });
  }

  await app.ready();
  const watchdog = startWatchdog(logger, settings.stallWarningMs);
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
      try {
        await drain(app, recorder, settings.drainGraceMs);
        await apollo.stop().catch(() => undefined);
        stopSweeping();
        await accessRequests.close();
      } finally {
        watchdog.stop();
        state = 'stopped';
      }
    },
  };
}
