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
import type { Card, Collection, Dashboard } from '../metabase/types.js';
import type { AccessRecord, AccessState, AccessTargetKind } from '../access/records.js';

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

export type ReachKind = 'dashboard' | 'card' | 'collection';

/**
 * What a request reaches Metabase's objects through: its role's own credential and collections, or a
 * grant of just-in-time access (one target, through the granting role's credential). Every object a
 * resolver returns belongs to the reach it was loaded through (`Reaches.of`); its fields are loaded,
 * checked and run through that same reach, so a grant never lends anything beyond its target.
 */
export interface Reach {
  /** The grant, or null for the role's own reach. */
  readonly grant: AccessRecord | null;
  readonly loaders: Loaders;
  /** Which collections' items this reach lists (a grant of a dashboard or question: none). */
  readonly access: CollectionAccessCheck;
  readonly maxRows: number;
  readonly canViewSql: boolean;
  /** Whose runs made through this reach are (null: not kept). */
  readonly runOwner: RunOwner | null;
  /**
   * A dashboard grant's id: its questions are parts of that dashboard, shown and run on it (its cards'
   * runs), not as questions of their own. Null otherwise.
   */
  readonly partsOf: number | null;
  /** May this reach show this object (`collectionId`: where it lives; for a collection, its own id)? */
  allows(kind: ReachKind, record: object, id: number | 'root', collectionId: number | 'root' | null): Promise<boolean>;
  /** Says the reach served `field` (a grant's use is written to the audit trail, once per request). */
  use(field: string): void;
}

export interface Reaches {
  readonly own: Reach;
  /** The reach an object was loaded through (the role's own unless a grant's loaded it). */
  of(record: object): Reach;
  mark<T extends object>(reach: Reach, record: T): T;
  /** The object by id through the first reach that may show it: the role's own, then the caller's grants; the denial otherwise. */
  dashboard(id: number, field: string): Promise<Dashboard>;
  card(id: number, field: string): Promise<Card>;
  collection(id: number | 'root', field: string): Promise<Collection>;
  /** The caller's grants in force, as reaches (read once per request). */
  grants(): Promise<readonly Reach[]>;
  /** FORBIDDEN (reason `collection`) for an object outside the role's collections, saying whether and for how long access can be requested. */
  denial(kind: ReachKind, id: number | 'root', what: string): Promise<ForbiddenError>;
}

/** Just-in-time access, for the caller of this request (src/access). */
export interface CallerAccessRequests {
  request(kind: AccessTargetKind, id: number, reason: string, durationMinutes: number): Promise<{ record: AccessRecord; merged: boolean }>;
  list(state: AccessState | null, mine: boolean | null, first: number): Promise<AccessRecord[]>;
  decide(id: string, approve: boolean, note: string | null): Promise<AccessRecord>;
  revoke(id: string): Promise<AccessRecord>;
  /** The caller's grants in force (not ended, and still offered by the policy in force as granted). */
  grants(): Promise<AccessRecord[]>;
  /** The role through which the caller may answer this request, or null. */
  decidingRole(record: AccessRecord): string | null;
  /** The time requests and grants are measured by (ms since the epoch). */
  now(): number;
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
  /** The role's own reach and the caller's grants (see Reach). */
  readonly reaches: Reaches;
  /** Asking for, answering and revoking just-in-time access. */
  readonly accessRequests: CallerAccessRequests;
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

export type ContextBase = Pick<GatewayContext, 'requestId' | 'viewer' | 'availableRoles' | 'noRoleReason' | 'limits' | 'operationLimits' | 'trail' | 'runs' | 'log' | 'accessRequests'>;

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
    reaches: { get: deny, enumerable: false },
  }) as GatewayContext;
}
