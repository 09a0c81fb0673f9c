/**
 * Verified tokens, remembered so a caller's next request with the same token skips decoding and the
 * signature check. Only tokens that passed verification enter; an entry lives until the token's
 * `exp` or `maxAgeMs`, whichever is first (so a key the identity provider withdraws stops
 * accepting its cached tokens within `maxAgeMs`). Bounded by entries and by the bytes of the tokens
 * held (a claim set is no larger than its token); the oldest go first. Keys are SHA-256 digests, so
 * the cache holds no token.
 */
import { createHash } from 'node:crypto';
import { ExpiringMap } from '../utils/expiring-map.js';

export interface TokenCacheOptions {
  /** Longest an entry lives, in ms; 0 turns the cache off. */
  readonly maxAgeMs: number;
  /** Most entries held. Default 10,000. */
  readonly maxEntries?: number;
  /** Most token bytes the held entries stand for. Default 16 MiB. */
  readonly maxBytes?: number;
  /** The clock, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
}

export class TokenCache<T> {
  readonly #entries: ExpiringMap<T>;
  readonly #maxAgeMs: number;

  constructor(options: TokenCacheOptions) {
    this.#maxAgeMs = options.maxAgeMs;
    this.#entries = new ExpiringMap({ maxEntries: options.maxEntries ?? 10_000, maxBytes: options.maxBytes ?? 16 * 1024 * 1024, ...(options.now ? { now: options.now } : {}) });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value remembered for this token, if it has not expired. */
  get(token: string): T | undefined {
    if (this.#maxAgeMs <= 0 || this.#entries.size === 0) return undefined;
    return this.#entries.get(digest(token));
  }

  /** Remembers a verified token's value until `expSeconds` (its `exp`) or the cache's own age limit; a token is counted by its length. */
  set(token: string, value: T, expSeconds: number): void {
    if (this.#maxAgeMs <= 0) return;
    const now = this.#entries.now();
    const expiresAt = Math.min(expSeconds * 1000, now + this.#maxAgeMs);
    if (!(expiresAt > now)) return;
    this.#entries.set(digest(token), value, token.length, expiresAt);
  }

  clear(): void {
    this.#entries.clear();
  }
}

const digest = (token: string): string => createHash('sha256').update(token).digest('base64url');
