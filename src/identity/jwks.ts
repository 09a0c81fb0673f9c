/**
 * The identity provider's signing keys, cached. A token whose `kid` is unknown triggers one refresh,
 * at most once per cooldown, so a flood of bad tokens cannot hammer the IdP. Keys older than
 * `maxAgeMs` are refreshed in the background; while the IdP is unreachable the keys already held
 * keep working. Only the very first fetch can fail a request.
 */
import { readJson } from '../utils/read-json.js';
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';

export interface JwksCacheOptions {
  /** Finds the key set's URL (OIDC discovery); called again after a failure. */
  readonly locate: () => Promise<URL>;
  readonly timeoutMs: number;
  /** Least time between two refreshes caused by unknown key ids. Default 30 s. */
  readonly cooldownMs?: number;
  /** Age after which keys are refreshed in the background. Default 10 min. */
  readonly maxAgeMs?: number;
  /** Least time between two attempts while no key is held yet (the IdP was down at start). Default 2 s. */
  readonly retryMs?: number;
  /** Told about background refresh failures (the cached keys stay in use). */
  readonly onRefreshError?: (err: unknown) => void;
  readonly now?: () => number;
}

/** Largest key set read (a few dozen RSA keys take some 30 KB). */
const MAX_KEY_SET_BYTES = 512 * 1024;

type LocalSet = ReturnType<typeof createLocalJWKSet>;

export class JwksCache {
  readonly #options: Required<Omit<JwksCacheOptions, 'onRefreshError'>> & Pick<JwksCacheOptions, 'onRefreshError'>;
  #local: LocalSet | undefined;
  #fetchedAt = 0;
  #lastAttempt = -Infinity;
  #inflight: Promise<void> | undefined;
  /** Fetches of the key set made so far (successful or not). */
  fetches = 0;

  constructor(options: JwksCacheOptions) {
    this.#options = { cooldownMs: 30_000, maxAgeMs: 10 * 60_000, retryMs: 2_000, now: Date.now, ...options };
  }

  /** The key for a token's header, as `jose.jwtVerify` asks for it. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Awaited<ReturnType<LocalSet>>> => {
    const now = this.#options.now();
    const sinceAttempt = now - this.#lastAttempt;
    if (!this.#local) {
      // No key yet: try, but not more often than retryMs, whatever the number of callers.
      if (sinceAttempt < this.#options.retryMs && !this.#inflight) throw new Error('the identity provider\'s keys could not be fetched; retrying shortly');
      await this.refresh();
    } else if (now - this.#fetchedAt > this.#options.maxAgeMs && sinceAttempt >= this.#options.cooldownMs) {
      // Stale keys are refreshed in the background, at most once per cooldown while the IdP is down.
      this.refresh().catch((err: unknown) => this.#options.onRefreshError?.(err));
    }
    try {
      return await this.#local!(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || now - this.#lastAttempt < this.#options.cooldownMs) throw err;
      // An unknown kid may be a key the IdP just rotated in: refresh once, then decide.
      await this.refresh().catch((refreshErr: unknown) => this.#options.onRefreshError?.(refreshErr));
      return this.#local!(header, token);
    }
  };

  /** Fetches the key set once for all concurrent callers; the old keys stay if it fails. */
  refresh(): Promise<void> {
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #fetch(): Promise<void> {
    this.#lastAttempt = this.#options.now();
    this.fetches += 1;
    const url = await this.#options.locate();
    const res = await fetch(url, { signal: AbortSignal.timeout(this.#options.timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`the key set at ${url.href} answered ${res.status}`);
    const body = (await readJson(res, MAX_KEY_SET_BYTES, `the key set at ${url.href}`)) as JSONWebKeySet | null;
    if (body === null || typeof body !== 'object' || !Array.isArray(body.keys)) throw new Error(`the key set at ${url.href} has no "keys" list`);
    this.#local = createLocalJWKSet(body);
    this.#fetchedAt = this.#options.now();
  }
}
