/**
 * Verified tokens, remembered so a caller's next request with the same token skips decoding and the
 * signature check. Only tokens that passed verification enter; an entry lives until the token's
 * `exp` or `maxAgeMs`, whichever is first (so a key the identity provider withdraws stops
 * accepting its cached tokens within `maxAgeMs`). Bounded by entries and by the bytes of the tokens
 * held (a claim set is no larger than its token); the oldest go first. Keys are SHA-256 digests, so
 * the cache holds no token.
 */
import { createHash } from 'node:crypto';

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

interface Entry<T> {
  readonly value: T;
  readonly expiresAt: number;
  readonly bytes: number;
}

export class TokenCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  #bytes = 0;
  readonly #maxAgeMs: number;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #now: () => number;

  constructor(options: TokenCacheOptions) {
    this.#maxAgeMs = options.maxAgeMs;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value remembered for this token, if it has not expired. */
  get(token: string): T | undefined {
    if (this.#maxAgeMs <= 0 || this.#entries.size === 0) return undefined;
    const key = digest(token);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#delete(key, entry);
      return undefined;
    }
    return entry.value;
  }

  /** Remembers a verified token's value until `expSeconds` (its `exp`) or the cache's own age limit. */
  set(token: string, value: T, expSeconds: number): void {
    if (this.#maxAgeMs <= 0 || token.length > this.#maxBytes) return;
    const now = this.#now();
    const expiresAt = Math.min(expSeconds * 1000, now + this.#maxAgeMs);
    if (!(expiresAt > now)) return;
    const key = digest(token);
    const old = this.#entries.get(key);
    if (old) this.#delete(key, old);
    this.#entries.set(key, { value, expiresAt, bytes: token.length });
    this.#bytes += token.length;
    // Oldest first: a Map iterates in insertion order.
    for (const [k, e] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#delete(k, e);
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  #delete(key: string, entry: Entry<T>): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}

const digest = (token: string): string => createHash('sha256').update(token).digest('base64url');
