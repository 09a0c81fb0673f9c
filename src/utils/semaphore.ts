/**
 * Caps how many async tasks run at once. Waiting tasks queue per key (the gateway's key is the
 * viewer) and a freed slot goes to the keys in turn, each key's tasks in arrival order: a caller with
 * a hundred calls queued delays another caller by at most one call per turn, never by its whole queue.
 * With one key it is a plain FIFO semaphore.
 */
export class Semaphore {
  private active = 0;
  /** Waiting grants per key; a Map keeps insertion order, which is the turn order. */
  private readonly queues = new Map<string, (() => void)[]>();
  private queued = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`Semaphore limit must be a positive integer, received ${limit}`);
  }

  /** Tasks currently running. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot, over all keys. */
  get waiting(): number {
    return this.queued;
  }

  /**
   * Runs the task when a slot is free and it is `key`'s turn; gives up waiting (rejecting with its
   * reason) if `signal` aborts first.
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal, key = ''): Promise<T> {
    signal?.throwIfAborted();
    if (this.active >= this.limit) await this.wait(key, signal);
    else this.active++;
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /** Hands the slot straight to the next key's first waiter, so a late arrival cannot jump the queue. */
  private release(): void {
    const next = this.queues.entries().next();
    if (next.done) {
      this.active--;
      return;
    }
    const [key, queue] = next.value;
    const grant = queue.shift()!;
    // The key goes to the back of the turn order, or leaves it when it has no one waiting.
    this.queues.delete(key);
    if (queue.length) this.queues.set(key, queue);
    this.queued--;
    grant();
  }

  private wait(key: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let queue = this.queues.get(key);
      if (!queue) this.queues.set(key, (queue = []));
      const onAbort = (): void => {
        const i = queue.indexOf(grant);
        if (i < 0) return;
        queue.splice(i, 1);
        this.queued--;
        if (!queue.length && this.queues.get(key) === queue) this.queues.delete(key);
        reject(signal!.reason);
      };
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      queue.push(grant);
      this.queued++;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
