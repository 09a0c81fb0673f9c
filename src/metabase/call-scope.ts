/**
 * The request a Metabase call is made for. The client is shared by every request of a role, so the
 * request reaches it through an AsyncLocalStorage rather than through every resolver: its id and
 * user go out as correlation headers, its signal (deadline, caller gone, shutdown) cancels the call,
 * its budget counts calls and runs, and each call is recorded for the audit trail.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface MetabaseCallRecord {
  readonly method: string;
  /** The path without its query string: ids only, never a secret. */
  readonly path: string;
  /** HTTP status, or 0 when no answer came (timeout, cancellation, connection failure). */
  readonly status: number;
  readonly ms: number;
  /** The credential scope's name (the source of the credential), never the credential. */
  readonly scope: string;
}

/** Why a request's work was cut short: its deadline passed, its caller went away, or the gateway is stopping. */
export type EndReason = 'deadline' | 'client-gone' | 'shutdown';

/** The reason a request's signal aborts with. */
export class RequestEnded extends Error {
  override readonly name = 'RequestEnded';
  constructor(readonly why: EndReason) {
    super(`the request ended: ${why}`);
  }
}

export interface CallScope {
  readonly requestId: string;
  /** The user the call is made for (sent percent-encoded as X-Gateway-User), when known. */
  readonly subject: string | null;
  /** Aborts when the request's work must stop. */
  readonly signal: AbortSignal;
  /** Counts one Metabase call, or one query run; throws (QUERY_TOO_COMPLEX) when the request's allowance is spent. */
  spend(kind: 'call' | 'run'): void;
  /** Counts bytes read from Metabase for the request; throws (QUERY_TOO_COMPLEX) past its allowance. */
  spendBytes(bytes: number): void;
  /** Work that may outlive the response: the audit record waits for it. */
  begin(): void;
  end(): void;
  record(call: MetabaseCallRecord): void;
}

const storage = new AsyncLocalStorage<CallScope>();

/** Runs `fn` with `scope` as the current request's scope. */
export function withCallScope<T>(scope: CallScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/** The scope of the request being served here, if any. */
export function currentCallScope(): CallScope | undefined {
  return storage.getStore();
}
