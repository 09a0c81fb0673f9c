/**
 * A map whose entries expire, bounded by entry count and by the bytes its entries stand for; past
 * either bound the oldest entries go first (a Map iterates in insertion order). Expired entries are
 * dropped when met. Synchronous: the verified-token cache and the in-memory store are built on it.
 */
export interface ExpiringMapOptions {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** The clock, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** A read moves the entry to the back of the eviction order (least recently used goes first). Default false: oldest written goes first. */
  readonly touchOnRead?: boolean;
}

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
  readonly bytes: number;
}

export class ExpiringMap<V> {
  readonly #entries = new Map<string, Entry<V>>();
  #bytes = 0;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly now: () => number;
  readonly #touchOnRead: boolean;

  constructor(options: ExpiringMapOptions) {
    this.#touchOnRead = options.touchOnRead ?? false;
    this.#maxEntries = options.maxEntries;
    this.#maxBytes = options.maxBytes;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value, if it is there and has not expired. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.delete(key);
      return undefined;
    }
    if (this.#touchOnRead) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry.value;
  }

  /** Holds `value` until `expiresAt`; false (nothing held) when it alone is larger than the byte bound. */
  set(key: string, value: V, bytes: number, expiresAt: number): boolean {
    if (bytes > this.#maxBytes) return false;
    this.delete(key);
    this.#entries.set(key, { value, expiresAt, bytes });
    this.#bytes += bytes;
    for (const [k] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.delete(k);
    }
    return true;
  }

  /** Moves an entry's expiry to `expiresAt` (and to the back of the eviction order); false when there is none. */
  extend(key: string, expiresAt: number): boolean {
    const entry = this.#entries.get(key);
    if (!entry || entry.expiresAt <= this.now()) return false;
    this.#entries.delete(key);
    this.#entries.set(key, { ...entry, expiresAt: Math.max(entry.expiresAt, expiresAt) });
    return true;
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    return true;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
