/**
 * What every resolver and rule is given: who is asking, which roles fit them, and, when one does,
 * the role in force with its loaders and collection access. Without a role, `role`, `loaders` and
 * `access` throw FORBIDDEN when touched: the shield denies first, this is the second lock.
 */
import type { Trail } from '../audit/trail.js';
import type { AccessChecker } from '../authz/access.js';
import { ForbiddenError } from '../errors/index.js';
import type { Loaders } from '../graph/loaders.js';
import type { RoleDecision, Viewer } from '../identity/viewer.js';
import type { ActiveRole } from '../policy/store.js';

export interface GatewayContext {
  readonly requestId: string;
  readonly viewer: Viewer;
  /** Every role that fits the viewer, and why each does or does not. */
  readonly decision: RoleDecision<ActiveRole>;
  /** The role in force, or null when none fits (then only `viewer` answers). */
  readonly roleName: string | null;
  /** The role whose Metabase credential this request uses. */
  readonly role: ActiveRole;
  readonly loaders: Loaders;
  readonly access: AccessChecker;
  readonly limits: { readonly maxPageSize: number };
  /** The request's audit trail (query runs are added to it). */
  readonly trail: Trail | null;
}

/** Why no role fits, in one sentence for a FORBIDDEN message. */
export function noRoleReason(decision: RoleDecision): string {
  if (decision.reasons.length === 0) return 'The policy defines no roles.';
  return `No gateway role fits your token: ${decision.reasons.map((r) => `${r.role} ${r.reason}`).join('; ')}. Ask \`{ viewer { groups noRoleReason } }\` to see how the gateway reads your token.`;
}

export function contextWithoutRole(base: Pick<GatewayContext, 'requestId' | 'viewer' | 'decision' | 'limits' | 'trail'>): GatewayContext {
  const deny = (): never => {
    throw new ForbiddenError(noRoleReason(base.decision), { details: { reason: 'no-role' } });
  };
  return Object.defineProperties({ ...base, roleName: null }, {
    role: { get: deny, enumerable: false },
    loaders: { get: deny, enumerable: false },
    access: { get: deny, enumerable: false },
  }) as GatewayContext;
}
