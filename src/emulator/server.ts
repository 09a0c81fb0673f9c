/**
 * The Metabase-compatible emulator: a real HTTP server over a real SQLite sample database, answering
 * the part of Metabase's REST API the gateway uses exactly as API-CONTRACT.md describes it. Tests
 * start it on port 0 and steer it with knobs; `npm run emulator` runs it alone.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { SqlExecutor } from './executor.js';
import { ApiError, Query, json, matchRoute, readJsonBody, route, takePaging, unauthenticated, type Reply, type Route } from './http.js';
import type { EmulatorKnobs, RouteContext } from './context.js';
import { Instance, type DemoCredential, type InstanceOptions } from './instance.js';
import { createRandom } from './random.js';
import type { RunResult } from './runner.js';
import { accountRoutes } from './routes/account.js';
import { contentRoutes, unknownEndpoint } from './routes/content.js';
import { adHocRun, cardRun, dashcardRun } from './routes/runs.js';
import { createSampleDatabase } from './sample-data.js';
import { METABASE_VERSION } from './serialize.js';

export type { EmulatorKnobs, QueryFailureMode } from './context.js';
export type { DemoCredential } from './instance.js';

export interface EmulatorOptions extends InstanceOptions, Partial<EmulatorKnobs> {
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** Seed of the sample data and of the failure-rate generator. Default 20260301. */
  readonly seed?: number;
  /** Longest a query may run before it is stopped and fails, in ms. Default 30,000. */
  readonly queryTimeoutMs?: number;
}

export interface LoggedRequest {
  /** `METHOD pattern`, e.g. `POST /api/card/:card-id/query`. */
  readonly route: string;
  /** Query-string keys sent, paging keys included. */
  readonly query: readonly string[];
  /** The parsed JSON body, when the route read one. */
  body?: unknown;
  /** Who made it: the Metabase user (for an API key, its synthetic user) whose credential came with it. */
  user?: string;
  /** The HTTP status answered. */
  status?: number;
  /** Correlation headers a gateway sent: `X-Request-Id` and `X-Gateway-User`. */
  requestId?: string;
  gatewayUser?: string;
}

/** Counts requests per route (`GET /api/card/:id`), so tests can assert how many upstream calls were made. */
export class RequestCounter {
  private readonly counts = new Map<string, number>();
  /** Requests being handled now, and the most at once since the last reset. */
  inFlight = 0;
  peakInFlight = 0;
  /** TCP connections opened by clients since the last reset (keep-alive shows as few). */
  connections = 0;

  /** The latest requests (at most 500), so tests can check what a client sent. */
  readonly log: LoggedRequest[] = [];

  record(key: string, query: URLSearchParams): LoggedRequest {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const entry: LoggedRequest = { route: key, query: [...new Set(query.keys())] };
    this.log.push(entry);
    if (this.log.length > 500) this.log.shift();
    return entry;
  }

  /** Requests to one route, e.g. `count('GET /api/card/:id')`; with no argument, all requests. */
  count(key?: string): number {
    if (key === undefined) return [...this.counts.values()].reduce((a, b) => a + b, 0);
    return this.counts.get(key) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  reset(): void {
    this.counts.clear();
    this.log.length = 0;
    this.peakInFlight = this.inFlight;
    this.connections = 0;
  }
}

export interface Emulator {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly instance: Instance;
  readonly knobs: EmulatorKnobs;
  readonly requests: RequestCounter;
  /** One API key and one login per group, made at start. */
  readonly credentials: readonly DemoCredential[];
  /** Revokes an API key: its next call gets 401. */
  revokeKey(key: string): boolean;
  close(): Promise<void>;
}

type Ctx = RouteContext;

const RUN_ROUTES: Route<Ctx>[] = [
  route('POST', '/api/card/:card-id/query', async (ctx, params) => runReply(ctx, await cardRun(ctx, params, await ctx.body()))),
  route('POST', '/api/dashboard/:dashboard-id/dashcard/:dashcard-id/card/:card-id/query', async (ctx, params) => runReply(ctx, await dashcardRun(ctx, params, await ctx.body()))),
  route('POST', '/api/dataset', async (ctx) => runReply(ctx, await adHocRun(ctx, await ctx.body()))),
];

const ROUTES: Route<Ctx>[] = [...accountRoutes, ...RUN_ROUTES, ...contentRoutes];

/** Marks a reply as a query run: the server may cut it mid-stream and gzips it on request. */
const RUN_MARK = Symbol('query-run');

/** The HTTP status of a failed run in `http-status` mode; a guess the contract asks us to make configurable. */
function failedRunStatus(errorType: string | undefined): number {
  switch (errorType) {
    case 'invalid-query': case 'invalid-parameter': case 'missing-required-parameter': return 400;
    case 'missing-required-permissions': return 403;
    default: return 500;
  }
}

function runReply(ctx: Ctx, run: RunResult): Reply {
  const status = run.ok || ctx.knobs.queryFailureMode === 'legacy-202' ? 202 : failedRunStatus(run.errorType);
  return Object.assign(json(run.body, status, { connection: 'close' }), { [RUN_MARK]: true });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const sample = createSampleDatabase({ seed: options.seed ?? 20260301 });
  const executor = await SqlExecutor.start(sample.serialize(), { timeoutMs: options.queryTimeoutMs ?? 30_000 });
  sample.close();
  const instance = new Instance(options);
  const knobs: EmulatorKnobs = {
    latencyMs: options.latencyMs ?? 0,
    failureRate: options.failureRate ?? 0,
    queryFailureMode: options.queryFailureMode ?? 'http-status',
    abortMidStream: options.abortMidStream ?? false,
  };
  const requests = new RequestCounter();
  const random = createRandom(options.seed ?? 20260301);
  const server = createServer((req, res) => {
    requests.inFlight++;
    requests.peakInFlight = Math.max(requests.peakInFlight, requests.inFlight);
    res.once('close', () => requests.inFlight--);
    handle(req, res).catch(() => {
      // The last line of defence: nothing a client sends may crash the emulator.
      if (!res.headersSent) send(req, res, json({ message: 'Something went wrong' }, 500));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://emulator');
    } catch {
      requests.record(`${req.method ?? 'GET'} (malformed)`, new URLSearchParams());
      return send(req, res, unknownEndpoint());
    }
    const method = req.method ?? 'GET';
    const match = matchRoute(ROUTES, method, url.pathname);
    const logged = requests.record(match && match !== 'method' ? `${method} ${match.route.pattern}` : `${method} ${url.pathname}`, url.searchParams);
    if (typeof req.headers['x-request-id'] === 'string') logged.requestId = req.headers['x-request-id'];
    if (typeof req.headers['x-gateway-user'] === 'string') logged.gatewayUser = req.headers['x-gateway-user'];
    if (knobs.latencyMs > 0) await new Promise((r) => setTimeout(r, knobs.latencyMs));
    if (!match || match === 'method') return send(req, res, unknownEndpoint());
    if (knobs.failureRate > 0 && match.route.pattern !== '/api/health' && random.next() < knobs.failureRate) {
      return send(req, res, json({ message: 'Something went wrong' }, 500));
    }
    let reply: Reply;
    try {
      const paging = takePaging(url.searchParams);
      const principal = match.route.public ? undefined : instance.authenticate(req.headers);
      if (principal) logged.user = principal.user.email;
      if (!match.route.public && !principal) throw unauthenticated();
      let bodyPromise: Promise<Record<string, unknown>> | undefined;
      const ctx: Ctx = {
        instance, executor, knobs, req, paging, query: new Query(url.searchParams),
        principal: principal!,
        body: () => (bodyPromise ??= readJsonBody(req).then((b) => {
          logged.body = 'password' in b ? { ...b, password: '[redacted]' } : b;
          return b;
        })),
      };
      reply = await match.route.handler(ctx, match.params);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      reply = err.reply;
    }
    logged.status = reply.status;
    if ((reply as { [RUN_MARK]?: boolean })[RUN_MARK] && knobs.abortMidStream) return cutMidStream(res, reply);
    send(req, res, reply, Boolean((reply as { [RUN_MARK]?: boolean })[RUN_MARK]));
  }

  server.on('connection', () => requests.connections++);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    instance,
    knobs,
    requests,
    credentials: instance.demoCredentials,
    revokeKey: (key) => instance.revokeApiKey(key),
    close: () => closeServer(server, executor),
  };
}

function send(req: IncomingMessage, res: ServerResponse, reply: Reply, gzipAllowed = false): void {
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  let payload: Buffer | undefined;
  if ('json' in reply) {
    headers['content-type'] = 'application/json;charset=utf-8';
    payload = Buffer.from(JSON.stringify(reply.json));
  } else if ('text' in reply) {
    headers['content-type'] = 'text/plain; charset=utf-8';
    payload = Buffer.from(reply.text);
  }
  if (reply.status < 300) headers['x-metabase-version'] = METABASE_VERSION;
  if (payload && gzipAllowed && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    payload = gzipSync(payload);
    headers['content-encoding'] = 'gzip';
  }
  if (payload) headers['content-length'] = String(payload.length);
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/** Sends the status line and half the body, then drops the connection, as a failure mid-stream does. */
function cutMidStream(res: ServerResponse, reply: Reply): void {
  const body = Buffer.from(JSON.stringify('json' in reply ? reply.json : {}));
  res.writeHead(reply.status, { 'content-type': 'application/json;charset=utf-8', 'x-metabase-version': METABASE_VERSION });
  res.write(body.subarray(0, Math.max(1, Math.floor(body.length / 2))), () => res.destroy());
}

function closeServer(server: Server, executor: SqlExecutor): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      void executor.close().then(resolve);
    });
    server.closeAllConnections();
  });
}

