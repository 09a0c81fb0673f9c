/**
 * Shared state for many gateway instances: a small key-value interface with two implementations,
 * Redis (ioredis: one server, or a Cluster) and memory (one instance alone, the default when no
 * Redis is configured). Caches, stored runs, single-flight locks and rate limits are built on it.
 *
 * A store never makes a request wait on it for long, and never fails one: every Redis command has a
 * deadline (`timeoutMs`, default 50), and an unreachable or slow Redis makes reads miss and writes do
 * nothing, so callers go to Metabase as if nothing were cached. The store reports itself `degraded`
 * (for /readyz), logs the change once rather than per request, and recovers by itself when Redis
 * answers again.
 *
 * Keys are `<prefix><version>:<key>` (default prefix `mgw:`, version `v1`), so a format change moves
 * to new keys instead of reading old ones. A key that must sit beside others on one Redis Cluster
 * slot (multi-key commands) carries a hash tag: `tagged(scope, ...)` gives `{scope}:...`. Nothing
 * here scans the keyspace.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { ExpiringMap } from '../utils/expiring-map.js';

export type StoreState = 'ok' | 'degraded';

export interface SharedStore {
  readonly kind: 'memory' | 'redis';
  readonly state: StoreState;
  /** The value, or null on a miss (or when the store cannot answer in time). */
  get(key: string): Promise<Buffer | null>;
  /** Stores the value for `ttlMs`; false when it could not be stored. */
  set(key: string, value: Buffer | string, ttlMs: number): Promise<boolean>;
  /** Keeps an existing key at least `ttlMs` longer: true when the key exists (a miss or no answer: false). */
  extend(key: string, ttlMs: number): Promise<boolean>;
  /** Stores the value only if the key holds none: true when stored, false when taken, null when the store cannot say. */
  setIfAbsent(key: string, value: Buffer | string, ttlMs: number): Promise<boolean | null>;
  /**
   * A lock: stores the value if the key holds none and resolves true; otherwise resolves to the value
   * the key holds, read in the same step (so a holder that lets go at that moment is never missed);
   * null when the store cannot say.
   */
  takeOrRead(key: string, value: string, ttlMs: number): Promise<true | string | null>;
  /** Deletes the key if it holds exactly `value` (releasing a lock one holds); true when deleted. */
  deleteIfEquals(key: string, value: Buffer | string): Promise<boolean>;
  close(): Promise<void>;
}

/** A key whose parts land on one Redis Cluster slot: `{scope}:part:part`. */
export function tagged(scope: string, ...parts: string[]): string {
  // Braces inside the scope would end the tag early and split related keys across slots.
  return [`{${scope.replace(/[{}]/g, '_')}}`, ...parts].join(':');
}

export const KEY_VERSION = 'v1';

export interface StoreLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface RedisStoreOptions {
  /** `redis://` or `rediss://` URL of one server; or `cluster`. */
  readonly url?: string;
  /** Seed nodes of a Redis Cluster. */
  readonly cluster?: readonly { host: string; port: number }[];
  /** Sentinels watching the server named `name`: the store follows that server through failovers. */
  readonly sentinels?: { readonly nodes: readonly { host: string; port: number }[]; readonly name: string };
  /** The password of a Cluster's nodes or the Sentinel-watched server (a URL carries its own). */
  readonly password?: string;
  /** Key prefix before the version. Default `mgw:`. */
  readonly prefix?: string;
  /** Longest a request waits on one Redis command, in ms. Default 50. */
  readonly timeoutMs?: number;
  readonly logger?: StoreLogger;
}

/** How long commands on a live connection must fail, with no success between, for the store to be degraded. */
const FAILING_FOR_MS = 1_000;

const DELETE_IF_EQUALS = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class RedisStore implements SharedStore {
  readonly kind = 'redis' as const;
  readonly #client: Redis | Cluster;
  readonly #prefix: string;
  readonly #logger: StoreLogger | undefined;
  /** Starts degraded: nothing is read from or written to Redis before it is ready. */
  #state: StoreState = 'degraded';
  readonly #waiters = new Set<{ state: StoreState; resolve(): void }>();
  /** The state last logged (null: none yet). */
  #logged: StoreState | null = null;
  /** Since when every command has failed (performance.now()), or null. */
  #failingSince: number | null = null;

  constructor(options: RedisStoreOptions) {
    if ([options.url, options.cluster, options.sentinels].filter((o) => o !== undefined).length !== 1) {
      throw new TypeError('a Redis store needs exactly one of a url, cluster nodes or sentinels');
    }
    const timeoutMs = options.timeoutMs ?? 50;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError(`Redis timeoutMs must be a positive number, received ${timeoutMs}`);
    this.#prefix = `${options.prefix ?? 'mgw:'}${KEY_VERSION}:`;
    this.#logger = options.logger;
    const common: RedisOptions = {
      // A command never waits in a queue for a connection that is down, nor longer than the deadline.
      enableOfflineQueue: false, commandTimeout: timeoutMs, maxRetriesPerRequest: 0,
      connectTimeout: Math.max(1_000, timeoutMs), lazyConnect: false,
      // Reconnect forever, at most once a second: recovery needs no restart.
      retryStrategy: (times) => Math.min(1_000, 50 * times),
    };
    const password = options.password ? { password: options.password } : {};
    if (options.url) this.#client = new Redis(options.url, common);
    else if (options.sentinels) {
      this.#client = new Redis({
        ...common, ...password, sentinels: options.sentinels.nodes.map((n) => ({ ...n })), name: options.sentinels.name,
        sentinelRetryStrategy: (times) => Math.min(1_000, 50 * times),
      });
    } else {
      this.#client = new Cluster([...options.cluster!], { redisOptions: { ...common, ...password }, enableOfflineQueue: false, clusterRetryStrategy: (times) => Math.min(1_000, 50 * times) });
    }
    this.#client.on('ready', () => {
      this.#mark('ok');
      this.#checkVersion();
    });
    // Errors are reported by state, once per change; ioredis would otherwise print them unheard.
    this.#client.on('error', (err: Error) => this.#mark('degraded', err));
    // A lost connection is degraded at once, before any command fails on it.
    this.#client.on('close', () => this.#mark('degraded'));
  }

  get state(): StoreState {
    return this.#state;
  }

  /** The ioredis client, for libraries that speak to Redis themselves (rate limits); it has the store's deadline. */
  get client(): Redis | Cluster {
    return this.#client;
  }

  /**
   * Runs a command of a library that speaks to Redis itself (rate limits) as the store's own are run:
   * its success or failure counts toward the store's state, so a role whose limits fail closed sees
   * Redis come back as soon as one of its own commands succeeds. `isAnswer` tells a refusal that
   * Redis answered (a limit reached) from a failure to answer.
   */
  async observe<T>(command: () => Promise<T>, isAnswer: (err: unknown) => boolean = () => false): Promise<T> {
    try {
      const result = await command();
      this.#succeeded();
      return result;
    } catch (err) {
      if (isAnswer(err)) this.#succeeded();
      else this.#failed(err);
      throw err;
    }
  }

  /** The full key of `key`, prefix and version included: for libraries that add no prefix of their own. */
  key(key: string): string {
    return this.#prefix + key;
  }

  /** Resolves when the store is in `state` (now or later); rejects after `timeoutMs`. For start-up, /readyz and tests. */
  whenState(state: StoreState, timeoutMs = 5_000): Promise<void> {
    if (this.#state === state && (state === 'degraded' || this.#client.status === 'ready')) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { state, resolve: () => {
        clearTimeout(timer);
        resolve();
      } };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`the Redis store was not ${state} within ${timeoutMs} ms (connection ${this.#client.status})`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  async get(key: string): Promise<Buffer | null> {
    return this.#attempt(() => this.#client.getBuffer(this.#prefix + key), null);
  }

  async set(key: string, value: Buffer | string, ttlMs: number): Promise<boolean> {
    return this.#attempt(async () => (await this.#client.set(this.#prefix + key, value, 'PX', ttl(ttlMs))) === 'OK', false);
  }

  async extend(key: string, ttlMs: number): Promise<boolean> {
    // GT: never shortens a longer expiry another writer set.
    return this.#attempt(async () => (await this.#client.pexpire(this.#prefix + key, ttl(ttlMs), 'GT')) === 1, false);
  }

  async setIfAbsent(key: string, value: Buffer | string, ttlMs: number): Promise<boolean | null> {
    return this.#attempt(async () => (await this.#client.set(this.#prefix + key, value, 'PX', ttl(ttlMs), 'NX')) === 'OK', null);
  }

  async takeOrRead(key: string, value: string, ttlMs: number): Promise<true | string | null> {
    // SET NX GET (Redis 7): one atomic step that either takes the key or reads its holder.
    return this.#attempt(async () => {
      const held = await this.#client.set(this.#prefix + key, value, 'PX', ttl(ttlMs), 'NX', 'GET');
      return held === null ? true : held;
    }, null);
  }

  async deleteIfEquals(key: string, value: Buffer | string): Promise<boolean> {
    return this.#attempt(async () => Number(await this.#client.eval(DELETE_IF_EQUALS, 1, this.#prefix + key, value)) === 1, false);
  }

  async close(): Promise<void> {
    this.#client.removeAllListeners('close');
    await this.#client.quit().catch(() => this.#client.disconnect());
  }

  /**
   * Runs one command; a failure (down, slow, refused) gives `fallback`. The store turns degraded when
   * the connection is lost, or when commands on a live one have failed, with no success between,
   * for `FAILING_FOR_MS` (commands late under a burst of load are not an outage, and must not flap
   * the state and the log).
   */
  async #attempt<T>(command: () => Promise<T>, fallback: T): Promise<T> {
    try {
      const result = await command();
      this.#succeeded();
      return result;
    } catch (err) {
      this.#failed(err);
      return fallback;
    }
  }

  #succeeded(): void {
    this.#failingSince = null;
    // A slow Redis answers again without reconnecting: an answer is what says it is back.
    if (this.#state !== 'ok') this.#mark('ok');
  }

  #failed(err: unknown): void {
    const now = performance.now();
    this.#failingSince ??= now;
    if (now - this.#failingSince >= FAILING_FOR_MS || this.#client.status !== 'ready') this.#mark('degraded', err);
  }

  /** Shared runs take their lock with SET NX GET, which Redis 7 brought: an older server is named in the log, once. */
  #versionChecked = false;
  #checkVersion(): void {
    if (this.#versionChecked) return;
    this.#versionChecked = true;
    void (this.#client as Redis).info('server').then((info) => {
      const version = /redis_version:(\d+)\.(\d+)/.exec(info);
      if (version && Number(version[1]) < 7) {
        this.#logger?.warn({ event: 'store.old-redis', version: `${version[1]}.${version[2]}` }, 'Redis 7 or later is needed: with this one, identical runs on different instances are not shared');
      }
    }, () => undefined);
  }

  #mark(state: StoreState, err?: unknown): void {
    this.#state = state;
    for (const w of [...this.#waiters]) {
      if (w.state === state) {
        this.#waiters.delete(w);
        w.resolve();
      }
    }
    // Logged once per change: the first connection is not news; failing to connect, or losing it, is.
    if (state === this.#logged || (this.#logged === null && state === 'ok')) {
      this.#logged = state;
      return;
    }
    this.#logged = state;
    if (state === 'degraded') {
      this.#logger?.warn({ event: 'store.degraded', problem: err instanceof Error ? err.message.slice(0, 200) : 'connection ended' }, 'Redis is not answering: caches are bypassed and limits fall back until it does');
    } else {
      this.#logger?.info({ event: 'store.recovered' }, 'Redis answers again');
    }
  }
}

const ttl = (ms: number): number => Math.max(1, Math.ceil(ms));

export interface MemoryStoreOptions {
  /** Most entries held; the least recently used go first. Default 100,000. */
  readonly maxEntries?: number;
  /** Most bytes of values held. Default 64 MiB. */
  readonly maxBytes?: number;
  readonly now?: () => number;
}

/** What an entry costs beside its key and value: the map's slot, the entry record, the Buffer and its ArrayBuffer. */
export const ENTRY_OVERHEAD_BYTES = 200;

/**
 * The value's bytes in memory of their own. A small Buffer (under 4 KiB) is a slice of a shared 8 KiB
 * pool, and a Buffer read from a larger one is a view of it: kept as they are, each entry would keep
 * all of that memory alive while the store counts only its own bytes (measured: 8 KiB held for every
 * 300-byte kept-run record, 280 MB under a store bounded at 8 MiB).
 */
function ownedBytes(value: Buffer | string): Buffer {
  if (typeof value === 'string') {
    const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(value));
    bytes.write(value);
    return bytes;
  }
  if (value.byteOffset === 0 && value.buffer.byteLength === value.length) return value;
  const bytes = Buffer.allocUnsafeSlow(value.length);
  value.copy(bytes);
  return bytes;
}

/** The store of one instance alone: the same interface in this process's memory, bounded. */
export class MemoryStore implements SharedStore {
  readonly kind = 'memory' as const;
  readonly state = 'ok' as const;
  readonly #entries: ExpiringMap<Buffer>;

  constructor(options: MemoryStoreOptions = {}) {
    this.#entries = new ExpiringMap({ maxEntries: options.maxEntries ?? 100_000, touchOnRead: true, maxBytes: options.maxBytes ?? 64 * 1024 * 1024, ...(options.now ? { now: options.now } : {}) });
  }

  get size(): number {
    return this.#entries.size;
  }

  async get(key: string): Promise<Buffer | null> {
    return this.#entries.get(key) ?? null;
  }

  async set(key: string, value: Buffer | string, ttlMs: number): Promise<boolean> {
    const buffer = ownedBytes(value);
    return this.#entries.set(key, buffer, buffer.length + key.length * 2 + ENTRY_OVERHEAD_BYTES, this.#entries.now() + ttl(ttlMs));
  }

  async extend(key: string, ttlMs: number): Promise<boolean> {
    return this.#entries.extend(key, this.#entries.now() + ttl(ttlMs));
  }

  async setIfAbsent(key: string, value: Buffer | string, ttlMs: number): Promise<boolean | null> {
    if (this.#entries.get(key)) return false;
    return this.set(key, value, ttlMs);
  }

  async takeOrRead(key: string, value: string, ttlMs: number): Promise<true | string | null> {
    const held = this.#entries.get(key);
    if (held) return held.toString();
    await this.set(key, value, ttlMs);
    return true;
  }

  async deleteIfEquals(key: string, value: Buffer | string): Promise<boolean> {
    const held = this.#entries.get(key);
    if (!held || !held.equals(Buffer.isBuffer(value) ? value : Buffer.from(value))) return false;
    return this.#entries.delete(key);
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}
