/**
 * One HTTP exchange with Metabase, and the translation of every way it can go wrong into the
 * gateway's closed set of errors (API-CONTRACT.md §3, §4.5). Bodies are parsed by content type:
 * Metabase answers some errors in plain text.
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { request, type Dispatcher } from 'undici';
import {
  BadUserInputError, ForbiddenError, NotFoundError, QueryFailedError, UpstreamAuthError, UpstreamTimeoutError,
  UpstreamUnavailableError, type GatewayError,
} from '../errors/index.js';
import { isObject } from './decode.js';

const gunzipAsync = promisify(gunzip);

export type QueryValue = string | number | boolean | readonly (string | number)[] | undefined;

export interface UpstreamRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly query?: Readonly<Record<string, QueryValue>>;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Aborts the call, e.g. when the caller's own request goes away. */
  readonly signal?: AbortSignal;
  /** The call's deadline, when it started before the request (e.g. while queued). Default: `timeoutMs` from now. */
  readonly deadline?: AbortSignal;
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
}

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

export async function send(options: TransportOptions, req: UpstreamRequest): Promise<UpstreamResponse> {
  const timeout = req.deadline ?? AbortSignal.timeout(options.timeoutMs);
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
  const what = `${req.method} ${req.path}`;
  const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'gzip', ...req.headers };
  let payload: string | undefined;
  if (req.body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(req.body);
  }
  try {
    const res = await request(buildUrl(options.baseUrl, req.path, req.query), {
      dispatcher: options.dispatcher, method: req.method, headers, body: payload, signal,
    });
    // The body is read under the same signal: a stalled or cut stream is caught here too.
    let raw = Buffer.from(await res.body.arrayBuffer());
    if (String(res.headers['content-encoding'] ?? '').includes('gzip')) raw = await gunzipAsync(raw);
    return { status: res.statusCode, body: parseBody(String(res.headers['content-type'] ?? ''), raw, what) };
  } catch (err) {
    throw transportError(err, options, { ...req, deadline: timeout });
  }
}

/** Why a call did not complete: its deadline, the caller's cancellation, or Metabase itself. */
export function transportError(err: unknown, options: TransportOptions, req: UpstreamRequest): GatewayError {
  const what = `${req.method} ${req.path}`;
  if (req.deadline?.aborted) {
    return new UpstreamTimeoutError(`Metabase did not answer ${what} within ${options.timeoutMs} ms.`, { cause: err });
  }
  if (req.signal?.aborted) return new UpstreamUnavailableError(`The call ${what} was cancelled.`, { cause: err });
  if (err instanceof UpstreamUnavailableError) return err;
  return new UpstreamUnavailableError(`Metabase could not be reached, or cut its answer short, on ${what}.`, { cause: err });
}

function parseBody(contentType: string, raw: Buffer, what: string): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  if (!/\bjson\b/i.test(contentType)) return text;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UpstreamUnavailableError(`Metabase sent a truncated or invalid JSON body for ${what}.`, { cause: err });
  }
}

/** A failed query run, whatever its HTTP status (§4.5: 202 in older releases, 4xx/5xx in newer). */
export const isFailedRun = (body: unknown): body is Record<string, unknown> => isObject(body) && body['status'] === 'failed';

export function queryFailure(body: Record<string, unknown>): GatewayError {
  const message = typeof body['error'] === 'string' && body['error'] !== '' ? body['error'] : 'The query failed.';
  const errorType = typeof body['error_type'] === 'string' ? body['error_type'] : null;
  const options = { details: { errorType } };
  switch (errorType) {
    case 'invalid-parameter':
    case 'missing-required-parameter':
      return new BadUserInputError(message, options);
    case 'missing-required-permissions':
      return new ForbiddenError(message, { details: { errorType, reason: 'metabase' } });
    default:
      return new QueryFailedError(message, options);
  }
}

/** Metabase's own words from an error body: plain text, `{message}` or a validation map. */
function upstreamMessage(body: unknown): string {
  if (typeof body === 'string') return body.trim().slice(0, 500);
  if (isObject(body)) {
    if (isObject(body['errors'])) {
      return Object.entries(body['errors']).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('; ');
    }
    if (typeof body['message'] === 'string') return body['message'];
  }
  return 'no details';
}

/** Any non-success answer as a gateway error. Stack traces Metabase may send are dropped. */
export function toGatewayError(res: UpstreamResponse, what: string): GatewayError {
  if (isFailedRun(res.body)) return queryFailure(res.body);
  // Parameter checks Metabase makes before a run starts may come as `{message, type|error_type}` (§4.4).
  if (isObject(res.body)) {
    const type = res.body['error_type'] ?? res.body['type'];
    if (type === 'invalid-parameter' || type === 'missing-required-parameter') {
      return new BadUserInputError(typeof res.body['message'] === 'string' ? res.body['message'] : 'Metabase rejected a parameter.', { details: { errorType: type, upstreamStatus: res.status } });
    }
  }
  const message = upstreamMessage(res.body);
  const details = { upstreamStatus: res.status };
  switch (res.status) {
    case 400:
    case 413:
      return new BadUserInputError(`Metabase rejected ${what}: ${message}`, { details: { ...details, ...validationDetails(res.body) } });
    case 401:
      return new UpstreamAuthError(`Metabase did not accept the gateway's credential for this role on ${what}.`, { details });
    case 403:
      // `reason: metabase`: the role's Metabase group lacks the permission (not the gateway's policy).
      return new ForbiddenError(`Metabase denied ${what}: ${message}`, { details: { ...details, reason: 'metabase' } });
    case 404:
      return new NotFoundError(`Metabase found nothing at ${what}: ${message}`, { details });
    default:
      return new UpstreamUnavailableError(`Metabase failed on ${what} with status ${res.status}: ${message}`, { details });
  }
}

function validationDetails(body: unknown): Record<string, unknown> {
  return isObject(body) && isObject(body['errors']) ? { upstreamErrors: body['errors'] } : {};
}
