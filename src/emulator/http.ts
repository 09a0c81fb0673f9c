/**
 * The emulator's HTTP plumbing: a tiny router, Metabase's error bodies (API-CONTRACT.md §3) and the
 * query-string checks Metabase's malli schemas make. Handlers return a `Reply` or throw an `ApiError`;
 * nothing here knows about cards or dashboards.
 */
import type { IncomingMessage } from 'node:http';

export type Reply =
  | { readonly status: number; readonly json: unknown; readonly headers?: Record<string, string> }
  | { readonly status: number; readonly text: string; readonly headers?: Record<string, string> }
  | { readonly status: 204; readonly empty: true; readonly headers?: Record<string, string> };

export const json = (body: unknown, status = 200, headers?: Record<string, string>): Reply =>
  headers ? { status, json: body, headers } : { status, json: body };
export const text = (body: string, status: number): Reply => ({ status, text: body });

/** An error answered with a fixed status and body, exactly as Metabase writes it. */
export class ApiError extends Error {
  constructor(readonly reply: Reply) {
    super(`emulator reply ${reply.status}`);
  }
}

export const unauthenticated = (): ApiError => new ApiError(text('Unauthenticated', 401));
export const forbidden = (): ApiError => new ApiError(text("You don't have permissions to do that.", 403));
export const notFound = (): ApiError => new ApiError(text('Not found.', 404));

/** A malli validation failure: `{errors: {param: summary}, specific-errors: {param: [details]}}`. */
export function invalid(param: string, summary: string, detail: string): ApiError {
  return new ApiError(json({ errors: { [param]: summary }, 'specific-errors': { [param]: [detail] } }, 400));
}

export const received = (value: unknown): string => (value === undefined ? 'nil' : JSON.stringify(value));

// ---------------------------------------------------------------------------------------------
// Query strings. Metabase repeats keys for arrays (`?models=card&models=dashboard`).

export class Query {
  constructor(readonly params: URLSearchParams) {}

  has(key: string): boolean {
    return this.params.has(key);
  }

  /** Fails with 400 for a key the endpoint's closed schema does not list. */
  closed(allowed: readonly string[]): void {
    for (const key of new Set(this.params.keys())) {
      if (!allowed.includes(key)) throw invalid(key, 'disallowed key', `disallowed key, received: ${received(this.params.get(key))}`);
    }
  }

  string(key: string): string | undefined {
    const v = this.params.get(key);
    return v === null || v === '' ? undefined : v;
  }

  boolean(key: string, fallback = false): boolean {
    const v = this.params.get(key);
    if (v === null || v === '') return fallback;
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw invalid(key, 'nullable boolean', `should be a boolean, received: ${received(v)}`);
  }

  positiveInt(key: string): number | undefined {
    const v = this.params.get(key);
    if (v === null || v === '') return undefined;
    return positiveInt(key, v);
  }

  positiveInts(key: string): number[] {
    return this.params.getAll(key).map((v) => positiveInt(key, v));
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.params.get(key);
    if (v === null || v === '') return undefined;
    if (!(values as readonly string[]).includes(v)) throw badEnum(key, values, v);
    return v as T;
  }

  manyOf<T extends string>(key: string, values: readonly T[]): T[] {
    return this.params.getAll(key).map((v) => {
      if (!(values as readonly string[]).includes(v)) throw badEnum(key, values, v);
      return v as T;
    });
  }
}

function badEnum(key: string, values: readonly string[], v: string): ApiError {
  return invalid(
    key,
    `nullable enum of ${values.join(', ')}`,
    `should be either ${values.map((x) => JSON.stringify(x)).join(', ')}, received: ${received(v)}`,
  );
}

export function positiveInt(key: string, v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) {
    throw invalid(key, 'value must be an integer greater than zero.', `value must be an integer greater than zero., received: ${received(v)}`);
  }
  return Number(v);
}

const NANO_ID = /^[A-Za-z0-9_-]{21}$/;

/** An id path segment that may be a positive integer or a 21-character NanoID `entity_id`. */
export function idOrEntityId(key: string, v: string): number | string {
  if (NANO_ID.test(v)) return v;
  return positiveInt(key, v);
}

/**
 * Metabase's paging middleware: reads `limit`/`offset`, removes them before the endpoint's own
 * validation, and answers 400 on values that are not numbers (API-CONTRACT.md §4.14).
 */
export interface Paging {
  readonly limit: number;
  readonly offset: number;
}

export function takePaging(params: URLSearchParams): Paging | undefined {
  const limit = params.get('limit');
  const offset = params.get('offset');
  params.delete('limit');
  params.delete('offset');
  if (limit === null && offset === null) return undefined;
  const parse = (name: string, v: string | null, fallback: number): number => {
    if (v === null) return fallback;
    if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) {
      throw new ApiError(json({ message: `Error parsing paging parameters: ${name} must be a non-negative integer, received: ${received(v)}` }, 400));
    }
    return Number(v);
  };
  return { limit: parse('limit', limit, 50), offset: parse('offset', offset, 0) };
}

export const page = <T>(items: readonly T[], paging: Paging | undefined): T[] =>
  paging ? items.slice(paging.offset, paging.offset + paging.limit) : [...items];

// ---------------------------------------------------------------------------------------------
// Bodies

const MAX_BODY_BYTES = 5 * 1024 * 1024;
/** Deeper bodies are refused: echoing them back (`json_query`) would overflow JSON.stringify's stack. */
const MAX_BODY_DEPTH = 64;

/** Nesting depth of a parsed JSON value, walked without recursion. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, d);
    if (max > MAX_BODY_DEPTH) return max;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** Reads a JSON body. Malformed JSON, a non-object or an oversized body is a 400, never a crash. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(text('Request body is too large.', 413));
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks).toString('utf8');
  if (raw.trim() === '') return {};
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new ApiError(text('Content-Type must be application/json.', 400));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ApiError(text('Malformed JSON in request body.', 400));
  }
  if (depthOf(parsed) > MAX_BODY_DEPTH) {
    throw new ApiError(text(`Request body is nested deeper than ${MAX_BODY_DEPTH} levels.`, 400));
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid('body', 'map', `should be a map, received: ${received(parsed)}`);
  }
  return parsed as Record<string, unknown>;
}

/** Fails with 400 for body keys a closed request schema does not list. */
export function closedBody(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw invalid(key, 'disallowed key', `disallowed key, received: ${received(body[key])}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Routing

export interface RouteMatch<C> {
  readonly route: Route<C>;
  readonly params: Record<string, string>;
}

export interface Route<C> {
  readonly method: string;
  /** The pattern, e.g. `/api/card/:id`; also the key of the request counter. */
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly handler: (ctx: C, params: Record<string, string>) => Reply | Promise<Reply>;
  readonly public?: boolean;
}

export function route<C>(
  method: string,
  pattern: string,
  handler: Route<C>['handler'],
  options: { public?: boolean } = {},
): Route<C> {
  return { method, pattern, segments: pattern.split('/').filter(Boolean), handler, ...options };
}

export function matchRoute<C>(routes: readonly Route<C>[], method: string, path: string): RouteMatch<C> | 'method' | undefined {
  const parts = path.split('/').filter(Boolean);
  let pathMatched = false;
  for (const r of routes) {
    if (r.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = r.segments.every((seg, i) => {
      if (seg.startsWith(':')) {
        params[seg.slice(1)] = safeDecode(parts[i]!);
        return true;
      }
      return seg === parts[i];
    });
    if (!ok) continue;
    if (r.method === method) return { route: r, params };
    pathMatched = true;
  }
  return pathMatched ? 'method' : undefined;
}

/** A malformed escape stays as it came; the endpoint's own id check then answers 400. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
