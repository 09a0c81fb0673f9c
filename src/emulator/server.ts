/**
 * The Metabase-compatible emulator: a real HTTP server over a real SQLite sample database, answering
 * the part of Metabase's REST API the gateway uses exactly as API-CONTRACT.md describes it. Tests
 * start it on port 0 and steer it with knobs; `npm run emulator` runs it alone.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { MODEL_INDEXES } from './content.js';
import { SqlExecutor } from './executor.js';
import { ApiError, Query, json, matchRoute, readJsonBody, route, takePaging, unauthenticated, type Reply, type Route } from './http.js';
import type { EmulatorKnobs, IndexedValue, RouteContext } from './context.js';
import { Instance, type DemoCredential, type InstanceOptions } from './instance.js';
import { APP_DB_JSON_MESSAGE, exceptionBody, proxyBadGatewayPage } from './internals.js';
import { streamOversized } from './oversize.js';
import { createRandom } from './random.js';
import type { RunResult } from './runner.js';
import { accountRoutes } from './routes/account.js';
import { contentRoutes, unknownEndpoint } from './routes/content.js';
import { parameterRoutes } from './routes/params.js';
import { adHocRun, cardRun, dashcardRun } from './routes/runs.js';
import { createSampleDatabase } from './sample-data.js';
import { METABASE_VERSION } from './serialize.js';

export type { EmulatorKnobs, FailureStyle, QueryFailureMode } from './context.js';
export type { DemoCredential } from './instance.js';
export { LEAK_MARKERS, APP_DB_HOST, APP_DB_USER, UPSTREAM_HOST } from './internals.js';

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
  /** The client went away before the answer was fully written. */
  aborted?: boolean;
  /** The client sent `Accept-Encoding: gzip` (query runs are then answered gzipped, as Metabase does). */
  acceptedGzip?: boolean;
  /** For an oversized answer (`knobs.oversizeBodyBytes`): body bytes handed to the connection (compressed when gzipped). */
  bytesSent?: number;
}

/** Counts requests per route (`GET /api/card/:id`), so tests can assert how many upstream calls were made. */
export class RequestCounter {
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  /** Requests being handled now, and the most at once since the last reset. */
  inFlight = 0;
  peakInFlight = 0;
  /** TCP connections opened by clients since the last reset (keep-alive shows as few). */
  connections = 0;
  /** Requests whose client went away before the answer was fully written, since the last reset. */
  aborted = 0;
  /** Requests held right now by `latencyMs` or `runLatencyMs`. */
  delayed = 0;

  /** The latest requests (at most 500), so tests can check what a client sent. */
  readonly log: LoggedRequest[] = [];

  record(key: string, query: URLSearchParams): LoggedRequest {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const entry: LoggedRequest = { route: key, query: [...new Set(query.keys())] };
    this.log.push(entry);
    if (this.log.length > 500) this.log.shift();
    this.notify();
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
    this.aborted = 0;
    this.notify();
  }

  /**
   * Resolves as soon as `predicate` holds: checked now, then again whenever a request starts or ends (or is
   * held or released by a latency knob). Rejects after `timeoutMs`, or with the predicate's own error.
   * `await e.requests.until(() => e.requests.aborted === 1)` instead of sleeping.
   */
  until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (err?: unknown): void => {
        settled = true;
        this.waiters.delete(check);
        if (timer) clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err instanceof Error ? err : new Error(String(err)));
      };
      const check = (): void => {
        if (settled) return;
        try {
          if (predicate()) finish();
        } catch (err) {
          finish(err ?? new Error('the predicate threw'));
        }
      };
      check();
      if (settled) return;
      this.waiters.add(check);
      timer = setTimeout(() => {
        const shown = String(predicate).replace(/\s+/g, ' ').slice(0, 200);
        finish(new Error(`requests.until: \`${shown}\` did not hold within ${timeoutMs} ms `
          + `(in flight ${this.inFlight}, delayed ${this.delayed}, aborted ${this.aborted}, requests ${this.count()})`));
      }, timeoutMs);
    });
  }

  /** A request arrived. */
  started(): void {
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    this.notify();
  }

  /** A request's connection closed; `aborted` when its client left before the answer was fully written. */
  ended(entry: LoggedRequest | undefined, aborted: boolean): void {
    this.inFlight--;
    if (aborted) {
      this.aborted++;
      if (entry) entry.aborted = true;
    }
    this.notify();
  }

  /** A latency knob started (+1) or stopped (-1) holding a request. */
  hold(delta: 1 | -1): void {
    this.delayed += delta;
    this.notify();
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
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

const ROUTES: Route<Ctx>[] = [...accountRoutes, ...RUN_ROUTES, ...contentRoutes, ...parameterRoutes];
const isRunRoute = (r: Route<Ctx>): boolean => RUN_ROUTES.includes(r);

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
  let body = run.body;
  if (ctx.knobs.hideStacktraces) {
    // Metabase removes these from failed runs when stack traces are hidden (§4.5).
    const { via: _via, stacktrace: _stacktrace, trace: _trace, ...rest } = body;
    body = rest;
  }
  return Object.assign(json(body, status, { connection: 'close' }), { [RUN_MARK]: true });
}

/** An unexpected exception's 500 (API-CONTRACT.md §3), with or without its stack trace. */
const unexpectedError = (knobs: EmulatorKnobs, kind: 'app-db' | 'internal'): Reply => json(exceptionBody(knobs.hideStacktraces, kind), 500);

/** What a failure injected by `knobs.failureRate` answers, per `knobs.failureStyle`. */
function injectedFailure(knobs: EmulatorKnobs, path: string): Reply {
  switch (knobs.failureStyle) {
    case 'json-message': return json({ message: APP_DB_JSON_MESSAGE }, 500);
    case 'proxy-502': return { status: 502, text: proxyBadGatewayPage(path), headers: { 'content-type': 'text/html' } };
    default: return unexpectedError(knobs, 'app-db');
  }
}

/** Per request: whether its connection has closed, and whether the emulator cut it on purpose. */
interface RequestState {
  closed: boolean;
  cutByServer: boolean;
  logged?: LoggedRequest;
}

const acceptsGzip = (req: IncomingMessage): boolean => /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const sample = createSampleDatabase({ seed: options.seed ?? 20260301 });
  const indexedValues = indexSample(sample);
  const executor = await SqlExecutor.start(sample.serialize(), { timeoutMs: options.queryTimeoutMs ?? 30_000 });
  sample.close();
  const instance = new Instance(options);
  const knobs: EmulatorKnobs = {
    latencyMs: options.latencyMs ?? 0,
    failureRate: options.failureRate ?? 0,
    queryFailureMode: options.queryFailureMode ?? 'http-status',
    abortMidStream: options.abortMidStream ?? false,
    hideStacktraces: options.hideStacktraces ?? false,
    failureStyle: options.failureStyle ?? 'exception',
    failingCardIds: [...(options.failingCardIds ?? [])],
    oversizeBodyBytes: options.oversizeBodyBytes ?? 0,
    oversizeDeclareLength: options.oversizeDeclareLength ?? true,
    oversizeGzip: options.oversizeGzip ?? false,
    runLatencyMs: options.runLatencyMs ?? 0,
  };
  const requests = new RequestCounter();
  const random = createRandom(options.seed ?? 20260301);
  const server = createServer((req, res) => {
    const state: RequestState = { closed: false, cutByServer: false };
    requests.started();
    res.once('close', () => {
      state.closed = true;
      requests.ended(state.logged, !res.writableFinished && !state.cutByServer);
    });
    handle(req, res, state).catch(() => {
      // The last line of defence: nothing a client sends may crash the emulator.
      if (state.closed) return;
      if (!res.headersSent) {
        if (state.logged) state.logged.status = 500;
        send(req, res, unexpectedError(knobs, 'internal'));
      } else {
        state.cutByServer = true;
        res.destroy();
      }
    });
  });

  /** Waits `ms`, holding the request; resolves false at once (timer cleared) when the client goes away. */
  function pause(res: ServerResponse, state: RequestState, ms: number): Promise<boolean> {
    if (state.closed) return Promise.resolve(false);
    if (!(ms > 0)) return Promise.resolve(true);
    requests.hold(1);
    return new Promise((resolve) => {
      const gone = (): void => {
        clearTimeout(timer);
        requests.hold(-1);
        resolve(false);
      };
      const timer = setTimeout(() => {
        res.off('close', gone);
        requests.hold(-1);
        resolve(!state.closed);
      }, ms);
      res.once('close', gone);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, state: RequestState): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://emulator');
    } catch {
      state.logged = requests.record(`${req.method ?? 'GET'} (malformed)`, new URLSearchParams());
      state.logged.status = 404;
      return send(req, res, unknownEndpoint());
    }
    const method = req.method ?? 'GET';
    const match = matchRoute(ROUTES, method, url.pathname);
    const logged = requests.record(match && match !== 'method' ? `${method} ${match.route.pattern}` : `${method} ${url.pathname}`, url.searchParams);
    state.logged = logged;
    if (typeof req.headers['x-request-id'] === 'string') logged.requestId = req.headers['x-request-id'];
    if (typeof req.headers['x-gateway-user'] === 'string') logged.gatewayUser = req.headers['x-gateway-user'];
    if (acceptsGzip(req)) logged.acceptedGzip = true;
    const answer = (reply: Reply, gzipAllowed = false): void => {
      logged.status = reply.status;
      send(req, res, reply, gzipAllowed);
    };
    if (!(await pause(res, state, knobs.latencyMs))) return;
    if (!match || match === 'method') return answer(unknownEndpoint());
    if (knobs.failureRate > 0 && match.route.pattern !== '/api/health' && random.next() < knobs.failureRate) {
      return answer(injectedFailure(knobs, url.pathname));
    }
    const isRun = isRunRoute(match.route);
    let reply: Reply;
    try {
      const paging = takePaging(url.searchParams);
      const principal = match.route.public ? undefined : instance.authenticate(req.headers);
      if (principal) logged.user = principal.user.email;
      if (!match.route.public && !principal) throw unauthenticated();
      if (isRun && !(await pause(res, state, knobs.runLatencyMs))) return;
      if (knobs.oversizeBodyBytes > 0 && !match.route.public) {
        req.resume(); // the request body is not read
        const status = isRun ? 202 : 200;
        logged.status = status;
        logged.bytesSent = 0;
        return await streamOversized(res, {
          status, size: knobs.oversizeBodyBytes, declareLength: knobs.oversizeDeclareLength, gzip: knobs.oversizeGzip && acceptsGzip(req),
          headers: { 'x-metabase-version': METABASE_VERSION, ...(isRun ? { connection: 'close' } : {}) },
          gone: () => state.closed,
          sent: (n) => (logged.bytesSent = (logged.bytesSent ?? 0) + n),
        });
      }
      let bodyPromise: Promise<Record<string, unknown>> | undefined;
      const ctx: Ctx = {
        instance, executor, knobs, req, paging, query: new Query(url.searchParams), indexedValues,
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
    if (state.closed) return;
    const isRunReply = Boolean((reply as { [RUN_MARK]?: boolean })[RUN_MARK]);
    if (isRunReply && knobs.abortMidStream) {
      logged.status = reply.status;
      state.cutByServer = true;
      return cutMidStream(res, reply);
    }
    answer(reply, isRunReply);
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

/** The rows search finds as indexed entities (`MODEL_INDEXES`), read from the sample before it is handed to the executor. */
function indexSample(sample: ReturnType<typeof createSampleDatabase>): IndexedValue[] {
  return MODEL_INDEXES.flatMap((ix) => {
    const rows = sample.prepare(`SELECT "${ix.pkField}", "${ix.valueField}" FROM "${ix.table}" ORDER BY "${ix.pkField}" LIMIT ?`).raw().all(ix.rows) as [number, string][];
    return rows.map(([pk, value]) => ({ modelIndexId: ix.id, pk: Number(pk), value: String(value) }));
  });
}

function send(req: IncomingMessage, res: ServerResponse, reply: Reply, gzipAllowed = false): void {
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  let payload: Buffer | undefined;
  if ('json' in reply) {
    headers['content-type'] = 'application/json;charset=utf-8';
    payload = Buffer.from(JSON.stringify(reply.json));
  } else if ('text' in reply) {
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    payload = Buffer.from(reply.text);
  }
  if (reply.status < 300) headers['x-metabase-version'] = METABASE_VERSION;
  if (payload && gzipAllowed && acceptsGzip(req)) {
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

