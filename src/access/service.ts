/**
 * Just-in-time access: what a viewer may ask for (the policy's `grantable` entries), asking, the
 * approvers' answer, revoking, and the grants in force for a viewer. The rules:
 *
 * - A target may be asked for when a role's `grantable` entry offers it (by id, or as an item of a
 *   listed collection or subtree) to one of the viewer's groups; the grant will reach it through that
 *   role's credential, for at most the entry's `maxMinutes`.
 * - Nobody answers their own request. An approver answers only requests whose entry names one of the
 *   roles the approver may act in, and which the policy in force still names as approvers.
 * - A request unanswered within `accessRequests.pendingMinutes` expires; asking again for the same
 *   target while one is pending returns that one (merged).
 * - A grant is checked against the policy in force each time it is used: a reload that withdraws the
 *   offer ends its effect at once.
 *
 * Every step is an audit event naming both parties; new requests and decisions go to the webhook.
 * Time comes from `clock`, so that expiry is tested without waiting.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit.js';
import type { CallerAccessRequests } from '../context/context.js';
import { BadUserInputError, ForbiddenError, NotFoundError, RateLimitedError, UpstreamUnavailableError } from '../errors/index.js';
import { viewerInGroups, type Viewer } from '../identity/viewer.js';
import { collectionHeld, type GrantRule, type Policy, type RolePolicy } from '../policy/policy.js';
import {
  AccessStoreUnavailable, sameKeyOf, stateAt, TooManyPending, type AccessRecord, type AccessState, type AccessStore, type AccessTarget, type AccessTargetKind, type Party,
} from './records.js';
import { slackEscape, Webhook, type WebhookLogger, type WebhookOptions } from './webhook.js';
import type { PolicyStore } from '../policy/store.js';

/** Where an object sits, as one role's credential sees it: its collection and the collections above that. */
export interface TargetLocation {
  readonly collectionId: number | 'root' | null;
  /** The collections above it (read only when a subtree must be checked: it may cost the collection list). */
  ancestors(): Promise<readonly number[]>;
}

/** Finds an object through the named role's credential; null when that credential cannot see it. */
export type Locate = (roleName: string, kind: AccessTargetKind, id: number) => Promise<TargetLocation | null>;

/** What the policy offers a viewer for one target: through which role, under which entry. */
export interface Offer {
  readonly role: RolePolicy;
  readonly rule: GrantRule;
  /** A collection offered with everything below it. */
  readonly subtree: boolean;
}

/** Who is asking, in the request in force. */
export interface Caller {
  readonly viewer: Viewer;
  readonly availableRoles: readonly string[];
  readonly roleName: string | null;
  readonly requestId: string;
}

export const REASON_CHARS = 500;
export const NOTE_CHARS = 500;
/** Pending requests one requester may have at once. */
export const MAX_PENDING = 10;
/** The most records a listing reads. */
export const LIST_LIMIT = 100;

export interface AccessRequestsOptions {
  readonly store: AccessStore;
  readonly policy: () => Policy;
  readonly audit: AuditLog;
  readonly webhook?: Webhook | null;
  /** Milliseconds since the epoch. Default Date.now. */
  readonly clock?: () => number;
}

export const partyOf = (v: Pick<Viewer, 'issuer' | 'subject' | 'email' | 'name'>): Party => ({ issuer: v.issuer, subject: v.subject, email: v.email, name: v.name });
const same = (a: Pick<Party, 'issuer' | 'subject'>, b: Pick<Party, 'issuer' | 'subject'>): boolean => a.issuer === b.issuer && a.subject === b.subject;
const describeTarget = (t: Pick<AccessTarget, 'kind' | 'id' | 'subtree'>): string => `${t.kind} ${t.id}${t.subtree ? ' and everything below it' : ''}`;

export class AccessRequests {
  readonly #store: AccessStore;
  readonly #clock: () => number;

  constructor(private readonly options: AccessRequestsOptions) {
    this.#store = options.store;
    this.#clock = options.clock ?? Date.now;
  }

  now(): number {
    return this.#clock();
  }

  /** Stops the webhook's deliveries (those in flight end at their next step). */
  close(): Promise<void> {
    return this.options.webhook?.close() ?? Promise.resolve();
  }

  /** The entry that offers this target to the viewer (the first of `offers`), or null. */
  async offer(viewer: Viewer, kind: AccessTargetKind, id: number, locate: Locate, only: { role?: string; except?: string | null } = {}): Promise<Offer | null> {
    for await (const offer of this.offers(viewer, kind, id, locate, only)) return offer;
    return null;
  }

  /**
   * The entries that offer this target to the viewer, best first: those naming it by id (the most
   * specific), then those whose collections hold it, each in policy order. Only what the offering
   * role itself may read (its credential shows the object, and its `collections` hold it) is offered,
   * and never through `only.except` (the caller's own role, through which a grant would add nothing).
   */
  async *offers(viewer: Viewer, kind: AccessTargetKind, id: number, locate: Locate, only: { role?: string; except?: string | null } = {}): AsyncGenerator<Offer> {
    const entries = this.options.policy().roles
      .filter((role) => (only.role === undefined || role.name === only.role) && role.name !== only.except)
      .flatMap((role) => role.grantable.filter((rule) => viewerInGroups(viewer, rule.to)).map((rule) => ({ role, rule })));
    const located = new Map<string, Promise<TargetLocation | null>>();
    const where = (role: string): Promise<TargetLocation | null> => {
      let p = located.get(role);
      if (!p) located.set(role, (p = locate(role, kind, id).catch(() => null)));
      return p;
    };
    // What the offering role may read: every collection its credential shows (no lookup here: its grant's own
    // load says whether the credential shows the object), or its `collections`, where the object is looked up.
    const readable = async (role: RolePolicy): Promise<boolean> => {
      if (role.collections.all) return true;
      const at = await where(role.name);
      return at !== null && collectionHeld(role.collections, kind === 'collection' ? id : at.collectionId, at.ancestors);
    };
    const named = new Set<GrantRule>();
    for (const { role, rule } of entries) {
      const offer = (kind === 'dashboard' && rule.dashboards.includes(id)) || (kind === 'question' && rule.questions.includes(id)) ? { role, rule, subtree: false }
        : kind === 'collection' && rule.subtrees.includes(id) ? { role, rule, subtree: true }
          : kind === 'collection' && rule.collections.includes(id) ? { role, rule, subtree: false } : null;
      if (offer && (await readable(role))) {
        named.add(rule);
        yield offer;
      }
    }
    for (const { role, rule } of entries) {
      // An entry naming a collection may hold it as a subtree too (through an ancestor): a wider offer.
      if ((named.has(rule) && kind !== 'collection') || (rule.subtrees.length === 0 && (kind === 'collection' || rule.collections.length === 0))) continue;
      if (!(await readable(role))) continue;
      const at = await where(role.name);
      if (!at) continue;
      const own = typeof at.collectionId === 'number' ? at.collectionId : null;
      if (kind === 'collection') {
        const above = await at.ancestors();
        if (rule.subtrees.some((s) => above.includes(s))) yield { role, rule, subtree: true };
      } else if ((own !== null && rule.collections.includes(own)) || (rule.subtrees.length > 0 && (rule.subtrees.includes(own as number) || (await at.ancestors()).some((a) => rule.subtrees.includes(a))))) {
        yield { role, rule, subtree: false };
      }
    }
  }

  /** Whether the policy in force still offers this grant to the viewer as it was granted: the same reach, no longer, approved by a role it names. */
  async stillOffered(viewer: Viewer, grant: AccessRecord, locate: Locate): Promise<boolean> {
    for await (const o of this.offers(viewer, grant.target.kind, grant.target.id, locate, { role: grant.grantingRole })) {
      if ((o.subtree || !grant.target.subtree) && grant.durationMinutes <= o.rule.maxMinutes && grant.decision !== null && o.rule.approvers.includes(grant.decision.role)) return true;
    }
    return false;
  }

  /** Asks for a target; a pending request of the same requester for it is returned instead (merged). */
  async request(caller: Caller, input: { kind: AccessTargetKind; id: number; reason: string; durationMinutes: number }, locate: Locate): Promise<{ record: AccessRecord; merged: boolean }> {
    if (caller.roleName === null) {
      throw new ForbiddenError('Access is granted on top of a gateway role, and no role fits your token: ask for a role first (see `viewer { noRoleReason }`).', { details: { reason: 'no-role' } });
    }
    const reason = input.reason.trim();
    if (reason.length === 0 || reason.length > REASON_CHARS) {
      throw new BadUserInputError(`Expected \`reason\` to say why, in 1 to ${REASON_CHARS} characters, received ${reason.length}.`, { details: { argument: 'reason' } });
    }
    if (!Number.isInteger(input.durationMinutes) || input.durationMinutes < 1) {
      throw new BadUserInputError(`Expected \`durationMinutes\` to be a positive whole number of minutes, received ${input.durationMinutes}.`, { details: { argument: 'durationMinutes' } });
    }
    const offer = await this.offer(caller.viewer, input.kind, input.id, locate, { except: caller.roleName });
    if (!offer) {
      throw new ForbiddenError(`Access to ${input.kind} ${input.id} cannot be requested by you: no grantable entry of the gateway policy offers it to your groups.`, { details: { reason: 'not-requestable' } });
    }
    if (input.durationMinutes > offer.rule.maxMinutes) {
      throw new BadUserInputError(`Expected \`durationMinutes\` of at most ${offer.rule.maxMinutes} for ${input.kind} ${input.id}, received ${input.durationMinutes}.`, { details: { argument: 'durationMinutes', maxMinutes: offer.rule.maxMinutes } });
    }
    const now = this.#clock();
    const requester = partyOf(caller.viewer);
    const target: AccessTarget = { kind: input.kind, id: input.id, subtree: offer.subtree };
    const draft: AccessRecord = {
      id: randomUUID(), state: 'pending', requester, requesterRole: caller.roleName, target, grantingRole: offer.role.name,
      reason, durationMinutes: input.durationMinutes, requestedAt: now, pendingUntil: now + this.options.policy().accessRequests.pendingMinutes * 60_000,
      decision: null, grantedUntil: null, ended: null, duplicates: 0, approvers: offer.rule.approvers, entry: entryFingerprint(offer.rule),
    };
    let opened: { record: AccessRecord; merged: boolean };
    try {
      opened = await this.#guard(() => this.#store.open(draft, sameKeyOf(draft), now, MAX_PENDING));
    } catch (err) {
      if (!(err instanceof TooManyPending)) throw err;
      const retryAfterMs = Math.max(1_000, Math.ceil(err.freeAt - now));
      throw new RateLimitedError(`You have ${err.pending} access requests waiting for an answer (at most ${MAX_PENDING}); wait for an answer, or for them to expire.`, {
        details: { reason: 'pending-requests', retryAfterMs, retryAfterSeconds: Math.ceil(retryAfterMs / 1000) },
      });
    }
    const record = opened.record;
    this.#event(opened.merged ? 'access.request-merged' : 'access.requested', caller, record, {});
    if (!opened.merged) {
      const headline = `Access request: ${slackEscape(who(requester), 80)} asks for ${describeTarget(target)} for ${record.durationMinutes} minutes, through role ${record.grantingRole}.`;
      this.options.webhook?.send({
        event: 'access.requested', text: headline,
        lines: [headline, `Reason: ${slackEscape(reason)}`, `Approvers: members of ${record.approvers.join(', ')}. Request ${record.id}.`],
        facts: { request: publicFacts(record) },
      });
    }
    return opened;
  }

  /** The caller's own requests and those it may answer, newest first; expiries found on the way are settled. */
  async list(caller: Caller, filter: { state: AccessState | null; mine: boolean | null; first: number }): Promise<AccessRecord[]> {
    const me = partyOf(caller.viewer);
    const now = this.#clock();
    const answered = [...new Set(this.#approvals(caller).map((a) => a.grantingRole))];
    const [own, pending, recent] = await Promise.all([
      filter.mine === false ? [] : this.#guard(() => this.#store.byRequester(me, LIST_LIMIT)),
      filter.mine === true || answered.length === 0 ? [] : this.#guard(() => this.#store.pending(now, LIST_LIMIT * 5, answered)),
      filter.mine === true || answered.length === 0 || filter.state === 'pending' ? [] : this.#guard(() => this.#store.recent(LIST_LIMIT)),
    ]);
    const seen = new Set<string>();
    const out: AccessRecord[] = [];
    for (const r of [...own, ...[...pending, ...recent].filter((r) => !same(r.requester, me) && this.oversees(caller, r))]) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      const settled = await this.#guard(() => this.#settle(r, now, caller.requestId));
      if (filter.state === null || settled.state === filter.state) out.push(settled);
    }
    return out.sort((a, b) => b.requestedAt - a.requestedAt).slice(0, filter.first);
  }

  /**
   * The role through which the caller may answer this request; null when it may not: only while the
   * granting role still has the very entry that offered it, through one of that entry's approvers.
   */
  decidingRole(caller: Caller, record: AccessRecord): string | null {
    const role = this.options.policy().roles.find((r) => r.name === record.grantingRole);
    const rule = role?.grantable.find((g) => entryFingerprint(g) === record.entry);
    return rule?.approvers.find((a) => caller.availableRoles.includes(a)) ?? null;
  }

  /**
   * Whether the caller oversees this request (sees it, and may revoke its grant): it may act in one of
   * the request's approving roles, or in an approver of any current entry of the granting role.
   * Answering a pending request needs more: `decidingRole`.
   */
  oversees(caller: Caller, record: AccessRecord): boolean {
    if (record.approvers.some((a) => caller.availableRoles.includes(a))) return true;
    return this.#approvals(caller).some((a) => a.grantingRole === record.grantingRole);
  }

  /** Approves or denies a pending request. */
  async decide(caller: Caller, id: string, approve: boolean, note: string | null): Promise<AccessRecord> {
    const text = note?.trim() || null;
    if (text !== null && text.length > NOTE_CHARS) {
      throw new BadUserInputError(`Expected \`note\` of at most ${NOTE_CHARS} characters, received ${text.length}.`, { details: { argument: 'note' } });
    }
    const record = await this.#visible(caller, id);
    if (same(record.requester, caller.viewer)) {
      throw new ForbiddenError('You asked for this access: someone else among its approvers must answer it.', { details: { reason: 'self-approval' } });
    }
    const role = this.decidingRole(caller, record);
    if (role === null) throw notFound(id);
    const now = this.#clock();
    const state = stateAt(record, now);
    if (state !== 'pending') throw stateError(record, state, approve ? 'approved' : 'denied');
    const next: AccessRecord = {
      ...record, state: approve ? 'approved' : 'denied', decision: { by: partyOf(caller.viewer), role, note: text, at: now },
      grantedUntil: approve ? now + record.durationMinutes * 60_000 : null,
    };
    if (!(await this.#guard(() => this.#store.move(id, 'pending', next, now)))) {
      const now2 = await this.#guard(() => this.#store.get(id));
      throw stateError(record, now2 ? stateAt(now2, this.#clock()) : 'expired', approve ? 'approved' : 'denied');
    }
    this.#event(approve ? 'access.approved' : 'access.denied', caller, next, { approver: partyOf(caller.viewer), approverRole: role, note: text });
    const headline = `Access ${approve ? 'approved' : 'denied'}: ${slackEscape(who(next.decision!.by), 80)} ${approve ? 'approved' : 'denied'} the request of ${slackEscape(who(record.requester), 80)} for ${describeTarget(record.target)}${approve ? `, until ${new Date(next.grantedUntil!).toISOString()}` : ''}.`;
    this.options.webhook?.send({
      event: approve ? 'access.approved' : 'access.denied', text: headline,
      lines: [headline, ...(text ? [`Note: ${slackEscape(text)}`] : []), `Request ${record.id}.`],
      facts: { request: publicFacts(next) },
    });
    return next;
  }

  /** Ends a grant now: its holder may give it up, and its approvers may take it back. */
  async revoke(caller: Caller, id: string): Promise<AccessRecord> {
    const record = await this.#visible(caller, id);
    const now = this.#clock();
    const state = stateAt(record, now);
    if (state !== 'approved') throw stateError(record, state, 'revoked');
    const next: AccessRecord = { ...record, state: 'revoked', ended: { by: partyOf(caller.viewer), at: now } };
    if (!(await this.#guard(() => this.#store.move(id, 'approved', next, now)))) {
      const now2 = await this.#guard(() => this.#store.get(id));
      throw stateError(record, now2 ? stateAt(now2, this.#clock()) : 'expired', 'revoked');
    }
    this.#event('access.revoked', caller, next, { revokedBy: partyOf(caller.viewer), approver: record.decision?.by ?? null });
    const headline = `Access revoked: ${slackEscape(who(partyOf(caller.viewer)), 80)} ended the grant of ${slackEscape(who(record.requester), 80)} to ${describeTarget(record.target)}.`;
    this.options.webhook?.send({ event: 'access.revoked', text: headline, lines: [headline, `Request ${record.id}.`], facts: { request: publicFacts(next) } });
    return next;
  }

  /**
   * The viewer's grants in force now (the latest ending first). Grants found expired are settled on
   * the way (one audit event each, whichever instance sees it first). When the store cannot answer:
   * with `quiet`, no grant is in force (a request is denied as without one); otherwise the error.
   */
  async grantsOf(viewer: Viewer, requestId: string, quiet = true): Promise<AccessRecord[]> {
    const now = this.#clock();
    let records: AccessRecord[];
    try {
      records = await this.#guard(() => this.#store.grantsOf(partyOf(viewer)));
    } catch (err) {
      if (quiet) return [];
      throw err;
    }
    const out: AccessRecord[] = [];
    for (const r of records) {
      if (stateAt(r, now) === 'approved') out.push(r);
      else await this.#settle(r, now, requestId).catch(() => undefined);
    }
    return out;
  }

  /**
   * Settles what has run out unseen: pending requests and grants past their time, each moved to
   * expired and its audit event written once (whichever instance wins), so the trail records an
   * expiry even when nobody comes back to it. Returns how many of those it looked at are now expired.
   */
  async sweep(limit = 100): Promise<number> {
    const now = this.#clock();
    let settled = 0;
    for (const r of await this.#store.due(now, limit)) {
      const after = await this.#settle(r, now, null);
      if (after.state === 'expired' && r.state !== 'expired') settled += 1;
    }
    return settled;
  }

  /** Sweeps every `everyMs` in the background (a failed sweep is logged at debug and tried again); returns the stop. */
  sweepEvery(everyMs: number, logger: { debug(obj: object, msg: string): void }): () => void {
    const timer = setInterval(() => {
      this.sweep().catch((err: unknown) => logger.debug({ event: 'access.sweep-failed', problem: (err as Error).message }, 'the access sweep did not run'));
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** A grant was used by a request (once per request and grant). */
  used(caller: Pick<Caller, 'viewer' | 'requestId' | 'roleName'>, grant: AccessRecord, field: string): void {
    this.options.audit.event('access.used', {
      requestId: caller.requestId, grantId: grant.id, holder: partyOf(caller.viewer), holderRole: caller.roleName,
      approver: grant.decision?.by ?? null, target: grant.target, grantingRole: grant.grantingRole, field, grantedUntil: iso(grant.grantedUntil),
    });
  }

  /** A record as of now: a pending request or a grant past its time is moved to expired (and the event written) by whoever sees it first. */
  async #settle(record: AccessRecord, now: number, requestId: string | null): Promise<AccessRecord> {
    const state = stateAt(record, now);
    if (state === record.state) return record;
    const next: AccessRecord = { ...record, state: 'expired', ended: { by: null, at: record.state === 'pending' ? record.pendingUntil : record.grantedUntil! } };
    if (!(await this.#store.move(record.id, record.state, next, now))) {
      // Another step won (a revocation, or another instance's settling): what it left stands.
      return (await this.#store.get(record.id)) ?? next;
    }
    {
      this.options.audit.event(record.state === 'pending' ? 'access.request-expired' : 'access.expired', {
        requestId: requestId ?? undefined, sweep: requestId === null || undefined, accessRequest: record.id, requester: record.requester, approver: record.decision?.by ?? null, target: record.target, grantingRole: record.grantingRole,
        endedAt: iso(next.ended!.at),
      });
    }
    return next;
  }

  /** A record the caller may see: its own, or one it may answer. Anything else is NOT_FOUND, as if it did not exist. */
  async #visible(caller: Caller, id: string): Promise<AccessRecord> {
    const record = /^[0-9a-f-]{36}$/.test(id) ? await this.#guard(() => this.#store.get(id)) : null;
    if (!record || (!same(record.requester, caller.viewer) && !this.oversees(caller, record))) throw notFound(id);
    return record;
  }

  /** Which granting roles' entries the caller answers, and through which of its roles: one pair per (granting role, approving role). */
  #approvals(caller: Caller): { readonly grantingRole: string; readonly approverRole: string }[] {
    const out: { grantingRole: string; approverRole: string }[] = [];
    for (const role of this.options.policy().roles) {
      const approving = new Set(role.grantable.flatMap((rule) => rule.approvers.filter((a) => caller.availableRoles.includes(a))));
      for (const approverRole of approving) out.push({ grantingRole: role.name, approverRole });
    }
    return out;
  }

  #event(name: string, caller: Caller, record: AccessRecord, extra: Record<string, unknown>): void {
    this.options.audit.event(name, {
      requestId: caller.requestId, accessRequest: record.id, requester: record.requester, requesterRole: record.requesterRole, target: record.target,
      grantingRole: record.grantingRole, durationMinutes: record.durationMinutes, reason: record.reason, approvers: record.approvers,
      state: record.state, grantedUntil: iso(record.grantedUntil), duplicates: record.duplicates || undefined, ...extra,
    });
  }

  async #guard<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (err instanceof AccessStoreUnavailable) {
        throw new UpstreamUnavailableError('The gateway\'s access-request store did not answer; nothing was changed. Try again shortly.', { details: { upstream: 'store' }, cause: err });
      }
      throw err;
    }
  }
}

const notFound = (id: string): NotFoundError => new NotFoundError(`No access request ${id.length > 64 ? `${id.slice(0, 61)}...` : id} is yours or yours to answer.`);

/**
 * An entry of `grantable`, as a short fingerprint of what it says (its lists sorted): a request can be
 * answered only while its entry says the same.
 */
export const entryFingerprint = (rule: GrantRule): string => {
  const sorted = (xs: readonly (string | number)[]) => [...xs].map(String).sort();
  const canonical = [rule.dashboards, rule.questions, rule.collections, rule.subtrees, rule.to, rule.approvers].map(sorted);
  return createHash('sha256').update(JSON.stringify([...canonical, rule.maxMinutes])).digest('base64url').slice(0, 22);
};


const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const who = (p: Party): string => p.name ?? p.email ?? p.subject;

function stateError(record: AccessRecord, state: AccessState, wanted: string): BadUserInputError {
  return new BadUserInputError(`Access request ${record.id} is ${state}; only ${wanted === 'revoked' ? 'an approved grant in force can be revoked' : `a pending request can be ${wanted}`}.`, { details: { argument: 'id', state: state.toUpperCase() } });
}

/** What a webhook receiver is told: the request's facts, never a token or credential. */
function publicFacts(r: AccessRecord): Record<string, unknown> {
  return {
    id: r.id, state: r.state, requester: r.requester, target: r.target, grantingRole: r.grantingRole, reason: r.reason, durationMinutes: r.durationMinutes,
    approvers: r.approvers, requestedAt: iso(r.requestedAt), pendingUntil: iso(r.pendingUntil), decision: r.decision ? { ...r.decision, at: iso(r.decision.at) } : null,
    grantedUntil: iso(r.grantedUntil), ended: r.ended ? { ...r.ended, at: iso(r.ended.at) } : null,
  };
}

/** The service bound to one request's caller, as resolvers use it (context.ts's CallerAccessRequests). */
export function forCaller(service: AccessRequests, caller: Caller, locate: Locate): CallerAccessRequests {
  return {
    request: (kind, id, reason, durationMinutes) => service.request(caller, { kind, id, reason, durationMinutes }, locate),
    list: (state, mine, first) => service.list(caller, { state, mine, first }),
    decide: (id, approve, note) => service.decide(caller, id, approve, note),
    revoke: (id) => service.revoke(caller, id),
    // The grants that act now: those the policy in force still offers as granted.
    grants: async () => {
      const all = await service.grantsOf(caller.viewer, caller.requestId, false);
      const acting = await Promise.all(all.map((g) => service.stillOffered(caller.viewer, g, locate).catch(() => false)));
      return all.filter((_, i) => acting[i]);
    },
    decidingRole: (record) => service.decidingRole(caller, record),
    now: () => service.now(),
  };
}

/** The service as the gateway runs it: requests kept in `store`, the webhook the policy in force names. */
export function createAccessRequests(options: {
  readonly store: AccessStore; readonly policy: PolicyStore; readonly audit: AuditLog; readonly logger: WebhookLogger;
  readonly clock?: () => number; readonly webhook?: Pick<WebhookOptions, 'attempts' | 'baseDelayMs' | 'timeoutMs'>;
}): AccessRequests {
  const webhook = new Webhook({
    ...options.webhook, logger: options.logger,
    target: () => {
      const w = options.policy.current.policy.accessRequests.webhook;
      return w ? { url: w.url, secret: () => options.policy.readSecret(w.secret) } : null;
    },
  });
  return new AccessRequests({ store: options.store, policy: () => options.policy.current.policy, audit: options.audit, webhook, ...(options.clock ? { clock: options.clock } : {}) });
}
