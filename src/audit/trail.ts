/**
 * One request's audit trail: who asked, in which role, what was resolved, what Metabase was asked on
 * their behalf, which queries ran. Every list is capped, and the record says how much was left out,
 * so that no request can make the trail grow without bound.
 */
import type { MetabaseCallRecord } from '../metabase/call-scope.js';

export type { MetabaseCallRecord };

export type FieldOutcome = 'ok' | 'denied' | 'error';

export interface FieldRecord {
  /** Response path with aliases and list indexes, e.g. `board.cards.2.run`. */
  readonly path: string;
  readonly parentType: string;
  readonly field: string;
  outcome: FieldOutcome;
  /** The error's code when the outcome is not `ok`. */
  code?: string;
}

export interface RunRecord {
  readonly questionId: number | null;
  readonly dashboardId: number | null;
  readonly dashboardCardId: number | null;
  readonly databaseId: number | null;
  /** The SQL of an ad-hoc native run (its variables are bound, in `parameters`). */
  readonly sql?: string;
  readonly parameters: unknown;
  readonly status: 'completed' | 'failed';
  readonly rowCount: number;
  readonly truncated: boolean;
  readonly cached: boolean;
  /** Where the result came from: Metabase running it, Metabase's cache, the gateway's result cache, or an identical run in flight. */
  readonly from: 'metabase' | 'metabase-cache' | 'gateway-cache' | 'shared';
  /** The run's id (`queryRun(id)`). */
  readonly runId: string;
}

export interface AuditViewer {
  readonly subject: string;
  readonly email: string | null;
  readonly groups: readonly string[];
  readonly clientKind: string;
  /** The issuer that signed the caller's token. */
  readonly issuer?: string;
}

/** How much of each list one record keeps. */
export interface TrailCaps {
  /** Resolved fields listed. Default 1,000. */
  readonly fields: number;
  /** Metabase calls listed. Default 500. */
  readonly calls: number;
  /** Runs listed. Default 200. */
  readonly runs: number;
}

export const DEFAULT_TRAIL_CAPS: TrailCaps = { fields: 1_000, calls: 500, runs: 200 };

/** A list that keeps the first `cap` items and counts the rest. */
export class CappedList<T> {
  readonly items: T[] = [];
  omitted = 0;

  constructor(private readonly cap: number) {}

  push(item: T): void {
    if (this.items.length < this.cap) this.items.push(item);
    else this.omitted += 1;
  }

  get length(): number {
    return this.items.length + this.omitted;
  }
}

export class Trail {
  readonly startedAt = Date.now();
  readonly started = performance.now();
  viewer: AuditViewer | null = null;
  role: string | null = null;
  operationName: string | null = null;
  operationType: string | null = null;
  documentHash: string | null = null;
  /** The vetted operation's id (its SHA-256), when the request named one instead of sending a document. */
  persistedId: string | null = null;
  /** The operation's static cost, as the gate measured it. */
  cost: number | null = null;
  variables: unknown = undefined;
  /** True when the variables copied into the record were cut to the audit's size bounds. */
  variablesTruncated = false;
  /** The variables as sent: kept only until the record is written, to cut redacted values from run parameters. */
  rawVariables: unknown = undefined;
  /** When the request was refused before any operation ran: its code and reason. */
  refused: { code: string; reason?: unknown } | null = null;
  readonly fields: CappedList<FieldRecord>;
  readonly calls: CappedList<MetabaseCallRecord>;
  readonly runs: CappedList<RunRecord>;
  readonly errorCodes: string[] = [];
  /** The role asked for with X-Gateway-Role, when one was. */
  askedRole: string | null = null;
  /** The caller's own X-Request-Id, kept beside the gateway's (which the caller cannot choose). */
  clientRequestId: string | null = null;
  /** Why the request's work was cut short, when it was (its deadline, its caller gone, shutdown). */
  cut: string | null = null;
  /** The MCP tool call this request serves, when it came through /mcp: the tool and the /mcp request's id. */
  mcp: { readonly tool: string; readonly requestId: string } | null = null;
  /**
   * Agent traffic only: the risk flags set on the call (server/risk-flags.ts), whose history it is
   * counted in, and the thresholds of its role.
   */
  agent: { readonly flags: Set<string>; readonly caller: string; readonly thresholds: { readonly refuse: readonly string[]; readonly distinctQuestionsPerMinute: number; readonly rowCapCutsPerMinute: number } } | null = null;
  #pending = 0;
  #idle: (() => void)[] = [];

  constructor(readonly requestId: string, caps: TrailCaps = DEFAULT_TRAIL_CAPS) {
    this.fields = new CappedList(caps.fields);
    this.calls = new CappedList(caps.calls);
    this.runs = new CappedList(caps.runs);
  }

  /**
   * Work done for the request that may outlive its response (execution, a Metabase call still
   * running after a sibling's error ended execution): the record waits for it.
   */
  begin(): void {
    this.#pending += 1;
  }

  end(): void {
    this.#pending = Math.max(0, this.#pending - 1);
    if (this.#pending === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Resolves when no work for the request is pending, or after `capMs`, or when `now` is called, whichever comes first. */
  settled(capMs: number): { done: Promise<void>; now(): void } {
    if (this.#pending === 0) return { done: Promise.resolve(), now: () => undefined };
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(() => release(), capMs);
      timer.unref();
      release = () => {
        clearTimeout(timer);
        const i = this.#idle.indexOf(release);
        if (i >= 0) this.#idle.splice(i, 1);
        resolve();
      };
      this.#idle.push(release);
    });
    return { done, now: () => release() };
  }
}
