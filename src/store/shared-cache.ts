/**
 * Caching and single-flight over the shared store, for values that are costly to fetch (Metabase's
 * metadata and query runs). Nothing here waits on the store longer than its deadline, and a store
 * that cannot answer only means more calls to Metabase, never a failed request.
 *
 * - `read`: a value kept for `ttlMs`, then served stale for up to `staleMs` more while one refresh
 *   (one per key across every instance, by a short lock) fetches a fresh one in the background.
 * - `share`: identical work in flight at once is done once. Within an instance, callers join the
 *   first caller's promise; across instances, the first to take a short lock in the store runs it
 *   and hands the result over under the lock's token, and the others wait for it (or, when it does
 *   not come in time or the leader fails, run it themselves).
 *
 * Each instance also keeps what it read or wrote last, decoded, while it is fresh (`localMaxBytes`):
 * a hot entry is then served without a store round trip or decoding it again (checking a kept
 * 2,000-row run costs about as much as the rest of the request). Only fresh entries are served from
 * there: a stale one is read from the store, where another instance may have refreshed it.
 */
import { randomBytes } from 'node:crypto';
import { ExpiringMap } from '../utils/expiring-map.js';
import type { SharedStore } from './store.js';

/** How a value is written to and read back from the store; `decode` throws on anything it did not write. */
export interface Codec<T> {
  encode(value: T, storedAt: number): string;
  decode(text: string): { value: T; storedAt: number };
}

/** A JSON envelope `{"at":ms,"v":value}` for plain data (objects, arrays, strings, numbers). */
export function jsonCodec<T>(): Codec<T> {
  return {
    encode: (value, storedAt) => JSON.stringify({ at: storedAt, v: value }),
    decode: (text) => {
      const o = JSON.parse(text) as { at?: unknown; v?: unknown } | null;
      if (o === null || typeof o !== 'object' || typeof o.at !== 'number' || !('v' in o)) throw new SyntaxError('not a cache entry');
      return { value: o.v as T, storedAt: o.at };
    },
  };
}

export interface Freshness {
  /** How long a value is fresh, in ms; 0: not cached. */
  readonly ttlMs: number;
  /** How long past `ttlMs` it is still served while a fresh one is fetched, in ms. */
  readonly staleMs: number;
}

export type ReadOutcome = 'fresh' | 'stale' | 'miss';

export interface ShareOptions {
  /** Keep the result this long for later callers (a result cache); 0: only callers already waiting get it. */
  readonly keepMs: number;
  /** The longest a caller waits for another instance's run before running it itself, in ms. */
  readonly waitMs: number;
  /** The lock's lifetime: past it, a leader that died no longer holds others back. */
  readonly lockMs: number;
  /** The caller's own signal: it stops waiting when it aborts. */
  readonly signal?: AbortSignal;
  /** Whether an error of the run is the run's own answer (shared with those who waited), or the leader's trouble (they run it themselves). */
  readonly shareable?: (err: unknown) => boolean;
}

/** Where a shared result came from: the store (kept earlier), another caller's run, or this caller's run. */
export type ShareOutcome = 'cache' | 'shared' | 'ran';

export interface SharedCacheOptions {
  /** Largest encoded value written to the store, in bytes; larger ones are not kept. Default 8 MiB. */
  readonly maxValueBytes?: number;
  /** How long a handed-over result stays for callers that were waiting for it, in ms. Default 10,000. */
  readonly handOverMs?: number;
  /** How long one instance's refresh of a stale entry holds off the others', in ms. Default 10,000. */
  readonly refreshLockMs?: number;
  /** Bytes of decoded entries this instance keeps beside the store (0: none). Default 32 MiB. */
  readonly localMaxBytes?: number;
  readonly now?: () => number;
}

/** Between polls for another instance's result: from 5 ms, growing to 50 ms. */
const FIRST_POLL_MS = 5;
const LAST_POLL_MS = 50;

export class SharedCache {
  readonly #store: SharedStore;
  readonly #maxValueBytes: number;
  readonly #handOverMs: number;
  readonly #refreshLockMs: number;
  readonly #now: () => number;
  readonly #flights = new Map<string, Promise<{ value: unknown; storedAt: number }>>();
  readonly #refreshing = new Set<string>();
  readonly #loads = new Map<string, Promise<unknown>>();
  /** Decoded entries by key, each until it is no longer fresh; bounded by the text size they came from. */
  readonly #local: ExpiringMap<{ value: unknown; storedAt: number }> | null;

  constructor(store: SharedStore, options: SharedCacheOptions = {}) {
    this.#store = store;
    this.#maxValueBytes = options.maxValueBytes ?? 8 * 1024 * 1024;
    this.#handOverMs = options.handOverMs ?? 10_000;
    this.#refreshLockMs = options.refreshLockMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    const localMaxBytes = options.localMaxBytes ?? 32 * 1024 * 1024;
    this.#local = localMaxBytes > 0 ? new ExpiringMap({ maxEntries: 10_000, maxBytes: localMaxBytes, now: this.#now }) : null;
  }

  /** Runs (and keys) sharing one result now, in this instance. */
  get inFlight(): number {
    return this.#flights.size;
  }

  /**
   * The value under `key`: fresh from the store; stale from the store while `refresh` fetches a new
   * one in the background; or loaded now by `load` (and stored). A value the codec cannot read is a miss.
   */
  async read<T>(key: string, freshness: Freshness, codec: Codec<T>, load: () => Promise<T>, refresh: () => Promise<T> = load): Promise<{ value: T; outcome: ReadOutcome }> {
    if (freshness.ttlMs <= 0) return { value: await load(), outcome: 'miss' };
    const local = this.#local?.get(key) as { value: T; storedAt: number } | undefined;
    if (local && this.#now() - local.storedAt < freshness.ttlMs) return { value: local.value, outcome: 'fresh' };
    const held = await this.#get(key, codec, freshness.ttlMs);
    if (held) {
      const age = this.#now() - held.storedAt;
      if (age >= 0 && age < freshness.ttlMs) return { value: held.value, outcome: 'fresh' };
      if (age >= 0 && age < freshness.ttlMs + freshness.staleMs) {
        this.#refresh(key, freshness, codec, refresh);
        return { value: held.value, outcome: 'stale' };
      }
    }
    // Callers missing the same key at once in this instance share one load; if that caller's load
    // fails (its request ended, say), the others load for themselves.
    const loading = this.#loads.get(key) as Promise<T> | undefined;
    if (loading) {
      try {
        return { value: await loading, outcome: 'miss' };
      } catch {
        return { value: await load(), outcome: 'miss' };
      }
    }
    const loaded = load();
    this.#loads.set(key, loaded);
    try {
      const value = await loaded;
      void this.#put(key, codec, value, freshness.ttlMs + freshness.staleMs, freshness.ttlMs).catch(() => undefined);
      return { value, outcome: 'miss' };
    } finally {
      this.#loads.delete(key);
    }
  }

  /**
   * `run`'s result, shared: kept from an earlier run (`keepMs`), or from a run in flight now in this
   * instance or another, or from running it now. The caller that runs it keeps it for `keepMs` and
   * hands it over to the others.
   */
  async share<T>(key: string, codec: Codec<T>, run: () => Promise<T>, options: ShareOptions): Promise<{ value: T; outcome: ShareOutcome; storedAt: number }> {
    if (options.keepMs > 0) {
      const fresh = (e: { storedAt: number } | null | undefined): boolean => !!e && this.#now() - e.storedAt < options.keepMs;
      // This instance's copy when it is fresh enough for this caller, else the store's (another instance may have a newer one).
      const local = this.#local?.get(`${key}:r`) as { value: T; storedAt: number } | undefined;
      const kept = fresh(local) ? local! : await this.#get(`${key}:r`, codec, options.keepMs);
      if (kept && fresh(kept)) return { ...kept, outcome: 'cache' };
    }
    const joined = this.#flights.get(key) as Promise<{ value: T; storedAt: number }> | undefined;
    if (joined) {
      try {
        return { ...(await abortable(joined, options.signal)), outcome: 'shared' };
      } catch (err) {
        // The leader's own trouble (its request ended, its allowance ran out) is not this caller's answer.
        if (options.signal?.aborted || options.shareable?.(err)) throw err;
        const value = await run();
        return { value, outcome: 'ran', storedAt: this.#now() };
      }
    }
    let ran = false;
    const flight = this.#lead(key, codec, async () => {
      ran = true;
      return run();
    }, options);
    this.#flights.set(key, flight);
    try {
      const result = await flight;
      return { ...result, outcome: ran ? 'ran' : 'shared' };
    } finally {
      this.#flights.delete(key);
    }
  }

  async #lead<T>(key: string, codec: Codec<T>, run: () => Promise<T>, options: ShareOptions): Promise<{ value: T; storedAt: number }> {
    // One instance alone needs no lock: the map of flights is the whole story.
    if (this.#store.kind === 'memory') return this.#runAndKeep(key, codec, run, options, null);
    const token = randomBytes(9).toString('base64url');
    const lock = await this.#store.takeOrRead(`${key}:l`, token, options.lockMs);
    // Taken: this instance runs it and hands it over. Unknown (the store did not answer): it runs alone.
    if (lock === true || lock === null) return this.#runAndKeep(key, codec, run, options, lock ? token : null);
    const handedOver = await this.#awaitHandOver(key, lock, codec, options);
    if (handedOver) return handedOver;
    // A caller whose request ended while it waited runs nothing.
    if (options.signal?.aborted) throw options.signal.reason;
    return this.#runAndKeep(key, codec, run, options, null);
  }

  async #runAndKeep<T>(key: string, codec: Codec<T>, run: () => Promise<T>, options: ShareOptions, token: string | null): Promise<{ value: T; storedAt: number }> {
    let value: T;
    try {
      value = await run();
    } catch (err) {
      if (token) void this.#store.deleteIfEquals(`${key}:l`, token);
      throw err;
    }
    const storedAt = this.#now();
    if (options.keepMs > 0 || token) {
      // Written after the answer is on its way: the response never waits for the store. The store
      // never rejects (a failure is a miss); an encoder that throws loses only the keeping.
      void (async () => {
        const text = this.#encode(codec, value, storedAt);
        if (text !== null && options.keepMs > 0) this.#remember(`${key}:r`, value, storedAt, text.length, options.keepMs);
        if (text !== null) {
          await Promise.all([
            options.keepMs > 0 ? this.#store.set(`${key}:r`, text, options.keepMs) : undefined,
            token ? this.#store.set(`${key}:h:${token}`, text, this.#handOverMs) : undefined,
          ]);
        }
        if (token) await this.#store.deleteIfEquals(`${key}:l`, token);
      })().catch(() => undefined);
    }
    return { value, storedAt };
  }

  /** Waits for the result of the lock's `holder`: null when the lock goes without one, or `waitMs` passes. */
  async #awaitHandOver<T>(key: string, holder: string, codec: Codec<T>, options: ShareOptions): Promise<{ value: T; storedAt: number } | null> {
    const handOverKey = `${key}:h:${holder}`;
    const until = this.#now() + options.waitMs;
    let pause = FIRST_POLL_MS;
    // The holder may have finished already: its result is then there at the first look.
    for (let first = true; first || (this.#now() < until && !options.signal?.aborted); first = false) {
      if (!first) {
        await sleep(pause, options.signal);
        pause = Math.min(LAST_POLL_MS, Math.ceil(pause * 1.5));
      }
      const result = await this.#get(handOverKey, codec);
      if (result) return result;
      const still = await this.#store.get(`${key}:l`);
      if (!still || still.toString() !== holder) {
        // The result may have landed between the two reads.
        return this.#get(handOverKey, codec);
      }
    }
    return null;
  }

  #refresh<T>(key: string, freshness: Freshness, codec: Codec<T>, refresh: () => Promise<T>): void {
    if (this.#refreshing.has(key)) return;
    this.#refreshing.add(key);
    void (async () => {
      try {
        // One refresh per key across every instance; null (the store cannot say) refreshes anyway.
        const token = randomBytes(9).toString('base64url');
        if ((await this.#store.setIfAbsent(`${key}:f`, token, this.#refreshLockMs)) === false) return;
        try {
          const value = await refresh();
          await this.#put(key, codec, value, freshness.ttlMs + freshness.staleMs, freshness.ttlMs);
        } finally {
          await this.#store.deleteIfEquals(`${key}:f`, token);
        }
      } catch {
        // The stale value stays until it expires; the next read after that loads it in the open.
      } finally {
        this.#refreshing.delete(key);
      }
    })();
  }

  /** Reads and decodes an entry; one that is fresh for `freshMs` more is remembered decoded. */
  async #get<T>(key: string, codec: Codec<T>, freshMs?: number): Promise<{ value: T; storedAt: number } | null> {
    const raw = await this.#store.get(key);
    if (!raw) return null;
    try {
      const entry = codec.decode(raw.toString('utf8'));
      if (freshMs !== undefined) this.#remember(key, entry.value, entry.storedAt, raw.length, freshMs);
      return entry;
    } catch {
      return null;
    }
  }

  async #put<T>(key: string, codec: Codec<T>, value: T, ttlMs: number, freshMs = ttlMs): Promise<void> {
    const storedAt = this.#now();
    const text = this.#encode(codec, value, storedAt);
    if (text === null) return;
    this.#remember(key, value, storedAt, text.length, freshMs);
    await this.#store.set(key, text, ttlMs);
  }

  #remember(key: string, value: unknown, storedAt: number, bytes: number, freshMs: number): void {
    const until = storedAt + freshMs;
    if (this.#local && until > this.#now()) this.#local.set(key, { value, storedAt }, bytes, until);
  }

  #encode<T>(codec: Codec<T>, value: T, storedAt: number): string | null {
    const text = codec.encode(value, storedAt);
    // Length in UTF-16 units bounds the bytes from below; the exact count is taken only near the cap.
    if (text.length > this.#maxValueBytes || (text.length * 3 > this.#maxValueBytes && Buffer.byteLength(text) > this.#maxValueBytes)) return null;
    return text;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
