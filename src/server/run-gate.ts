/**
 * Limits on a caller's query runs, from the role's rate limit tier: runs per minute and runs at once,
 * per caller (issuer and subject), shared by every instance when the gateway has Redis. A run over a
 * limit fails with RATE_LIMITED and `retryAfterMs`; the rest of the request goes on. The per-minute
 * count takes every run asked for (whether Metabase, a cache or a shared run answers it); the
 * concurrent count holds a slot only while Metabase is running the query.
 */
import { RateLimitedError } from '../errors/index.js';
import type { Viewer } from '../identity/viewer.js';
import type { RunGate } from '../metabase/loaders.js';
import type { RateLimitTier, RolePolicy } from '../policy/policy.js';
import type { ConcurrencyLimiter, RequestLimiter } from '../store/rate-limiter.js';

export function runGateFor(
  role: Pick<RolePolicy, 'rateLimitTier' | 'rateLimitFallback'>, tier: RateLimitTier | undefined, viewer: Pick<Viewer, 'issuer' | 'subject'>,
  limiter: RequestLimiter, concurrency: ConcurrencyLimiter,
): RunGate | null {
  if (!tier || (tier.runsPerMinute === null && tier.concurrentRuns === null)) return null;
  const who = `${role.rateLimitTier}\u0000${viewer.issuer}\u0000${viewer.subject}`;
  const options = { failClosed: role.rateLimitFallback === 'refuse' };
  return {
    async admit() {
      if (tier.runsPerMinute === null) return;
      const admission = await limiter.take(`runs\u0000${who}`, tier.runsPerMinute, options);
      if (admission.allowed) return;
      throw refusal(admission, `You ran more than ${tier.runsPerMinute} queries a minute (rate limit tier ${role.rateLimitTier})`, 'run-rate', role.rateLimitTier);
    },
    async hold(run) {
      if (tier.concurrentRuns === null) return run();
      const lease = await concurrency.acquire(`${who}`, tier.concurrentRuns, options);
      if ('allowed' in lease) {
        throw refusal(lease, `You have ${tier.concurrentRuns} ${tier.concurrentRuns === 1 ? 'query' : 'queries'} running already (rate limit tier ${role.rateLimitTier})`, 'concurrent-runs', role.rateLimitTier);
      }
      try {
        return await run();
      } finally {
        lease.release();
      }
    },
  };
}

function refusal(admission: { retryAfterMs: number; unavailable?: true }, what: string, reason: string, tier: string | null): RateLimitedError {
  const retryAfterMs = Math.max(1, Math.ceil(admission.retryAfterMs));
  const retryAfterSeconds = Math.ceil(retryAfterMs / 1000);
  if (admission.unavailable) {
    return new RateLimitedError(`Your role's limits cannot be counted right now (the gateway's shared store is not answering), and the role refuses work it cannot count; retry in ${retryAfterSeconds} s.`, {
      details: { reason: 'limits-unavailable', tier, retryAfterMs, retryAfterSeconds },
    });
  }
  return new RateLimitedError(`${what}; retry in ${retryAfterSeconds} s.`, { details: { reason, tier, retryAfterMs, retryAfterSeconds } });
}
