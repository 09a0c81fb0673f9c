/**
 * The life of one request beyond its HTTP exchange: its deadline, its cancellation and its allowance.
 * Every Metabase call made for the request runs inside its scope (see metabase/call-scope.ts): the
 * scope's signal cancels the call when the deadline passes, when the caller goes away or when the
 * gateway stops; the scope counts calls and runs against the role's limits; and each call is
 * recorded in the request's audit trail.
 */
import type { OperationLimits } from '../config/limits.js';
import type { Trail } from '../audit/trail.js';
import { overLimit } from '../gate/refusal.js';
import { RequestEnded, type CallScope, type EndReason, type MetabaseCallRecord } from '../metabase/call-scope.js';

export class RequestScope implements CallScope {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly deadlineAt: number;
  #calls = 0;
  #runs = 0;
  #bytes = 0;
  /** The limits of the request's role, once it is known (the policy's defaults until then). */
  limits: OperationLimits;

  constructor(readonly trail: Trail, timeoutMs: number, limits: OperationLimits) {
    this.limits = limits;
    this.deadlineAt = Date.now() + timeoutMs;
    this.#timer = setTimeout(() => this.stop('deadline'), timeoutMs);
    this.#timer.unref();
  }

  get requestId(): string {
    return this.trail.requestId;
  }

  get subject(): string | null {
    return this.trail.viewer?.subject ?? null;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Cancels whatever is still running for the request. The first reason is the one recorded. */
  stop(why: EndReason): void {
    clearTimeout(this.#timer);
    if (this.#controller.signal.aborted) return;
    this.trail.cut ??= why;
    this.#controller.abort(new RequestEnded(why));
  }

  /** The request is over and its record written: the deadline timer is no longer needed. */
  dispose(): void {
    clearTimeout(this.#timer);
  }

  spend(kind: 'call' | 'run'): void {
    if (kind === 'call') {
      this.#calls += 1;
      if (this.#calls > this.limits.upstreamCalls) throw overLimit('upstreamCalls', this.limits.upstreamCalls, this.#calls, true, true);
    } else {
      this.#runs += 1;
      if (this.#runs > this.limits.runs) throw overLimit('runs', this.limits.runs, this.#runs, true, true);
    }
  }

  spendBytes(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes > this.limits.upstreamBytes) throw overLimit('upstreamBytes', this.limits.upstreamBytes, this.#bytes, true, true);
  }

  begin(): void {
    this.trail.begin();
  }

  end(): void {
    this.trail.end();
  }

  record(call: MetabaseCallRecord): void {
    this.trail.calls.push(call);
  }
}

/** The requests being served now, so that shutdown can stop what outlasts the grace period. */
export class InFlight {
  readonly #scopes = new Set<RequestScope>();

  add(scope: RequestScope): void {
    this.#scopes.add(scope);
  }

  delete(scope: RequestScope): void {
    this.#scopes.delete(scope);
  }

  get size(): number {
    return this.#scopes.size;
  }

  stopAll(why: EndReason): void {
    for (const scope of this.#scopes) scope.stop(why);
  }
}
