/**
 * What every resolver and rule is given: who is asking, the roles it may act in and, when one fits,
 * the role in force with its loaders and collection access. Without a role, `role`, `loaders` and
 * `access` throw FORBIDDEN when touched: the shield denies first, this is the second lock.
 *
 * The context speaks of what requests need, not of where it comes from: the policy's roles and the
 * authorization's access checker satisfy these interfaces, and nothing here imports them.
 */
import type { Logger } from 'pino';
import type { Trail } from '../audit/trail.js';
import type { OperationLimits } from '../config/limits.js';
import { ForbiddenError } from '../errors/index.js';
import type { Viewer } from '../identity/viewer.js';
import type { MetabaseClient } from '../metabase/client.js';
import type { Loaders } from '../metabase/loaders.js';
import type { RunOwner, RunStore } from '../metabase/stored-runs.js';

/** The request's logger (a pino child logger). */
export type RequestLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/** The role a request acts in, as resolvers and rules need it. */
export interface RequestRole {
  readonly name: string;
  readonly canViewSql: boolean;
  readonly canRunNativeSql: boolean;
  readonly canIntrospect: boolean;
  /** Upper bound on rows returned by any run in this role. */
  readonly maxRows: number;
  /** The client holding the role's Metabase credential. */
  readonly client: MetabaseClient;
}

/** Which collections the role may read, on top of what its Metabase credential shows. */
export interface CollectionAccessCheck {
  /** True when the role may see everything Metabase shows it. */
  readonly unrestricted: boolean;
  /** May the role read items directly in this collection (`null` is the root collection)? */
  collection(id: number | 'root' | null): Promise<boolean>;
  /** The same for an object, computed once per object per request; `undefined`: it lives outside collections. */
  object(root: object, collectionId: number | 'root' | null | undefined): Promise<boolean>;
  /** The items whose collection the role may read, in order. */
  filter<T>(items: readonly T[], collectionOf: (item: T) => number | 'root' | null): Promise<T[]>;
}

export interface GatewayContext {
  readonly requestId: string;
  readonly viewer: Viewer;
  /** Every role the caller may act in; the first is its default. */
  readonly availableRoles: readonly string[];
  /** When no role fits: why, worded for this caller (every role's needs only when the policy says `explainDenials`). */
  readonly noRoleReason: string | null;
  /** The role in force, or null when none fits (then only `viewer` answers). */
  readonly roleName: string | null;
  readonly role: RequestRole;
  readonly loaders: Loaders;
  readonly access: CollectionAccessCheck;
  readonly limits: {
    readonly maxPageSize: number;
    /** Longest `search` text, in characters. */
    readonly maxSearchChars: number;
  };
  /** What an operation may ask for: the role's limits, or the policy's when no role fits. */
  readonly operationLimits: OperationLimits;
  /** The request's audit trail (query runs are added to it). */
  readonly trail: Trail | null;
  /** Where runs are kept for `queryRun(id)`; null when the gateway keeps none. */
  readonly runs: RunStore | null;
  /** Whose the request's runs are (viewer, role, credential scope); null without a role or a run store. */
  readonly runOwner: RunOwner | null;
  /** The request's logger: every line carries the request id, viewer and role. */
  readonly log: RequestLogger;
}

export type ContextBase = Pick<GatewayContext, 'requestId' | 'viewer' | 'availableRoles' | 'noRoleReason' | 'limits' | 'operationLimits' | 'trail' | 'runs' | 'log'>;

/** The FORBIDDEN reason for a caller no role fits: `groups-overage` when its token's groups overflowed (Entra ID), else `no-role`. */
export function noRoleReasonCode(ctx: Pick<GatewayContext, 'viewer'>): 'no-role' | 'groups-overage' {
  return ctx.viewer.groupsOverage ? 'groups-overage' : 'no-role';
}

export function contextWithoutRole(base: ContextBase): GatewayContext {
  const deny = (): never => {
    throw new ForbiddenError(base.noRoleReason ?? 'No gateway role fits your token.', { details: { reason: noRoleReasonCode(base) } });
  };
  return Object.defineProperties({ ...base, roleName: null, runOwner: null }, {
    role: { get: deny, enumerable: false },
    loaders: { get: deny, enumerable: false },
    access: { get: deny, enumerable: false },
  }) as GatewayContext;
}
