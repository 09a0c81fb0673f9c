/**
 * Requests per minute per caller, in this process: a token bucket per key that holds up to one
 * minute's allowance and refills continuously. Shared limits across instances come with the Redis
 * store; until then each instance limits on its own (so N instances admit up to N times the rate).
 * The map of buckets is bounded: past `maxKeys`, the least recently used buckets are dropped
 * (a dropped bucket comes back full, which only ever errs toward admitting).
 */

export type Admission =
  | { readonly allowed: true }
  /** `unavailable`: refused because the shared count could not be read and the caller's role fails closed. */
  | { readonly allowed: false; readonly retryAfterMs: number; readonly unavailable?: true };

/** What a limit does when the shared count cannot be read: count in this instance, or refuse. */
export interface LimitOptions {
  readonly failClosed?: boolean;
}

/** Takes one request from a caller's allowance of `perMinute`: in this process, or shared by every instance. */
export interface RequestLimiter {
  take(key: string, perMinute: number, options?: LimitOptions): Promise<Admission>;
}

/** A slot held while work runs; `release` gives it back (at most once). */
export interface Lease {
  release(): void;
}

/** At most `max` pieces of work at once per key: in this process, or shared by every instance. */
export interface ConcurrencyLimiter {
  /** A lease, or a refusal when `max` are held already (or the shared count cannot be read and the caller fails closed). */
  acquire(key: string, max: number, options?: LimitOptions): Promise<Lease | Exclude<Admission, { allowed: true }>>;
}

/** Refusals of a concurrency limit say to retry after this long. */
export const CONCURRENCY_RETRY_MS = 1_000;

/**
 * Concurrent work per key in this process. Keys with nothing held are dropped, so the map holds at
 * most as many keys as there are leases.
 */
export function localConcurrencyLimiter(): ConcurrencyLimiter {
  const held = new Map<string, number>();
  return {
    async acquire(key, max) {
      const n = held.get(key) ?? 0;
      if (n >= max) return { allowed: false, retryAfterMs: CONCURRENCY_RETRY_MS };
      held.set(key, n + 1);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          const left = (held.get(key) ?? 1) - 1;
          if (left <= 0) held.delete(key);
          else held.set(key, left);
        },
      };
    },
  };
}

export interface RateLimiterOptions {
  /** Buckets kept at most. Default 100,000. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #maxKeys: number;
  readonly #now: () => number;

  constructor(options: RateLimiterOptions = {}) {
    this.#maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isInteger(this.#maxKeys) || this.#maxKeys < 1) throw new TypeError(`RateLimiter maxKeys must be a positive integer, received ${this.#maxKeys}`);
    this.#now = options.now ?? Date.now;
  }

  /** Takes one request from `key`'s allowance of `perMinute`. */
  take(key: string, perMinute: number): Admission {
    const now = this.#now();
    const perMs = perMinute / 60_000;
    const bucket = this.#buckets.get(key);
    let tokens = perMinute;
    if (bucket) {
      tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * perMs);
      // Re-inserted, so the map's order is least recently used first.
      this.#buckets.delete(key);
    }
    if (tokens < 1) {
      this.#buckets.set(key, { tokens, at: now });
      return { allowed: false, retryAfterMs: Math.ceil((1 - tokens) / perMs) };
    }
    this.#buckets.set(key, { tokens: tokens - 1, at: now });
    while (this.#buckets.size > this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    return { allowed: true };
  }

  /** Buckets held now. */
  get size(): number {
    return this.#buckets.size;
  }
}

/** The in-process limiter as a RequestLimiter: each instance limits on its own. */
export function localRequestLimiter(limiter = new RateLimiter()): RequestLimiter {
  return { take: async (key, perMinute) => limiter.take(key, perMinute) };
}
