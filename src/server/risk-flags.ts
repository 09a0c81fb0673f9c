/**
 * Risk flags on agent traffic (a caller of kind `agent`, a vetted-only role, or a call through /mcp):
 * patterns a reviewer should see, recorded on the call's audit record (`riskFlags`). A role may
 * refuse calls so flagged (`riskFlags.refuse` in the policy: 403 FORBIDDEN, reason `risk-flagged`).
 *
 *   question-burst       more distinct questions (and dashboard cards) run by this caller in the last
 *                        minute than `distinctQuestionsPerMinute`
 *   row-cap-repeated     more of this caller's runs cut by a row cap in the last minute than
 *                        `rowCapCutsPerMinute`
 *   sql-shaped-value     a variable's text looks like SQL (a statement, a comment or quote trick)
 *   prompt-shaped-value  a variable's text looks like instructions to a model (ignore previous
 *                        instructions, role markers, chat-template tokens)
 *
 * The value flags are read from the request's variables (already bounded by the request limits) by
 * an iterative walk with a cap on nodes and characters, with patterns that cannot backtrack
 * catastrophically (tested with crafted strings). The two history flags count what each
 * caller ran in the last minute in each role: across every instance through Redis when the gateway
 * has it (each instance alone while Redis does not answer), else in this instance.
 * A refusal is decided before the operation runs, from the values and the caller's history; the
 * record written afterwards counts the call's own runs too, so the call that makes a burst is flagged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ReplyError } from 'ioredis';
import type { FastifyRequest } from 'fastify';
import type { RunRecord, Trail } from '../audit/trail.js';
import { ForbiddenError } from '../errors/index.js';
import type { RiskFlag, RiskFlagPolicy } from '../policy/policy.js';
import type { RedisStore } from '../store/store.js';
import { ExpiringMap } from '../utils/expiring-map.js';

const WINDOW_MS = 60_000;
/** Values and characters of a request's variables that are looked at: per string, and in all. */
const MAX_NODES = 2_000;
const MAX_CHARS = 4_000;
const MAX_TOTAL_CHARS = 16_000;

/** SQL statements and injection tricks; a sentence that says "select" and "from" is not enough. */
const SQL_SHAPES: readonly RegExp[] = [
  // The table name is taken whole (a lookahead and a backreference: an atomic group), so the engine
  // never tries its splits against the window after it (a crafted 4,000-character string took 9 s).
  /\bselect\b[\s\S]{0,200}?\bfrom\b\s*(?=([\w"`[]+))\1[\s\S]{0,200}?(?:\bwhere\b|\bjoin\b|\bunion\b|\blimit\b|\border\s+by\b|\bgroup\s+by\b|;|--|=)/i,
  /\bselect\s+(?:\*|count\s*\(|distinct\b)[\s\S]{0,200}?\bfrom\b/i,
  /\b(?:insert\s+into|delete\s+from|drop\s+(?:table|database|schema|view|index)|alter\s+table|truncate\s+table|create\s+(?:table|user|role|function)|grant\s+\w+\s+on)\b/i,
  /\bupdate\s+[\w"`[\].]+\s+set\s+[\w"`]+\s*=/i,
  /\bunion\b(?:\s+all)?\s+select\b/i,
  /;\s*(?:select|insert|update|delete|drop|alter|create|truncate|shutdown|exec)\b/i,
  /'\s*(?:or|and)\s+(?:'[^']*'|\d+)\s*(?:=|like|>|<)/i,
  /\b(?:or|and)\s+1\s*=\s*1\b/i,
  /(?:'|\))\s*(?:--|#|\/\*)/,
  /\b(?:sleep|pg_sleep|benchmark|waitfor\s+delay)\s*\(/i,
];

const PROMPT_SHAPES: readonly RegExp[] = [
  /\b(?:ignore|disregard|forget|override)\b[\s\S]{0,40}?\b(?:previous|prior|above|earlier|all|any|your)\b[\s\S]{0,40}?\b(?:instructions?|prompts?|rules?|directions?|guidelines?)\b/i,
  /\b(?:system\s+prompt|developer\s+mode|jailbreak|you\s+are\s+now|new\s+instructions?|act\s+as\s+(?:an?\s+)?(?:admin|administrator|system|root))\b/i,
  /<\|?\s*(?:im_start|im_end|system|endoftext|assistant)\s*\|?>/i,
  /\[\/?(?:INST|SYS)\]|<<\/?SYS>>/,
  /(?:^|\n)[ \t]*(?:system|assistant|developer)[ \t]*:/i,
];

/** The value flags of a request's variables: strings looked at up to MAX_CHARS each and MAX_TOTAL_CHARS in all, MAX_NODES values in all. */
export function valueFlags(variables: unknown): RiskFlag[] {
  const flags = new Set<RiskFlag>();
  const stack: unknown[] = [variables];
  let seen = 0;
  let budget = MAX_TOTAL_CHARS;
  while (stack.length > 0 && seen < MAX_NODES && flags.size < 2 && budget > 0) {
    const v = stack.pop();
    seen += 1;
    if (typeof v === 'string') {
      const text = v.slice(0, Math.min(MAX_CHARS, budget));
      budget -= text.length;
      if (SQL_SHAPES.some((re) => re.test(text))) flags.add('sql-shaped-value');
      if (PROMPT_SHAPES.some((re) => re.test(text))) flags.add('prompt-shaped-value');
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length && stack.length < MAX_NODES; i++) stack.push(v[i]);
    } else if (v !== null && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        if (stack.length >= MAX_NODES) break;
        stack.push(key, item);
      }
    }
  }
  return [...flags];
}

interface History {
  /** When each distinct question or card was last run (by key). */
  readonly questions: Map<string, number>;
  /** When runs were cut by a row cap. */
  readonly cuts: number[];
}

/** At most this many events per caller are kept (enough to exceed any threshold the policy allows). */
const MAX_EVENTS = 10_001;

type Thresholds = Pick<RiskFlagPolicy, 'distinctQuestionsPerMinute' | 'rowCapCutsPerMinute'>;

/** What each caller ran in the last minute: in this process, or shared by every instance through Redis. */
export interface RiskHistory {
  /** The history flags of a caller, counting `runs` (the call's own) too when given. */
  flags(caller: string, policy: Thresholds, runs?: readonly RunRecord[]): Promise<RiskFlag[]>;
  /** Counts a finished call's runs in its caller's history. */
  record(caller: string, runs: readonly RunRecord[]): Promise<void>;
}

const flagsOf = (distinct: number, cuts: number, policy: Thresholds): RiskFlag[] => [
  ...(distinct > policy.distinctQuestionsPerMinute ? ['question-burst' as const] : []),
  ...(cuts > policy.rowCapCutsPerMinute ? ['row-cap-repeated' as const] : []),
];

/** The history of this instance's callers (bounded by callers and by events per caller). */
export class LocalRiskHistory implements RiskHistory {
  readonly #callers: ExpiringMap<History>;

  constructor(private readonly now: () => number = Date.now) {
    this.#callers = new ExpiringMap<History>({ maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, touchOnRead: true, now });
  }

  async flags(caller: string, policy: Thresholds, runs: readonly RunRecord[] = []): Promise<RiskFlag[]> {
    const h = this.#prune(caller);
    const since = this.now() - WINDOW_MS;
    const distinct = new Set<string>();
    for (const [key, at] of h?.questions ?? []) if (at > since) distinct.add(key);
    let cuts = h?.cuts.filter((at) => at > since).length ?? 0;
    for (const r of runs) {
      const key = runKey(r);
      if (key) distinct.add(key);
      if (r.truncated) cuts += 1;
    }
    return flagsOf(distinct.size, cuts, policy);
  }

  async record(caller: string, runs: readonly RunRecord[]): Promise<void> {
    if (runs.length === 0) return;
    const now = this.now();
    const h = this.#prune(caller) ?? { questions: new Map<string, number>(), cuts: [] };
    for (const r of runs) {
      const key = runKey(r);
      if (key) {
        h.questions.delete(key);
        h.questions.set(key, now);
        if (h.questions.size > MAX_EVENTS) h.questions.delete(h.questions.keys().next().value!);
      }
      if (r.truncated) {
        h.cuts.push(now);
        if (h.cuts.length > MAX_EVENTS) h.cuts.shift();
      }
    }
    let bytes = 64 + caller.length * 2 + h.cuts.length * 8;
    for (const key of h.questions.keys()) bytes += 48 + key.length * 2;
    this.#callers.set(caller, h, bytes, now + WINDOW_MS);
  }

  #prune(caller: string): History | undefined {
    const h = this.#callers.get(caller);
    if (!h) return undefined;
    const since = this.now() - WINDOW_MS;
    // Questions are in the order they were last run: the old ones are at the front.
    for (const [key, at] of h.questions) {
      if (at > since) break;
      h.questions.delete(key);
    }
    while (h.cuts.length > 0 && h.cuts[0]! <= since) h.cuts.shift();
    return h;
  }
}

/**
 * Two sorted sets per caller, in one hash slot: the questions run (member: the question's key,
 * score: when last run) and the cuts (member: a random id, score: when). Old entries go as they are
 * read; the sets lapse a minute after the caller's last run.
 */
const COUNT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ${WINDOW_MS})
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ${WINDOW_MS})
local distinct = redis.call('ZCARD', KEYS[1])
for i = 2, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then distinct = distinct + 1 end
end
return { distinct, redis.call('ZCARD', KEYS[2]) + tonumber(ARGV[1]) }`;

const RECORD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cuts = tonumber(ARGV[1])
for i = 2, #ARGV - 1 do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
for i = 1, cuts do redis.call('ZADD', KEYS[2], now, ARGV[#ARGV] .. ':' .. i) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ${WINDOW_MS})
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ${WINDOW_MS})
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -${MAX_EVENTS + 1})
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -${MAX_EVENTS + 1})
redis.call('PEXPIRE', KEYS[1], ${WINDOW_MS})
redis.call('PEXPIRE', KEYS[2], ${WINDOW_MS})
return 1`;

/** An error Redis answered with (a script error, OOM, an ACL refusal) says Redis is there. */
const isReply = (err: unknown): boolean => err instanceof ReplyError;

/** Run keys sent to Redis per call, at most (a record keeps at most 200 runs). */
const MAX_KEYS = 500;

/**
 * The history shared by every instance through Redis, so a burst spread over instances behind a load
 * balancer is still one burst. While Redis does not answer, each instance counts on its own.
 */
export class SharedRiskHistory implements RiskHistory {
  readonly #local = new LocalRiskHistory();

  constructor(private readonly store: RedisStore) {}

  #keys(caller: string): [string, string] {
    const tag = createHash('sha256').update(caller).digest('hex').slice(0, 24);
    return [this.store.key(`rk:{${tag}}:q`), this.store.key(`rk:{${tag}}:c`)];
  }

  async flags(caller: string, policy: Thresholds, runs: readonly RunRecord[] = []): Promise<RiskFlag[]> {
    if (this.store.state !== 'ok') return this.#local.flags(caller, policy, runs);
    const keys = [...new Set(runs.map(runKey).filter((k): k is string => k !== null))].slice(0, MAX_KEYS);
    const cuts = runs.filter((r) => r.truncated).length;
    try {
      const [distinct, cutCount] = (await this.store.observe(() => this.store.client.eval(COUNT, 2, ...this.#keys(caller), cuts, ...keys), isReply)) as [number, number];
      return flagsOf(Number(distinct), Number(cutCount), policy);
    } catch {
      return this.#local.flags(caller, policy, runs);
    }
  }

  async record(caller: string, runs: readonly RunRecord[]): Promise<void> {
    await this.#local.record(caller, runs);
    if (runs.length === 0 || this.store.state !== 'ok') return;
    const keys = [...new Set(runs.map(runKey).filter((k): k is string => k !== null))].slice(0, MAX_KEYS);
    const cuts = Math.min(runs.filter((r) => r.truncated).length, MAX_KEYS);
    // The last argument names this call's cuts (unique across instances).
    await this.store.observe(() => this.store.client.eval(RECORD, 2, ...this.#keys(caller), cuts, ...keys, randomBytes(12).toString('base64url')), isReply).catch(() => undefined);
  }
}

const runKey = (r: RunRecord): string | null =>
  r.dashboardCardId !== null ? `d:${r.dashboardId}:${r.dashboardCardId}:${r.questionId}` : r.questionId !== null ? `q:${r.questionId}` : r.sql !== undefined ? `sql:${r.sql.slice(0, 200)}` : null;

/** A caller's history is per role: the thresholds are the role's. */
const callerKey = (role: string, viewer: { issuer: string; subject: string }): string => `${role}\u0000${viewer.issuer}\u0000${viewer.subject}`;

/** Whether a request is agent traffic: a caller of kind agent, a vetted-only role, or a call through /mcp. */
export function isAgentCall(request: FastifyRequest): boolean {
  const caller = request.caller;
  return !!caller?.role && (caller.viewer.clientKind === 'agent' || caller.role.vettedOnly || request.internalCall?.via === 'mcp');
}

/**
 * preHandler: flags an agent call from its variables and its caller's history, on its trail, and
 * refuses it when its role refuses one of them. Runs after the request limits (the variables are bounded).
 */
export function flagRisks(history: RiskHistory) {
  return async function flagRisk(request: FastifyRequest): Promise<void> {
    if (!isAgentCall(request)) return;
    const { viewer, role } = request.caller!;
    const policy = role!.riskFlags;
    const flags = [...valueFlags(request.sentVariables), ...await history.flags(callerKey(role!.name, viewer), policy)];
    const trail = request.trail;
    if (trail) trail.agent = { flags: new Set(flags), caller: callerKey(role!.name, viewer), thresholds: policy };
    const refused = flags.filter((f) => policy.refuse.includes(f));
    if (refused.length > 0) {
      throw new ForbiddenError(`Role ${role!.name} refuses calls flagged ${refused.join(', ')}; a reviewer can see the call in the audit trail.`, {
        details: { reason: 'risk-flagged', flags: refused },
      });
    }
  };
}

/** Before an agent call's record is written: counts its runs, and adds the history flags they set. */
export async function settleRiskFlags(history: RiskHistory, trail: Trail): Promise<void> {
  const agent = trail.agent;
  if (!agent) return;
  for (const f of await history.flags(agent.caller, agent.thresholds, trail.runs.items)) agent.flags.add(f);
  await history.record(agent.caller, trail.runs.items);
}
