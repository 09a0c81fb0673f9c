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

export interface AccessStore {
  /**
   * Keeps a new pending request, unless its requester already has one pending under `sameKey` (the
   * same target): then that one is kept, its `duplicates` counted up, and returned with `merged`.
   */
  open(record: AccessRecord, sameKey: string, now: number): Promise<{ record: AccessRecord; merged: boolean }>;
  get(id: string): Promise<AccessRecord | null>;
  /** Replaces the record with `next` if it is still in state `from`; false when it no longer is. */
  move(id: string, from: AccessState, next: AccessRecord): Promise<boolean>;
  /** The party's requests, newest first, at most `limit`. */
  byRequester(party: Pick<Party, 'issuer' | 'subject'>, limit: number): Promise<AccessRecord[]>;
  /** Everyone's requests, newest first, at most `limit` (what approvers look through). */
  recent(limit: number): Promise<AccessRecord[]>;
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
// Every key carries the hash tag {access}, so the scripts' keys share one Cluster slot.

const OPEN = `
local same = redis.call('get', KEYS[1])
if same then
  local k = ARGV[6] .. same
  local s = redis.call('hget', k, 's')
  local p = tonumber(redis.call('hget', k, 'p') or '0')
  if s == 'pending' and p > tonumber(ARGV[3]) then
    redis.call('hincrby', k, 'd', 1)
    return same
  end
end
redis.call('hset', KEYS[2], 's', 'pending', 'r', ARGV[2], 'p', ARGV[4], 'd', 0)
redis.call('pexpire', KEYS[2], ARGV[5])
redis.call('set', KEYS[1], ARGV[1], 'PX', math.max(1, tonumber(ARGV[4]) - tonumber(ARGV[3])))
redis.call('zadd', KEYS[3], ARGV[3], ARGV[1])
redis.call('zremrangebyrank', KEYS[3], 0, -${PER_REQUESTER_INDEX + 1})
redis.call('pexpire', KEYS[3], ARGV[5])
redis.call('zadd', KEYS[4], ARGV[3], ARGV[1])
redis.call('zremrangebyrank', KEYS[4], 0, -${RECENT_INDEX + 1})
return ARGV[1]`;

const MOVE = `
if redis.call('hget', KEYS[1], 's') ~= ARGV[1] then return 0 end
redis.call('hset', KEYS[1], 's', ARGV[2], 'r', ARGV[3])
redis.call('pexpire', KEYS[1], ARGV[4])
if ARGV[2] ~= 'pending' and redis.call('get', KEYS[2]) == ARGV[5] then redis.call('del', KEYS[2]) end
return 1`;

const LIST = `
local ids = redis.call('zrevrange', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('hmget', ARGV[2] .. id, 'r', 'd')
  if v[1] then
    table.insert(out, v[1])
    table.insert(out, v[2] or '0')
  else
    redis.call('zrem', KEYS[1], id)
  end
end
return out`;

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

  async open(record: AccessRecord, sameKey: string, now: number): Promise<{ record: AccessRecord; merged: boolean }> {
    const requester = partyKey(record.requester);
    const id = await this.#run(async () => String(await this.store.client.eval(
      OPEN, 4, this.#key('same', requester, sameKey), this.#key('r', record.id), this.#key('by', requester), this.#key('all'),
      record.id, JSON.stringify(record), now, record.pendingUntil, Math.max(1, keepUntil(record) - Date.now()), this.#key('r', ''),
    )));
    if (id === record.id) return { record, merged: false };
    const merged = await this.get(id);
    if (!merged) throw new AccessStoreUnavailable('the merged request could not be read back');
    return { record: merged, merged: true };
  }

  async get(id: string): Promise<AccessRecord | null> {
    const [json, duplicates] = await this.#run(() => this.store.client.hmget(this.#key('r', id), 'r', 'd'));
    return json ? parse(json, Number(duplicates ?? 0)) : null;
  }

  async move(id: string, from: AccessState, next: AccessRecord): Promise<boolean> {
    const same = this.#key('same', partyKey(next.requester), sameKeyOf(next));
    const moved = await this.#run(() => this.store.client.eval(MOVE, 2, this.#key('r', id), same, from, next.state, JSON.stringify(next), Math.max(1, keepUntil(next) - Date.now()), id));
    return Number(moved) === 1;
  }

  byRequester(party: Pick<Party, 'issuer' | 'subject'>, limit: number): Promise<AccessRecord[]> {
    return this.#list(this.#key('by', partyKey(party)), limit);
  }

  recent(limit: number): Promise<AccessRecord[]> {
    return this.#list(this.#key('all'), limit);
  }

  async #list(index: string, limit: number): Promise<AccessRecord[]> {
    const flat = (await this.#run(() => this.store.client.eval(LIST, 1, index, limit, this.#key('r', '')))) as string[];
    const out: AccessRecord[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const r = parse(flat[i]!, Number(flat[i + 1]));
      if (r) out.push(r);
    }
    return out;
  }
}

/** Requests for the same target by the same requester are one request while pending. */
export function sameKeyOf(r: Pick<AccessRecord, 'target' | 'grantingRole'>): string {
  return `${r.target.kind}:${r.target.id}:${r.grantingRole}`;
}

// --- Memory -----------------------------------------------------------------------------------------

/** One instance alone: the same behaviour in this process, for at most `maxRecords` records. */
export class MemoryAccessStore implements AccessStore {
  readonly #records = new Map<string, { json: string; duplicates: number; keepUntil: number }>();
  readonly #same = new Map<string, string>();

  constructor(private readonly maxRecords = 10_000) {}

  async open(record: AccessRecord, sameKey: string, now: number): Promise<{ record: AccessRecord; merged: boolean }> {
    this.#sweep();
    const key = `${partyKey(record.requester)}:${sameKey}`;
    const existing = this.#same.get(key);
    const held = existing ? this.#records.get(existing) : undefined;
    if (existing && held) {
      const r = parse(held.json, held.duplicates)!;
      if (r.state === 'pending' && r.pendingUntil > now) {
        held.duplicates += 1;
        return { record: { ...r, duplicates: held.duplicates }, merged: true };
      }
    }
    this.#records.set(record.id, { json: JSON.stringify(record), duplicates: 0, keepUntil: keepUntil(record) });
    this.#same.set(key, record.id);
    return { record, merged: false };
  }

  async get(id: string): Promise<AccessRecord | null> {
    const held = this.#records.get(id);
    return held ? parse(held.json, held.duplicates) : null;
  }

  async move(id: string, from: AccessState, next: AccessRecord): Promise<boolean> {
    const held = this.#records.get(id);
    if (!held || parse(held.json, 0)?.state !== from) return false;
    held.json = JSON.stringify(next);
    held.keepUntil = keepUntil(next);
    return true;
  }

  async byRequester(party: Pick<Party, 'issuer' | 'subject'>, limit: number): Promise<AccessRecord[]> {
    return (await this.recent(RECENT_INDEX)).filter((r) => r.requester.issuer === party.issuer && r.requester.subject === party.subject).slice(0, limit);
  }

  async recent(limit: number): Promise<AccessRecord[]> {
    this.#sweep();
    const out: AccessRecord[] = [];
    // A Map keeps insertion order: newest last.
    for (const held of [...this.#records.values()].reverse()) {
      if (out.length >= limit) break;
      const r = parse(held.json, held.duplicates);
      if (r) out.push(r);
    }
    return out;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, held] of this.#records) if (held.keepUntil <= now || this.#records.size > this.maxRecords) this.#records.delete(id);
    for (const [key, id] of this.#same) if (!this.#records.has(id)) this.#same.delete(key);
  }
}
