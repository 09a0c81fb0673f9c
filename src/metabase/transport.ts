/**
 * One HTTP exchange with Metabase, and the translation of every way it can go wrong into the
 * gateway's closed set of errors (API-CONTRACT.md §3, §4.5). Bodies are read with a size cap, on the
 * wire and after gunzip, and parsed by content type: Metabase answers some errors in plain text.
 *
 * Clients see the gateway's own fixed messages, with the code, a reason and safe details (the upstream
 * status, Metabase's `error_type`). What Metabase said (its message, a stack trace, an HTML page, a
 * host name, SQL) travels only in the error's log-only `detail`, which is logged with the request id.
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { request, type Dispatcher } from 'undici';
import {
  BadUserInputError, ForbiddenError, GatewayError, NotFoundError, QueryFailedError, UpstreamAuthError, UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../errors/index.js';
import { RequestEnded } from './call-scope.js';
import { isObject } from './decode.js';
import { scanRunBody } from './raw-rows.js';

const gunzipAsync = promisify(gunzip);

export type QueryValue = string | number | boolean | readonly (string | number)[] | undefined;

export interface UpstreamRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly query?: Readonly<Record<string, QueryValue>>;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Aborts the call, e.g. when the caller's own request goes away or passes its deadline. */
  readonly signal?: AbortSignal;
  /** The call's deadline, when it started before the request (e.g. while queued). Default: `timeoutMs` from now. */
  readonly deadline?: AbortSignal;
  /** Told the size of the body as it is read (and after gunzip); throwing stops the read and fails the call with that error. */
  readonly onBytes?: (bytes: number) => void;
  /** A query run: `data.rows` is kept as Metabase's JSON text (a RawRows), checked but not parsed (see raw-rows.ts). */
  readonly rawRows?: boolean;
}

export interface UpstreamResponse {
  readonly status: number;
  /** Parsed JSON, a string for plain-text bodies, or undefined for an empty body. */
  readonly body: unknown;
}

export interface TransportOptions {
  readonly baseUrl: URL;
  readonly dispatcher: Dispatcher;
  readonly timeoutMs: number;
  /** Largest body read, on the wire and after gunzip, in bytes. */
  readonly maxResponseBytes: number;
  /** Ask for gzipped answers (a gzipped answer is read either way). Default false. */
  readonly acceptGzip?: boolean;
}

/** What the log says of Metabase's words: enough to act on, never unbounded. */
const DETAIL_CHARS = 2_000;
const detailOf = (text: string): string => (text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS)}… (${text.length} characters)` : text);

/** `?models=card&models=dashboard`: Metabase repeats keys for arrays; a comma-joined value is a 400. */
export function buildUrl(base: URL, path: string, query: UpstreamRequest['query'] = {}): URL {
  const url = new URL(path.replace(/^\//, ''), base.href.endsWith('/') ? base : new URL(`${base.href}/`));
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) url.searchParams.append(key, String(v));
    else url.searchParams.set(key, String(value));
  }
  return url;
}

/** A body over the cap: the call fails, and the rest of the body is not read. */
class TooLarge extends Error {
  constructor(readonly bytes: number, readonly where: 'wire' | 'decoded') {
    super(`Metabase's answer exceeded the size cap (${where})`);
  }
}

export async function send(options: TransportOptions, req: UpstreamRequest): Promise<UpstreamResponse> {
  const timeout = req.deadline ?? AbortSignal.timeout(options.timeoutMs);
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
  const what = `${req.method} ${req.path}`;
  const headers: Record<string, string> = { accept: 'application/json', ...(options.acceptGzip ? { 'accept-encoding': 'gzip' } : {}), ...req.headers };
  let payload: string | undefined;
  if (req.body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(req.body);
  }
  let status = 0;
  try {
    const res = await request(buildUrl(options.baseUrl, req.path, req.query), {
      dispatcher: options.dispatcher, method: req.method, headers, body: payload, signal,
    });
    status = res.statusCode;
    // The body is read under the same signal: a stalled or cut stream is caught here too.
    let raw = await readCapped(res, options.maxResponseBytes, req.onBytes);
    if (String(res.headers['content-encoding'] ?? '').includes('gzip')) {
      const wire = raw.length;
      try {
        raw = await gunzipAsync(raw, { maxOutputLength: options.maxResponseBytes });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw new TooLarge(options.maxResponseBytes + 1, 'decoded');
        throw err;
      }
      req.onBytes?.(Math.max(0, raw.length - wire));
    }
    return { status, body: parseBody(String(res.headers['content-type'] ?? ''), raw, what, req.rawRows ?? false) };
  } catch (err) {
    if (err instanceof TooLarge) {
      throw new UpstreamUnavailableError('Metabase\'s answer was larger than the gateway accepts.', {
        details: { reason: 'too-large', upstreamStatus: status, maxBytes: options.maxResponseBytes },
        detail: `${what}: more than ${options.maxResponseBytes} bytes ${err.where === 'wire' ? 'on the wire' : 'after gunzip'}`,
      });
    }
    throw transportError(err, options, { ...req, deadline: timeout });
  }
}

/** Reads the body chunk by chunk, refusing (and dropping the connection) past `cap` bytes, or when `onBytes` refuses. */
async function readCapped(res: Dispatcher.ResponseData, cap: number, onBytes?: (bytes: number) => void): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > cap) {
    discard(res.body);
    throw new TooLarge(declared, 'wire');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > cap) {
      discard(res.body);
      throw new TooLarge(size, 'wire');
    }
    try {
      onBytes?.((chunk as Buffer).length);
    } catch (err) {
      discard(res.body);
      throw err;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Stops reading a body and drops its connection. undici reports the abort as an 'error' event on the
 * stream, which must have a listener: an unheard 'error' would take the whole process down.
 */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Why a call did not complete: its deadline, the request's end, or Metabase itself. */
export function transportError(err: unknown, options: Pick<TransportOptions, 'timeoutMs'>, req: UpstreamRequest): GatewayError {
  const what = `${req.method} ${req.path}`;
  const reason = req.signal?.aborted ? req.signal.reason : undefined;
  if (reason instanceof RequestEnded) return requestEndedError(reason, what);
  if (req.deadline?.aborted) {
    return new UpstreamTimeoutError(`Metabase did not answer within ${options.timeoutMs} ms.`, { details: { reason: 'timeout' }, cause: err, detail: what });
  }
  if (req.signal?.aborted) return new UpstreamUnavailableError('The call to Metabase was cancelled.', { details: { reason: 'cancelled' }, cause: err, detail: what });
  // Already one of ours: a bad body, or the request's allowance of bytes spent.
  if (err instanceof GatewayError) return err;
  return new UpstreamUnavailableError('Metabase could not be reached, or cut its answer short.', {
    details: { reason: 'unreachable' }, cause: err, detail: `${what}: ${err instanceof Error ? err.message : String(err)}`,
  });
}

/** A call, or a wait for one, stopped because its request ended. */
export function requestEndedError(ended: RequestEnded, what = 'a Metabase call'): GatewayError {
  if (ended.why === 'deadline') {
    return new UpstreamTimeoutError('The request reached its time limit before Metabase answered.', { details: { reason: 'request-deadline' }, detail: what });
  }
  const shutdown = ended.why === 'shutdown';
  return new UpstreamUnavailableError(shutdown ? 'The gateway is shutting down; the call to Metabase was stopped.' : 'The request ended before Metabase answered.', {
    details: { reason: shutdown ? 'shutting-down' : 'cancelled' }, detail: what,
  });
}

function parseBody(contentType: string, raw: Buffer, what: string, rawRows: boolean): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  if (!/\bjson\b/i.test(contentType)) return text;
  try {
    if (rawRows) {
      const scanned = scanRunBody(text);
      if (scanned) {
        // The rows stand where they were, as text: readers see the body's shape unchanged.
        ((scanned.rest as { data: Record<string, unknown> }).data)['rows'] = scanned.rows;
        return scanned.rest;
      }
    }
    return JSON.parse(text);
  } catch (err) {
    throw new UpstreamUnavailableError('Metabase sent an answer the gateway could not read.', { details: { reason: 'bad-response' }, cause: err, detail: `${what}: ${detailOf(text)}` });
  }
}

/** A failed query run, whatever its HTTP status (§4.5: 202 in older releases, 4xx/5xx in newer). */
export const isFailedRun = (body: unknown): body is Record<string, unknown> => isObject(body) && body['status'] === 'failed';

/**
 * A failed run. Metabase's message (which may quote the query's SQL) is the error's log-only
 * `detail`; the run mapper shows it to roles that may read SQL, and a fixed sentence to others.
 */
export function queryFailure(body: Record<string, unknown>): GatewayError {
  const message = typeof body['error'] === 'string' && body['error'] !== '' ? body['error'] : 'no message';
  const errorType = errorTypeOf(body['error_type']);
  const options = { details: { errorType }, detail: detailOf(message) };
  switch (errorType) {
    case 'invalid-parameter':
    case 'missing-required-parameter':
      return new BadUserInputError('Metabase refused a parameter value of this run.', options);
    case 'missing-required-permissions':
      return new ForbiddenError('Your role\'s Metabase group may not run this query.', { details: { errorType, reason: 'metabase' }, detail: options.detail });
    default:
      return new QueryFailedError('The query failed in Metabase.', options);
  }
}

/** Metabase's query-processor error types (API-CONTRACT.md §4.5); anything else reads `unknown`, so no upstream text passes. */
export const ERROR_TYPES = ['client', 'invalid-query', 'invalid-parameter', 'missing-required-parameter', 'missing-required-permissions', 'server', 'qp', 'db'] as const;

function errorTypeOf(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  return (ERROR_TYPES as readonly string[]).includes(value) ? value : 'unknown';
}

/** Metabase's own words from an error body, for the log: plain text, `{message}`, a validation map, or a page. */
function upstreamText(body: unknown): string {
  if (typeof body === 'string') return detailOf(body.trim());
  if (body === undefined) return 'an empty body';
  return detailOf(JSON.stringify(body));
}

/** Any non-success answer as a gateway error with a fixed message; Metabase's text goes to `detail`. */
export function toGatewayError(res: UpstreamResponse, what: string): GatewayError {
  if (isFailedRun(res.body)) return queryFailure(res.body);
  const detail = `${what} answered ${res.status}: ${upstreamText(res.body)}`;
  const upstreamStatus = res.status;
  // Parameter checks Metabase makes before a run starts may come as `{message, type|error_type}` (§4.4).
  if (isObject(res.body)) {
    const type = res.body['error_type'] ?? res.body['type'];
    if (type === 'invalid-parameter' || type === 'missing-required-parameter') {
      return new BadUserInputError('Metabase refused a parameter value of this run.', { details: { errorType: type, upstreamStatus }, detail });
    }
  }
  switch (res.status) {
    case 400:
    case 413:
      return new BadUserInputError('Metabase refused the request as invalid.', { details: { upstreamStatus }, detail });
    case 401:
      return new UpstreamAuthError('Metabase did not accept the gateway\'s credential for this role.', { details: { upstreamStatus }, detail });
    case 403:
      // `reason: metabase`: the role's Metabase group lacks the permission (not the gateway's policy).
      return new ForbiddenError('Your role\'s Metabase group may not read or run this.', { details: { upstreamStatus, reason: 'metabase' }, detail });
    case 404:
      return new NotFoundError('Nothing is there, or your role\'s Metabase group cannot see it.', { details: { upstreamStatus }, detail });
    default:
      return new UpstreamUnavailableError('Metabase failed to answer.', { details: { reason: 'upstream-error', upstreamStatus }, detail });
  }
}
