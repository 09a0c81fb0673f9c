/**
 * Requests per minute per caller, in this process: a token bucket per key that holds up to one
 * minute's allowance and refills continuously. Shared limits across instances come with the Redis
 * store; until then each instance limits on its own (so N instances admit up to N times the rate).
 * The map of buckets is bounded: past `maxKeys`, the least recently used buckets are dropped
 * (a dropped bucket comes back full, which only ever errs toward admitting).
 */

export type Admission = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/** Takes one request from a caller's allowance of `perMinute`: in this process, or shared by every instance. */
export interface RequestLimiter {
  take(key: string, perMinute: number): Promise<Admission>;
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
