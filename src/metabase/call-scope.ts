/**
 * The request a Metabase call is made for. The client is shared by every request of a role, so each
 * call names its request (`CallOptions.scope`, passed by the request's loaders): its id and user go
 * out as correlation headers, its signal (deadline, caller gone, shutdown) cancels the call, its
 * budget counts calls and runs, and each call is recorded for the audit trail. Passed, not kept in
 * an AsyncLocalStorage: on Node 20 that puts hooks on every promise of the process (measured at
 * about 0.25 ms of CPU per dashboard operation, 3% of the gateway's work).
 */

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
