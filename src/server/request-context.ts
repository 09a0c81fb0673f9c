/**
 * Each GraphQL request's context: who is asking, the roles it may act in and, when one fits, the role in
 * force with its loaders (bound to the request's scope, the role's credential and the caller's run
 * limits), its collection access, and its reaches (the role's own, and the caller's grants of
 * just-in-time access). Loaders through one role's credential are made once per request, whether for
 * the caller's own role, a grant's, or a role that offers access: what one fetched, the others find.
 */
import type { FastifyRequest } from 'fastify';
import type { AccessRequests } from '../access/service.js';
import { forCaller } from '../access/service.js';
import { AccessChecker } from '../authz/access.js';
import { locator, ownReach, RequestReaches } from '../authz/reach.js';
import type { Config } from '../config/config.js';
import { contextWithoutRole, type GatewayContext } from '../context/context.js';
import { createLoaders, type Loaders } from '../metabase/loaders.js';
import type { ActiveRole, PolicyStore } from '../policy/store.js';
import { runGateFor } from './run-gate.js';
import type { SharedState } from './shared-state.js';

export interface RequestContextOptions {
  readonly settings: Pick<Config, 'limits' | 'cache'> & { readonly metabase: Pick<Config['metabase'], 'timeoutMs'> };
  readonly policy: PolicyStore;
  readonly shared: Pick<SharedState, 'limiter' | 'concurrency' | 'cache' | 'runs'>;
  readonly accessRequests: AccessRequests;
}

/** The context of a request that has passed authentication (`request.caller` is set). */
export function requestContext(options: RequestContextOptions): (request: FastifyRequest) => Promise<GatewayContext> {
  const { settings, shared, accessRequests } = options;
  return async (request) => {
    const { viewer, role, availableRoles, noRoleReason, limits } = request.caller!;
    const active = options.policy.current;
    const policy = active.policy;
    const requestId = String(request.id);
    const gate = role ? runGateFor(role, role.rateLimitTier ? policy.rateLimitTiers[role.rateLimitTier] : undefined, viewer, shared.limiter, shared.concurrency) : null;
    const makeLoaders = async (through: ActiveRole): Promise<{ loaders: Loaders; scope: string | null }> => {
      const scope = shared.cache || shared.runs ? await through.client.cacheScope() : null;
      const cache = shared.cache && scope !== null ? {
        cache: shared.cache, scope, metadata: policy.cache.metadata,
        resultTtlMs: through.resultCache.ttlMs, nativeResults: through.resultCache.nativeSql,
        shareWaitMs: settings.cache.shareWaitMs, shareLockMs: settings.metabase.timeoutMs + 5_000,
      } : null;
      return { loaders: createLoaders(through.client, settings.limits, request.scope, { cache, gate }), scope };
    };
    const made = new Map<string, ReturnType<typeof makeLoaders>>();
    const loadersFor = (through: ActiveRole): ReturnType<typeof makeLoaders> => {
      let loaders = made.get(through.name);
      if (!loaders) made.set(through.name, (loaders = makeLoaders(through)));
      return loaders;
    };
    const roles = () => active.roles;
    const locate = locator(roles, loadersFor);
    const base = {
      requestId, viewer, availableRoles, noRoleReason, operationLimits: limits, trail: request.trail ?? null, log: request.log,
      limits: { maxPageSize: settings.limits.maxPageSize, maxSearchChars: settings.limits.searchTextChars }, runs: shared.runs,
      accessRequests: forCaller(accessRequests, { viewer, availableRoles, roleName: role?.name ?? null, requestId }, locate),
    };
    if (!role) return contextWithoutRole(base);
    const { loaders, scope } = await loadersFor(role);
    const runOwner = shared.runs && scope ? { issuer: viewer.issuer, subject: viewer.subject, role: role.name, scope } : null;
    const access = new AccessChecker(role.collections, loaders.collections);
    const own = ownReach(role, loaders, access, runOwner);
    const reaches = new RequestReaches({ viewer, requestId, roleName: role.name, own, roles, loadersFor, locate, service: accessRequests });
    return { ...base, roleName: role.name, role, loaders, runOwner, access, reaches };
  };
}
