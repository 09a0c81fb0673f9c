/**
 * Access requests and the grants they become, and where they are kept: Redis, shared by every
 * instance (so a revocation made on one is in force on all of them at their next request), or this
 * process's memory when the gateway runs alone. A request is one record from start to end: pending,
 * then approved (a grant, until it expires or is revoked) or denied; a pending request expires
 * unanswered. Every change of state is one atomic compare-and-set on the state, so two approvers
 * answering at once cannot both win, and nothing is ever read, changed and written back blindly.
 *
 * Unlike caches, this store does not let a request through when it cannot answer: reads that decide
 * a grant fail closed (no grant), and writes fail with an error the caller sees.
 */
import { createHash } from 'node:crypto';
import type { RedisStore } from '../store/store.js';

export const ACCESS_TARGET_KINDS = ['dashboard', 'question', 'collection'] as const;
export type AccessTargetKind = (typeof ACCESS_TARGET_KINDS)[number];

export interface AccessTarget {
  readonly kind: AccessTargetKind;
  readonly id: number;
  /** A collection granted with everything below it. */
  readonly subtree: boolean;
}

/** A person, as the audit trail and approvers see them. */
export interface Party {
  readonly issuer: string;
  readonly subject: string;
  readonly email: string | null;
  readonly name: string | null;
}

export const ACCESS_STATES = ['pending', 'approved', 'denied', 'expired', 'revoked'] as const;
export type AccessState = (typeof ACCESS_STATES)[number];

export interface AccessRecord {
  readonly id: string;
  readonly state: AccessState;
  readonly requester: Party;
  /** The role the requester acted in when asking. */
  readonly requesterRole: string | null;
  readonly target: AccessTarget;
  /** The role whose credential a grant reaches the target through. */
  readonly grantingRole: string;
  /** The roles whose members may answer (the offering entry's `approvers`, as the policy said when asked). */
  readonly approvers: readonly string[];
  /** A fingerprint of the offering entry: only while the granting role still has that very entry can the request be answered. */
  readonly entry: string;
  readonly reason: string;
  readonly durationMinutes: number;
  readonly requestedAt: number;
  /** Unanswered by then, the request expires. */
  readonly pendingUntil: number;
  readonly decision: { readonly by: Party; readonly role: string; readonly note: string | null; readonly at: number } | null;
  /** While approved: the grant lasts until then. */
  readonly grantedUntil: number | null;
  /** Revoked (by whom) or expired (by nobody): when. */
  readonly ended: { readonly by: Party | null; readonly at: number } | null;
  /** How many later requests for the same target were merged into this one while it was pending. */
  readonly duplicates: number;
}

/** A record's state as of `now`: an approved grant past its end, or a pending request past its wait, has expired. */
export function stateAt(record: AccessRecord, now: number): AccessState {
  if (record.state === 'pending' && record.pendingUntil <= now) return 'expired';
  if (record.state === 'approved' && (record.grantedUntil ?? 0) <= now) return 'expired';
  return record.state;
}

/** The store did not answer: a write cannot be promised, a grant cannot be confirmed. */
export class AccessStoreUnavailable extends Error {
  override readonly name = 'AccessStoreUnavailable';
}

/** A requester has this many requests pending already: the store refuses another until `freeAt` (when the first wait ends). */
export class TooManyPending extends Error {
  override readonly name = 'TooManyPending';
  constructor(readonly pending: number, readonly freeAt: number) {
    super(`${pending} requests pending`);
  }
}

export interface AccessStore {
  /**
   * Keeps a new pending request, unless its requester already has one pending under `sameKey` (the
   * same target): then that one is kept, its `duplicates` counted up, and returned with `merged`.
   * Throws TooManyPending when the requester has `maxPending` requests pending (counted in the same step).
   */
  open(record: AccessRecord, sameKey: string, now: number, maxPending: number): Promise<{ record: AccessRecord; merged: boolean }>;
  get(id: string): Promise<AccessRecord | null>;
  /** Replaces the record with `next` if it is still in state `from` (at `now`); false when it no longer is. */
  move(id: string, from: AccessState, next: AccessRecord, now: number): Promise<boolean>;
  /** The party's requests, newest first, at most `limit`. */
  byRequester(party: Pick<Party, 'issuer' | 'subject'>, limit: number): Promise<AccessRecord[]>;
  /** The party's records in state approved (revoked and expired ones leave at once), latest end first; some may be past `grantedUntil`. */
  grantsOf(party: Pick<Party, 'issuer' | 'subject'>): Promise<AccessRecord[]>;
  /** Requests still pending at `now` whose grant would go through one of `grantingRoles`, soonest end of wait first, at most `limit` (what approvers answer). */
  pending(now: number, limit: number, grantingRoles: readonly string[]): Promise<AccessRecord[]>;
  /** Everyone's requests, newest first, at most `limit` (what approvers look back on). */
  recent(limit: number): Promise<AccessRecord[]>;
  /** Pending requests and grants whose time is over at `now` but which are not yet settled as expired, soonest first, at most `limit`. */
  due(now: number, limit: number): Promise<AccessRecord[]>;
}

/** How long a record outlives its end, so approvers and the requester can still see what happened. */
export const KEEP_AFTER_END_MS = 7 * 24 * 60 * 60_000;
/** The most records the requester index and the shared index hold (older ones drop out of listings). */
export const PER_REQUESTER_INDEX = 200;
export const RECENT_INDEX = 2_000;

const partyKey = (p: Pick<Party, 'issuer' | 'subject'>): string => createHash('sha256').update(`${p.issuer}\u0000${p.subject}`).digest('base64url');

/** Until when a record must be kept: its end (a grant's, or the wait's), and a week after. */
const keepUntil = (r: AccessRecord): number => Math.max(r.pendingUntil, r.grantedUntil ?? 0, r.ended?.at ?? 0, r.decision?.at ?? 0) + KEEP_AFTER_END_MS;

function parse(json: string, duplicates: number): AccessRecord | null {
  try {
    const r = JSON.parse(json) as AccessRecord;
    return typeof r.id === 'string' && typeof r.state === 'string' ? { ...r, duplicates } : null;
  } catch {
    return null;
  }
}

// --- Redis ------------------------------------------------------------------------------------------
// Every key carries the hash tag {access}, so the scripts' keys share one Cluster slot, and every key a
// script touches is declared. A record is a hash: `s` its state, `r` its JSON, `d` its merged asks.
// Indexes: the requester's records (`by`, newest last), their pending ones (`pend`, by end of wait),
// their grants (`grants`, by end of grant), the pending ones per granting role (`pending:<role>`, so an
// approver reads only those of the roles they answer for), everyone's (`all`), and
// everything whose time runs out (`ends`: pending requests and grants, by when they end), for the sweep.
// `same` names the pending request per requester and target as "<id> <pendingUntil>"; it is deleted when
// the request leaves pending.

/** Sets a key's time to live to at least `ms` (never shortens it). */
const EXTEND = `local function extend(key, ms)
  local left = redis.call('pttl', key)
  if left == -1 or (left >= 0 and left < tonumber(ms)) then redis.call('pexpire', key, ms) end
end`;

const OPEN = `${EXTEND}
local same = redis.call('get', KEYS[1])
if same then
  local id, untilMs = string.match(same, '^(%S+) (%d+)$')
  if id and tonumber(untilMs) > tonumber(ARGV[3]) then return {'same', id} end
end
redis.call('zremrangebyscore', KEYS[5], '-inf', ARGV[3])
local pending = redis.call('zcard', KEYS[5])
if pending >= tonumber(ARGV[6]) then
  local first = redis.call('zrange', KEYS[5], 0, 0, 'WITHSCORES')
  return {'full', tostring(pending), first[2]}
end
redis.call('hset', KEYS[2], 's', 'pending', 'r', ARGV[2], 'd', 0)
redis.call('pexpire', KEYS[2], ARGV[5])
redis.call('set', KEYS[1], ARGV[1] .. ' ' .. ARGV[4], 'PX', ARGV[5])
redis.call('zadd', KEYS[3], ARGV[3], ARGV[1])
redis.call('zremrangebyrank', KEYS[3], 0, -${PER_REQUESTER_INDEX + 1})
extend(KEYS[3], ARGV[5])
redis.call('zadd', KEYS[5], ARGV[4], ARGV[1])
extend(KEYS[5], ARGV[5])
redis.call('zremrangebyscore', KEYS[6], '-inf', tonumber(ARGV[3]) - ${KEEP_AFTER_END_MS})
redis.call('zadd', KEYS[6], ARGV[4], ARGV[1])
redis.call('zadd', KEYS[7], ARGV[4], ARGV[1])
redis.call('zadd', KEYS[4], ARGV[3], ARGV[1])
redis.call('zremrangebyrank', KEYS[4], 0, -${RECENT_INDEX + 1})
return {'new', ARGV[1]}`;

const MOVE = `${EXTEND}
if redis.call('hget', KEYS[1], 's') ~= ARGV[1] then return 0 end
redis.call('hset', KEYS[1], 's', ARGV[2], 'r', ARGV[3])
redis.call('pexpire', KEYS[1], ARGV[4])
extend(KEYS[3], ARGV[4])
if ARGV[1] == 'pending' then
  local same = redis.call('get', KEYS[2])
  if same and string.sub(same, 1, string.len(ARGV[5]) + 1) == ARGV[5] .. ' ' then redis.call('del', KEYS[2]) end
  redis.call('zrem', KEYS[4], ARGV[5])
  redis.call('zrem', KEYS[5], ARGV[5])
end
if ARGV[2] == 'approved' then
  redis.call('zadd', KEYS[6], ARGV[6], ARGV[5])
  extend(KEYS[6], ARGV[4])
  redis.call('zadd', KEYS[7], ARGV[6], ARGV[5])
else
  if ARGV[1] == 'approved' then redis.call('zrem', KEYS[6], ARGV[5]) end
  redis.call('zrem', KEYS[7], ARGV[5])
end
return 1`;

/** A merged ask is counted on the request while it is still pending; -1: it no longer is; -2: its record has gone (its name is dropped). */
const MERGE = `
local s = redis.call('hget', KEYS[1], 's')
if not s then
  local same = redis.call('get', KEYS[2])
  if same and string.sub(same, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then redis.call('del', KEYS[2]) end
  return -2
end
if s ~= 'pending' then return -1 end
return redis.call('hincrby', KEYS[1], 'd', 1)`;

export class RedisAccessStore implements AccessStore {
  constructor(private readonly store: RedisStore) {}

  #key(...parts: string[]): string {
    return this.store.key(['{access}', ...parts].join(':'));
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await this.store.observe(command, (err) => err instanceof Error && /^(ERR|NOSCRIPT|WRONGTYPE|OOM|NOPERM)/.test(err.message));
    } catch (err) {
      throw new AccessStoreUnavailable('the access-request store did not answer', { cause: err });
    }
  }

  async open(record: AccessRecord, sameKey: string, now: number, maxPending: number): Promise<{ record: AccessRecord; merged: boolean }> {
    const requester = partyKey(record.requester);
    for (let attempt = 0; ; attempt++) {
      const [outcome, value, freeAt] = await this.#run(async () => (await this.store.client.eval(
        OPEN, 7, this.#key('same', requester, sameKey), this.#key('r', record.id), this.#key('by', requester), this.#key('all'), this.#key('pend', requester), this.#key('pending', record.grantingRole), this.#key('ends'),
        record.id, JSON.stringify(record), now, record.pendingUntil, Math.max(1, keepUntil(record) - now), maxPending,
      )) as [string, string, string?]);
      if (outcome === 'full') throw new TooManyPending(Number(value), Number(freeAt));
      if (outcome === 'new') return { record, merged: false };
      // Counted only while that request is still pending; one whose record has gone (evicted) is forgotten, and asked anew.
      const counted = Number(await this.#run(() => this.store.client.eval(MERGE, 2, this.#key('r', value), this.#key('same', requester, sameKey), value)));
      const merged = counted === -2 ? null : await this.get(value);
      if (merged) return { record: merged, merged: true };
      if (attempt > 0) throw new AccessStoreUnavailable('the merged request could not be read back');
    }
  }

  async get(id: string): Promise<AccessRecord | null> {
    const [json, duplicates] = await this.#run(() => this.store.client.hmget(this.#key('r', id), 'r', 'd'));
    return json ? parse(json, Number(duplicates ?? 0)) : null;
  }

  async move(id: string, from: AccessState, next: AccessRecord, now: number): Promise<boolean> {
    const requester = partyKey(next.requester);
    const moved = await this.#run(() => this.store.client.eval(
      MOVE, 7, this.#key('r', id), this.#key('same', requester, sameKeyOf(next)), this.#key('by', requester), this.#key('pend', requester), this.#key('pending', next.grantingRole), this.#key('grants', requester), this.#key('ends'),
      from, next.state, JSON.stringify(next), Math.max(1, keepUntil(next) - now), id, next.grantedUntil ?? 0,
    ));
    return Number(moved) === 1;
  }

  async byRequester(party: Pick<Party, 'issuer' | 'subject'>, limit: number): Promise<AccessRecord[]> {
    return this.#records(await this.#run(() => this.store.client.zrevrange(this.#key('by', partyKey(party)), 0, limit - 1)));
  }

  async grantsOf(party: Pick<Party, 'issuer' | 'subject'>): Promise<AccessRecord[]> {
    return this.#records(await this.#run(() => this.store.client.zrevrange(this.#key('grants', partyKey(party)), 0, PER_REQUESTER_INDEX - 1)));
  }

  async pending(now: number, limit: number, grantingRoles: readonly string[]): Promise<AccessRecord[]> {
    const perRole = await Promise.all(grantingRoles.map((role) => this.#run(() => this.store.client.zrangebyscore(this.#key('pending', role), `(${now}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit))));
    const scored: [string, number][] = perRole.flatMap((flat) => flat.flatMap((v, i) => (i % 2 === 0 ? [[v, Number(flat[i + 1])] as [string, number]] : [])));
    return this.#records(scored.sort((a, b) => a[1] - b[1]).slice(0, limit).map(([id]) => id));
  }

  async recent(limit: number): Promise<AccessRecord[]> {
    return this.#records(await this.#run(() => this.store.client.zrevrange(this.#key('all'), 0, limit - 1)));
  }

  async due(now: number, limit: number): Promise<AccessRecord[]> {
    const ids = await this.#run(() => this.store.client.zrangebyscore(this.#key('ends'), '-inf', now, 'LIMIT', 0, limit));
    const records = await this.#records(ids);
    // A record gone (kept no longer) leaves the index too.
    const gone = ids.filter((id) => !records.some((r) => r.id === id));
    if (gone.length) await this.#run(() => this.store.client.zrem(this.#key('ends'), ...gone));
    return records;
  }

  /** The records of these ids, in order, in one round trip; ids whose record has gone are left out. */
  async #records(ids: readonly string[]): Promise<AccessRecord[]> {
    if (ids.length === 0) return [];
    const pipeline = this.store.client.pipeline();
    for (const id of ids) pipeline.hmget(this.#key('r', id), 'r', 'd');
    const answers = await this.#run(async () => (await pipeline.exec()) ?? []);
    const out: AccessRecord[] = [];
    for (const [err, value] of answers) {
      if (err) throw new AccessStoreUnavailable('the access-request store did not answer', { cause: err });
      const [json, duplicates] = value as [string | null, string | null];
      const r = json ? parse(json, Number(duplicates ?? 0)) : null;
      if (r) out.push(r);
    }
    return out;
  }
}

/** Requests for the same target by the same requester, under the same entry, are one request while pending. */
export function sameKeyOf(r: Pick<AccessRecord, 'target' | 'grantingRole' | 'entry'>): string {
  return `${r.target.kind}:${r.target.id}:${r.target.subtree ? 'subtree' : 'own'}:${r.grantingRole}:${r.entry}`;
}

// --- Memory -----------------------------------------------------------------------------------------

/**
 * One instance alone: the same behaviour in this process, for at most `maxRecords` records. Past the
 * bound, records that have ended go first (oldest first); pending requests and grants in force are
 * never dropped: when only they are left, a new request is refused (the store is full).
 */
export class MemoryAccessStore implements AccessStore {
  readonly #records = new Map<string, { json: string; state: AccessState; requester: string; duplicates: number; keepUntil: number; liveUntil: number }>();
  readonly #same = new Map<string, { id: string; until: number }>();

  constructor(private readonly maxRecords = 10_000) {}

  async open(record: AccessRecord, sameKey: string, now: number, maxPending: number): Promise<{ record: AccessRecord; merged: boolean }> {
    const requester = partyKey(record.requester);
    const key = `${requester}:${sameKey}`;
    const same = this.#same.get(key);
    const held = same && same.until > now ? this.#records.get(same.id) : undefined;
    if (held && held.state === 'pending') {
      held.duplicates += 1;
      return { record: parse(held.json, held.duplicates)!, merged: true };
    }
    let pending = 0;
    let freeAt = Infinity;
    for (const r of this.#records.values()) {
      if (r.requester !== requester || r.state !== 'pending' || r.liveUntil <= now) continue;
      pending += 1;
      freeAt = Math.min(freeAt, r.liveUntil);
    }
    if (pending >= maxPending) throw new TooManyPending(pending, freeAt);
    this.#sweep(now);
    if (this.#records.size >= this.maxRecords) throw new AccessStoreUnavailable('the in-memory access-request store is full of pending requests and grants in force');
    this.#records.set(record.id, { json: JSON.stringify(record), state: 'pending', requester, duplicates: 0, keepUntil: keepUntil(record), liveUntil: record.pendingUntil });
    this.#same.set(key, { id: record.id, until: record.pendingUntil });
    return { record, merged: false };
  }

  async get(id: string): Promise<AccessRecord | null> {
    const held = this.#records.get(id);
    return held ? parse(held.json, held.duplicates) : null;
  }

  async move(id: string, from: AccessState, next: AccessRecord, _now: number): Promise<boolean> {
    const held = this.#records.get(id);
    if (!held || held.state !== from) return false;
    held.json = JSON.stringify(next);
    held.state = next.state;
    held.keepUntil = keepUntil(next);
    held.liveUntil = next.state === 'approved' ? next.grantedUntil ?? 0 : 0;
    if (from === 'pending') {
      const key = `${held.requester}:${sameKeyOf(next)}`;
      if (this.#same.get(key)?.id === id) this.#same.delete(key);
    }
    return true;
  }

  async byRequester(party: Pick<Party, 'issuer' | 'subject'>, limit: number): Promise<AccessRecord[]> {
    const requester = partyKey(party);
    return this.#newest((r) => r.requester === requester, limit);
  }

  async grantsOf(party: Pick<Party, 'issuer' | 'subject'>): Promise<AccessRecord[]> {
    const requester = partyKey(party);
    // As in Redis: the latest end first.
    return this.#newest((r) => r.requester === requester && r.state === 'approved', PER_REQUESTER_INDEX).sort((a, b) => (b.grantedUntil ?? 0) - (a.grantedUntil ?? 0));
  }

  async pending(now: number, limit: number, grantingRoles: readonly string[]): Promise<AccessRecord[]> {
    // As in Redis: the soonest end of wait first.
    const out: AccessRecord[] = [];
    for (const held of [...this.#records.values()].filter((r) => r.state === 'pending' && r.liveUntil > now).sort((a, b) => a.liveUntil - b.liveUntil)) {
      if (out.length >= limit) break;
      const r = parse(held.json, held.duplicates);
      if (r && grantingRoles.includes(r.grantingRole)) out.push(r);
    }
    return out;
  }

  async recent(limit: number): Promise<AccessRecord[]> {
    return this.#newest(() => true, limit);
  }

  async due(now: number, limit: number): Promise<AccessRecord[]> {
    const out: AccessRecord[] = [];
    for (const held of [...this.#records.values()].filter((r) => (r.state === 'pending' || r.state === 'approved') && r.liveUntil <= now).sort((a, b) => a.liveUntil - b.liveUntil)) {
      if (out.length >= limit) break;
      const r = parse(held.json, held.duplicates);
      if (r) out.push(r);
    }
    return out;
  }

  #newest(keep: (r: { state: AccessState; requester: string; liveUntil: number }) => boolean, limit: number): AccessRecord[] {
    const out: AccessRecord[] = [];
    // A Map keeps insertion order: newest last.
    for (const held of [...this.#records.values()].reverse()) {
      if (out.length >= limit) break;
      if (!keep(held)) continue;
      const r = parse(held.json, held.duplicates);
      if (r) out.push(r);
    }
    return out;
  }

  /** Drops records past their keeping time; past the bound, ended ones, oldest first. */
  #sweep(now: number): void {
    for (const [id, held] of this.#records) if (held.keepUntil <= now) this.#records.delete(id);
    for (const [id, held] of this.#records) {
      if (this.#records.size < this.maxRecords) break;
      if (held.liveUntil <= now) this.#records.delete(id);
    }
    for (const [key, same] of this.#same) if (!this.#records.has(same.id) || same.until <= now) this.#same.delete(key);
  }
}
