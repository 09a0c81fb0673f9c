/**
 * Limits shared by every gateway instance through Redis.
 *
 * - Requests and query runs per minute per caller: rate-limiter-flexible's RateLimiterRedis (one
 *   atomic command per request, a fixed one-minute window per caller key, one key per command so it
 *   works on a Redis Cluster).
 * - Query runs at once per caller: a sorted set of leases per caller, scored by when each lapses,
 *   taken and counted in one short script (the library has no concurrency limit): a lease an
 *   instance never gave back (it died) lapses by itself.
 *
 * While Redis does not answer within the store's deadline, each instance counts on its own (the
 * library's insurance limiter, or an in-process count), so requests keep being served and limited,
 * per instance; a role that fails closed is refused instead. When Redis answers again the shared
 * counts apply again.
 */
import { randomBytes } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { CONCURRENCY_RETRY_MS, localConcurrencyLimiter, type Admission, type ConcurrencyLimiter, type RequestLimiter } from './rate-limiter.js';
import type { RedisStore } from './store.js';

/** Refused because the shared count cannot be read: retry in a second. */
const UNAVAILABLE = { allowed: false, retryAfterMs: 1_000, unavailable: true } as const;

export function sharedRequestLimiter(store: RedisStore): RequestLimiter {
  // One limiter per allowance and failure mode: a tier's `requestsPerMinute` is its number of points.
  const limiters = new Map<string, RateLimiterRedis>();
  const limiterFor = (perMinute: number, failClosed: boolean): RateLimiterRedis => {
    const id = `${perMinute}:${failClosed}`;
    let limiter = limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: store.client, points: perMinute, duration: 60, keyPrefix: store.key(`rl:${perMinute}`),
        // Failing closed means no count in this instance to fall back on.
        ...(failClosed ? {} : { insuranceLimiter: new RateLimiterMemory({ points: perMinute, duration: 60 }) }),
      });
      limiters.set(id, limiter);
    }
    return limiter;
  };
  return {
    async take(key, perMinute, options = {}): Promise<Admission> {
      const failClosed = options.failClosed ?? false;
      try {
        // Tried even while the store is degraded (it fails fast, or within the deadline): a role that
        // fails closed must see Redis come back through its own commands. (A limiter with insurance
        // answers from memory when Redis does not: its answers say nothing of Redis.)
        const consume = (): Promise<unknown> => limiterFor(perMinute, failClosed).consume(key);
        await (failClosed ? store.observe(consume, (err) => err instanceof RateLimiterRes) : consume());
        return { allowed: true };
      } catch (refused) {
        if (refused instanceof RateLimiterRes) return { allowed: false, retryAfterMs: Math.max(1, refused.msBeforeNext) };
        // Neither Redis nor the insurance limiter could say: admit, as a per-instance limiter that lost its count would.
        return failClosed ? UNAVAILABLE : { allowed: true };
      }
    },
  };
}

const TAKE_LEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1`;

/**
 * @param leaseMs how long a lease lasts if it is never given back: the longest a run can take (the
 *   Metabase call's timeout) and a margin.
 */
export function sharedConcurrencyLimiter(store: RedisStore, leaseMs: number): ConcurrencyLimiter {
  const local = localConcurrencyLimiter();
  return {
    async acquire(key, max, options = {}) {
      const failClosed = options.failClosed ?? false;
      if (store.state !== 'ok' && !failClosed) return local.acquire(key, max);
      const fullKey = store.key(`cr:${key}`);
      const member = randomBytes(9).toString('base64url');
      let taken: unknown;
      try {
        taken = await store.observe(() => store.client.eval(TAKE_LEASE, 1, fullKey, max, leaseMs, member));
      } catch {
        return failClosed ? UNAVAILABLE : local.acquire(key, max);
      }
      if (Number(taken) !== 1) return { allowed: false, retryAfterMs: CONCURRENCY_RETRY_MS };
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          // A lease that cannot be given back now lapses by itself after `leaseMs`.
          store.client.zrem(fullKey, member).catch(() => undefined);
        },
      };
    },
  };
}
