/**
 * Requests per minute per caller, shared by every gateway instance through Redis
 * (rate-limiter-flexible's RateLimiterRedis: one atomic command per request, a fixed one-minute
 * window per caller key, one key per command so it works on a Redis Cluster). While Redis does not
 * answer within the store's deadline, each instance falls back to its own in-process limiter (the
 * library's insurance limiter), so requests keep being served and limited, per instance; when Redis
 * answers again the shared counts apply again.
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Admission, RequestLimiter } from './rate-limiter.js';
import type { RedisStore } from './store.js';

export function sharedRequestLimiter(store: RedisStore): RequestLimiter {
  // One limiter per allowance: a tier's `requestsPerMinute` is its number of points.
  const limiters = new Map<number, RateLimiterRedis>();
  const limiterFor = (perMinute: number): RateLimiterRedis => {
    let limiter = limiters.get(perMinute);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: store.client, points: perMinute, duration: 60, keyPrefix: store.key(`rl:${perMinute}`),
        insuranceLimiter: new RateLimiterMemory({ points: perMinute, duration: 60 }),
      });
      limiters.set(perMinute, limiter);
    }
    return limiter;
  };
  return {
    async take(key, perMinute): Promise<Admission> {
      try {
        await limiterFor(perMinute).consume(key);
        return { allowed: true };
      } catch (refused) {
        if (refused instanceof RateLimiterRes) return { allowed: false, retryAfterMs: Math.max(1, refused.msBeforeNext) };
        // Neither Redis nor the insurance limiter could say: admit, as a per-instance limiter that lost its count would.
        return { allowed: true };
      }
    },
  };
}
