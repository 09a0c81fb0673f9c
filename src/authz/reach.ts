/**
 * A request's reaches (see Reach in context.ts): the role's own, and one per grant of just-in-time
 * access the caller holds. An object asked for by id is looked for through the role's own reach first;
 * only when that cannot show it are the caller's grants read (once per request, from the shared
 * store, so a revocation on any instance holds at the next request) and each grant that may cover it
 * tried, through the granting role's credential. What a grant loads is marked as its own, and every
 * field below it goes through the same grant: its rules, loaders and runs.
 *
 * A grant covers exactly its target:
 * - a dashboard: the dashboard, and the questions on its cards as parts of it (shown and run on the
 *   dashboard, not as questions by id);
 * - a question: that question;
 * - a collection: the dashboards, questions and collections directly in it, or, for a subtree, in it
 *   and below it.
 * It is checked against the policy in force each time it is read: a reload that no longer offers the
 * target to the holder's groups ends its effect at once.
 */
import type { Viewer } from '../identity/viewer.js';
import { BadUserInputError, ForbiddenError, GatewayError, NotFoundError } from '../errors/index.js';
import type { CollectionAccessCheck, Reach, ReachKind, Reaches } from '../context/context.js';
import type { Loaders } from '../metabase/loaders.js';
import type { RunOwner } from '../metabase/stored-runs.js';
import type { Card, Collection, Dashboard } from '../metabase/types.js';
import type { ActiveRole } from '../policy/store.js';
import type { AccessRecord, AccessTargetKind } from '../access/records.js';
import type { AccessRequests, Locate, TargetLocation } from '../access/service.js';
import { AccessChecker, ancestors, CollectionCheck } from './access.js';

/** Loaders through one role's credential, for this request (made once per role: they are shared by every reach through it). */
export type RoleLoaders = (role: ActiveRole) => Promise<{ loaders: Loaders; scope: string | null }>;

/** Where objects are, through each role's credential: loaders made once per role per request. */
export function locator(roles: () => readonly ActiveRole[], loadersFor: RoleLoaders): Locate {
  return async (roleName, kind, id): Promise<TargetLocation | null> => {
    const role = roles().find((r) => r.name === roleName);
    return role ? locate((await loadersFor(role)).loaders, kind, id) : null;
  };
}

async function locate(loaders: Loaders, kind: AccessTargetKind, id: number): Promise<TargetLocation | null> {
  // The collection list is read only when a subtree must be checked.
  const above = (cid: number | 'root' | null) => async (): Promise<readonly number[]> => {
    const c = cid === null || cid === 'root' ? undefined : (await loaders.collections()).get(cid);
    return c ? ancestors(c) : [];
  };
  if (kind === 'collection') {
    const c = (await loaders.collections()).get(id);
    return c ? { collectionId: id, ancestors: async () => ancestors(c) } : null;
  }
  const object = kind === 'dashboard' ? await loaders.dashboard.load(id) : await loaders.card.load(id);
  return { collectionId: object.collectionId, ancestors: above(object.collectionId) };
}

/** The role's own reach: its loaders, and the policy's collections for it. */
export function ownReach(role: Pick<ActiveRole, 'maxRows' | 'canViewSql'>, loaders: Loaders, access: CollectionAccessCheck, runOwner: RunOwner | null): Reach {
  return {
    grant: null, loaders, access, runOwner, maxRows: role.maxRows, canViewSql: role.canViewSql, partsOf: null,
    allows: (kind, record, id, collectionId) => access.object(record, kind === 'collection' ? id : collectionId),
    use: () => undefined,
  };
}

const NO_COLLECTIONS = { all: false, ids: [], subtrees: [], root: false } as const;

/** Both checks at once: what a grant lists is in its target and in the granting role's own collections. */
class BothAccess extends CollectionCheck {
  readonly unrestricted = false;

  constructor(private readonly a: CollectionAccessCheck, private readonly b: CollectionAccessCheck) {
    super();
  }

  async collection(id: number | 'root' | null): Promise<boolean> {
    return (await this.a.collection(id)) && this.b.collection(id);
  }
}

/**
 * A grant's reach: its target alone, through the granting role's loaders, and never beyond what the
 * granting role itself may read (its `collections`).
 */
function grantReach(grant: AccessRecord, role: ActiveRole, loaders: Loaders, limits: { maxRows: number; canViewSql: boolean }, runOwner: RunOwner | null, used: (field: string) => void): Reach {
  const t = grant.target;
  const roleAccess = new AccessChecker(role.collections, loaders.collections);
  const target = new AccessChecker(t.kind === 'collection' ? { all: false, ids: t.subtree ? [] : [t.id], subtrees: t.subtree ? [t.id] : [], root: false } : NO_COLLECTIONS, loaders.collections);
  const access = new BothAccess(target, roleAccess);
  let cards: Promise<Set<number>> | undefined;
  const dashboardCards = (): Promise<Set<number>> => (cards ??= loaders.dashboard.load(t.id).then((d) => new Set(d.dashcards.flatMap((dc) =>
    [dc.cardId, ...dc.series.map((s) => ('id' in s ? s.id : null))].filter((x): x is number => typeof x === 'number')))));
  const inTarget = async (kind: ReachKind, record: object, id: number | 'root', collectionId: number | 'root' | null): Promise<boolean> => {
    if (t.kind === 'dashboard') {
      if (kind === 'dashboard') return id === t.id;
      return kind === 'card' && typeof id === 'number' && (await dashboardCards()).has(id);
    }
    if (t.kind === 'question') return kind === 'card' && id === t.id;
    return target.object(record, kind === 'collection' ? id : collectionId);
  };
  let once = false;
  return {
    grant, loaders, access, runOwner, ...limits, partsOf: t.kind === 'dashboard' ? t.id : null,
    async allows(kind, record, id, collectionId) {
      return (await inTarget(kind, record, id, collectionId)) && roleAccess.object(record, kind === 'collection' ? id : collectionId);
    },
    use(field) {
      if (once) return;
      once = true;
      used(field);
    },
  };
}

/** Whether a grant's target is exactly this object (tried before grants that may hold it in a collection). */
function targets(grant: AccessRecord, kind: ReachKind, id: number | 'root'): boolean {
  const t = grant.target;
  return t.id === id && (t.kind === kind || (t.kind === 'question' && kind === 'card'));
}

/** Whether a grant could show this object before it is loaded: its target itself, or anything for a collection grant. */
function mayCover(grant: AccessRecord, kind: ReachKind, id: number | 'root'): boolean {
  const t = grant.target;
  if (t.kind === 'collection') return true;
  if (t.kind === 'dashboard') return kind === 'dashboard' && id === t.id;
  return kind === 'card' && id === t.id;
}

export interface RequestReachesOptions {
  readonly viewer: Viewer;
  readonly requestId: string;
  readonly roleName: string;
  readonly own: Reach;
  /** The policy's roles, as in force when the request started. */
  readonly roles: () => readonly ActiveRole[];
  readonly loadersFor: RoleLoaders;
  readonly locate: Locate;
  readonly service: AccessRequests;
}

export class RequestReaches implements Reaches {
  readonly own: Reach;
  readonly #marks = new WeakMap<object, Reach>();
  readonly #byId = new Map<string, Promise<object>>();
  #grants: Promise<readonly GrantInRequest[]> | undefined;

  constructor(private readonly options: RequestReachesOptions) {
    this.own = options.own;
  }

  of(record: object): Reach {
    return this.#marks.get(record) ?? this.own;
  }

  /**
   * A grant's objects are copies: loaders (and the cache's local layer) may hand the same object to
   * several reaches of one credential, and a mark on it would move it from one to the other.
   */
  mark<T extends object>(reach: Reach, record: T): T {
    if (reach === this.own || this.#marks.get(record) === reach) return record;
    const copy = Object.assign(Object.create(Object.getPrototypeOf(record) as object | null) as T, record);
    this.#marks.set(copy, reach);
    return copy;
  }

  dashboard(id: number, field: string): Promise<Dashboard> {
    return this.#find('dashboard', id, field, (l) => l.dashboard.load(id), (d: Dashboard) => d.collectionId, `Dashboard ${id}`);
  }

  card(id: number, field: string): Promise<Card> {
    return this.#find('card', id, field, (l) => l.card.load(id), (c: Card) => c.collectionId, `Question ${id}`);
  }

  collection(id: number | 'root', field: string): Promise<Collection> {
    return this.#find('collection', id, field, async (l) => {
      const found = (await l.collections()).get(id);
      if (!found) throw new NotFoundError(`No collection ${id} is visible to your role.`);
      return found;
    }, (c: Collection) => c.id, `Collection ${id}`);
  }

  /** The caller's grants in force (each checked against the policy in force). */
  async grants(): Promise<readonly Reach[]> {
    const all = await this.#allGrants();
    const live = await Promise.all(all.map((g) => g.inForce()));
    return all.filter((_, i) => live[i]).map((g) => g.reach);
  }

  #allGrants(): Promise<readonly GrantInRequest[]> {
    return (this.#grants ??= this.#readGrants());
  }

  async denial(kind: ReachKind, id: number | 'root', what: string): Promise<ForbiddenError> {
    const offer = await this.#offer(kind, id);
    return new ForbiddenError(`${what} is in a collection role ${this.options.roleName} may not read.${offer.hint}`, { details: { reason: 'collection', ...offer.details } });
  }

  /** Whether the caller may ask for this object, and for how long: for a denial's message and extensions. */
  async #offer(kind: ReachKind, id: number | 'root'): Promise<{ hint: string; details: Record<string, unknown> }> {
    const asked = kind === 'card' ? 'question' : kind;
    // Never through the caller's own role: a grant through it would add nothing.
    const offer = typeof id === 'number' ? await this.options.service.offer(this.options.viewer, asked, id, this.options.locate, { except: this.options.roleName }).catch(() => null) : null;
    if (!offer) return { hint: '', details: { requestable: false } };
    return {
      hint: ` You may request access for up to ${offer.rule.maxMinutes} minutes: requestAccess(target: {kind: ${asked.toUpperCase()}, id: "${id}"}, reason, durationMinutes).`,
      details: { requestable: true, requestMaxMinutes: offer.rule.maxMinutes },
    };
  }

  /** Through the role's own reach, else through a grant that covers it; the first answer per object is kept for the request. */
  #find<T extends object>(kind: ReachKind, id: number | 'root', field: string, load: (l: Loaders) => Promise<T>, collectionOf: (r: T) => number | 'root' | null, what: string): Promise<T> {
    const key = `${kind}:${id}`;
    let found = this.#byId.get(key) as Promise<T> | undefined;
    if (!found) this.#byId.set(key, (found = this.#search(kind, id, field, load, collectionOf, what)));
    return found;
  }

  async #search<T extends object>(kind: ReachKind, id: number | 'root', field: string, load: (l: Loaders) => Promise<T>, collectionOf: (r: T) => number | 'root' | null, what: string): Promise<T> {
    let ownError: unknown = null;
    // A collection's reach is known from its id alone: one outside the role's is denied without a load, as before grants.
    if (kind !== 'collection' || await this.own.access.collection(id)) {
      try {
        const record = await load(this.own.loaders);
        if (await this.own.allows(kind, record, id, kind === 'collection' ? id : collectionOf(record))) return record;
      } catch (err) {
        ownError = err;
      }
    }
    // The grant of exactly this object first, then grants that may hold it in a collection; each
    // checked against the policy in force only when it may serve (a check can cost a lookup).
    const grants = await this.#allGrants();
    const ordered = [...grants.filter((g) => targets(g.record, kind, id)), ...grants.filter((g) => !targets(g.record, kind, id) && mayCover(g.record, kind, id))];
    for (const { reach, inForce } of ordered) {
      if (!(await inForce())) continue;
      try {
        const record = await load(reach.loaders);
        if (await reach.allows(kind, record, id, kind === 'collection' ? id : collectionOf(record))) {
          reach.use(field);
          return this.mark(reach, record);
        }
      } catch (err) {
        // Metabase or the gateway could not answer for this grant: that, not a denial, is the answer.
        if (err instanceof GatewayError && !(err instanceof ForbiddenError) && !(err instanceof NotFoundError) && !(err instanceof BadUserInputError)) throw err;
        // Otherwise this grant's credential cannot show it either: the role's own answer stands.
      }
    }
    // Not found, a bad id, Metabase unreachable: the same answer as without grants.
    if (ownError !== null && !(ownError instanceof ForbiddenError)) throw ownError;
    if (ownError instanceof ForbiddenError) {
      // Metabase refused the role's credential: the same error, saying whether access can be requested.
      const { code: _code, ...details } = ownError.extensions as Record<string, unknown>;
      const offer = await this.#offer(kind, id);
      throw new ForbiddenError(`${ownError.message}${offer.hint}`, { details: { ...details, ...offer.details }, cause: ownError, ...(ownError.detail !== undefined ? { detail: ownError.detail } : {}) });
    }
    throw await this.denial(kind, id, what);
  }

  async #readGrants(): Promise<readonly GrantInRequest[]> {
    const { viewer, service, requestId } = this.options;
    const records = await service.grantsOf(viewer, requestId);
    const out: GrantInRequest[] = [];
    for (const grant of records) {
      const role = this.options.roles().find((r) => r.name === grant.grantingRole);
      if (!role) continue;
      const { loaders, scope } = await this.options.loadersFor(role);
      const runOwner = this.own.runOwner && scope !== null
        ? { issuer: viewer.issuer, subject: viewer.subject, role: `${this.options.roleName}+grant:${grant.id}`, scope } : null;
      const limits = { maxRows: Math.min(this.own.maxRows, role.maxRows), canViewSql: this.own.canViewSql && role.canViewSql };
      const reach = grantReach(grant, role, loaders, limits, runOwner, (field) => service.used({ viewer, requestId, roleName: this.options.roleName }, grant, field));
      // The policy in force must still offer the target to the holder as it was granted: a reload can withdraw or narrow it.
      let checked: Promise<boolean> | undefined;
      const inForce = (): Promise<boolean> => (checked ??= service.stillOffered(viewer, grant, this.options.locate).catch(() => false));
      out.push({ record: grant, reach, inForce });
    }
    return out;
  }
}

/** A grant the caller holds, as this request sees it: its reach, and whether the policy in force still offers it (checked once, when first needed). */
interface GrantInRequest {
  readonly record: AccessRecord;
  readonly reach: Reach;
  inForce(): Promise<boolean>;
}
