/**
 * Per-caller request limits from the policy's tiers: a role's `rateLimitTier` gives each of its
 * callers (by issuer and subject: two identity providers may issue the same subject to different
 * people) so many requests per minute: across every instance when the gateway has Redis (REDIS_URL),
 * else in this process. Over it: 429 RATE_LIMITED with Retry-After and `retryAfterMs`. While Redis
 * does not answer, a role with `rateLimitFallback: refuse` is refused the same way (reason
 * `limits-unavailable`). Roles without a tier, and callers no role fits (who can only ask `viewer`),
 * are not limited. Query runs have their own limits (run-gate.ts).
 */
import type { FastifyRequest } from 'fastify';
import { RateLimitedError } from '../errors/index.js';
import type { PolicyStore } from '../policy/store.js';
import { localRequestLimiter, type RequestLimiter } from '../store/rate-limiter.js';

/** @param limiter in this process by default; shared through Redis when the gateway has a Redis store. */
export function rateLimit(policy: PolicyStore, limiter: RequestLimiter = localRequestLimiter()) {
  return async function limitRate(request: FastifyRequest): Promise<void> {
    const role = request.caller?.role;
    if (!role?.rateLimitTier) return;
    // An MCP tool call's own request to /graphql: the /mcp request that carries it was counted.
    if (request.internalCall) return;
    const tier = policy.current.policy.rateLimitTiers[role.rateLimitTier];
    if (!tier?.requestsPerMinute) return;
    const { issuer, subject } = request.caller!.viewer;
    const admission = await limiter.take(`${role.rateLimitTier}\u0000${issuer}\u0000${subject}`, tier.requestsPerMinute, { failClosed: role.rateLimitFallback === 'refuse' });
    if (admission.allowed) return;
    const retryAfterMs = Math.max(1, Math.ceil(admission.retryAfterMs));
    const retryAfterSeconds = Math.ceil(retryAfterMs / 1000);
    if (admission.unavailable) {
      throw new RateLimitedError(`Your role's request limit cannot be counted right now (the gateway's shared store is not answering), and the role refuses requests it cannot count; retry in ${retryAfterSeconds} s.`, {
        details: { reason: 'limits-unavailable', tier: role.rateLimitTier, retryAfterMs, retryAfterSeconds },
      });
    }
    throw new RateLimitedError(`You sent more than ${tier.requestsPerMinute} requests a minute (rate limit tier ${role.rateLimitTier}); retry in ${retryAfterSeconds} s.`, {
      details: { reason: 'rate-limit', tier: role.rateLimitTier, requestsPerMinute: tier.requestsPerMinute, retryAfterMs, retryAfterSeconds },
    });
  };
}
