/**
 * Query runs kept under their id for a while (`RUN_STORE_TTL_MS`), so a caller can read a large
 * result again in pages (`queryRun(id)`, `QueryRun.rows(first, after)`) instead of holding it all at
 * once: useful to clients, and to agents with small context windows. A run is readable only by the
 * viewer who ran it, in the role it ran in; to anyone else it does not exist. Runs larger than the
 * byte cap are not kept (their `storedUntil` is null), nor are runs made while the store is down.
 *
 * A kept run is two entries: a small record under the run's id (its owner, facts and body's digest),
 * and its body under the body's SHA-256. Identical results (a cached or shared result served to many
 * callers) are stored once: a body already there only has its expiry moved, so a busy dashboard kept
 * for every viewer costs a few small writes per run, not a copy of its rows each time.
 */
import { createHash } from 'node:crypto';
import type { SharedStore } from '../store/store.js';
import { decodeRun, encodeRun } from './run-codec.js';
import type { QueryResult } from './types.js';

/**
 * Who a run belongs to: the viewer (issuer and subject), the role it ran in, and the role's
 * credential scope then: a role given another credential (a reload, a rotation) no longer reads the
 * runs made with the old one.
 */
export interface RunOwner {
  readonly issuer: string;
  readonly subject: string;
  readonly role: string;
  readonly scope: string;
}

/** What the gateway adds to Metabase's result when it keeps a run. */
export interface RunFacts {
  /** Whether Metabase's limit or the caller's row cap cut the rows. */
  readonly truncated: boolean;
  /** Where the result came from when it ran (metabase, cache, shared). */
  readonly source: string;
  /**
   * What the run read, for the checks made again when it is read back: the collections of its
   * question and dashboard (each must still be readable by the role), or `native` for ad-hoc SQL
   * (the role must still be allowed to run it).
   */
  readonly reach: { readonly collections: readonly (number | null)[] } | 'native';
}

export interface KeptRun {
  readonly result: QueryResult;
  readonly facts: RunFacts;
  readonly storedAt: number;
  readonly expiresAt: number;
}

export interface RunStoreOptions {
  /** How long a run is kept, in ms. Default one hour. */
  readonly ttlMs?: number;
  /** Largest run kept, in bytes of its stored text. Default 8 MiB. */
  readonly maxBytes?: number;
  readonly now?: () => number;
}

/** A run id is a UUID: anything else is not looked up. */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class RunStore {
  readonly ttlMs: number;
  readonly maxBytes: number;
  readonly #store: SharedStore;
  readonly #now: () => number;

  constructor(store: SharedStore, options: RunStoreOptions = {}) {
    this.#store = store;
    this.ttlMs = options.ttlMs ?? 3_600_000;
    this.maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    this.#now = options.now ?? Date.now;
  }

  static isRunId(id: string): boolean {
    return RUN_ID.test(id);
  }

  /** Keeps the first `rows` rows of `result` under `id`; resolves to when it expires, or null when it was not kept. */
  async keep(id: string, owner: RunOwner, result: QueryResult, rows: number, facts: RunFacts): Promise<number | null> {
    const storedAt = this.#now();
    const encoded = bodyOf(result, rows, this.maxBytes);
    if (!encoded) return null;
    const { body, digest } = encoded;
    const record = JSON.stringify({ owner: ownerKey(owner), truncated: facts.truncated, source: facts.source, reach: facts.reach, body: digest, storedAt });
    const [bodyKept, recordKept] = await Promise.all([
      this.#store.extend(bodyKey(digest), this.ttlMs).then((held) => held || this.#store.set(bodyKey(digest), body, this.ttlMs)),
      this.#store.set(key(id), record, this.ttlMs),
    ]);
    return bodyKept && recordKept ? storedAt + this.ttlMs : null;
  }

  /** The run, when it exists and belongs to `owner`; null otherwise (the two are not told apart). */
  async read(id: string, owner: RunOwner): Promise<KeptRun | null> {
    if (!RunStore.isRunId(id)) return null;
    const raw = await this.#store.get(key(id));
    if (!raw) return null;
    try {
      const record = JSON.parse(raw.toString('utf8')) as { owner?: unknown; truncated?: unknown; source?: unknown; reach?: unknown; body?: unknown; storedAt?: unknown };
      if (record.owner !== ownerKey(owner) || typeof record.body !== 'string' || typeof record.storedAt !== 'number') return null;
      const reach = readReach(record.reach);
      if (!reach) return null;
      const body = await this.#store.get(bodyKey(record.body));
      if (!body) return null;
      const { result } = decodeRun(body.toString('utf8'));
      return {
        result, storedAt: record.storedAt, expiresAt: record.storedAt + this.ttlMs,
        facts: { truncated: record.truncated === true, source: typeof record.source === 'string' ? record.source : 'metabase', reach },
      };
    } catch {
      return null;
    }
  }
}

/**
 * The last body made of each result object: a result served from the cache many times is encoded and
 * hashed once. One per result (another row count replaces it), and only bodies under the byte cap,
 * so a caller varying `maxRows` cannot make it hold more than one body per cached result.
 */
const BODIES = new WeakMap<QueryResult, { rows: number; body: Buffer; digest: string }>();

function bodyOf(result: QueryResult, rows: number, maxBytes: number): { body: Buffer; digest: string } | null {
  const known = BODIES.get(result);
  if (known?.rows === rows) return known;
  // The body carries no time of its own, so identical results have identical bodies. Its length in
  // UTF-16 units bounds its bytes from below: a body too large is refused before it is copied or hashed.
  const text = encodeRun(result, 0, rows);
  if (text.length > maxBytes) return null;
  const body = Buffer.from(text);
  if (body.length > maxBytes) return null;
  const made = { rows, body, digest: createHash('sha256').update(body).digest('base64url') };
  BODIES.set(result, made);
  return made;
}

function readReach(value: unknown): RunFacts['reach'] | null {
  if (value === 'native') return 'native';
  const collections = (value as { collections?: unknown } | null)?.collections;
  if (!Array.isArray(collections) || !collections.every((c) => c === null || Number.isInteger(c))) return null;
  return { collections: collections as (number | null)[] };
}

const key = (id: string): string => `stored-run:${id}`;
const bodyKey = (digest: string): string => `stored-run-body:${digest}`;

/** The owner as a digest: the store never holds who ran what in the clear. */
const ownerKey = (o: RunOwner): string => createHash('sha256').update(`${o.issuer}\u0000${o.subject}\u0000${o.role}\u0000${o.scope}`).digest('base64url');
