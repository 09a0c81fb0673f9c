/**
 * One request's audit trail: who asked, in which role, what was resolved, what Metabase was asked on
 * their behalf, which queries ran. It travels in an AsyncLocalStorage for the duration of the request,
 * so the Metabase client (shared by all requests of a role) can add its calls to the right trail and
 * send the correlation headers, without every resolver passing it along.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type FieldOutcome = 'ok' | 'denied' | 'error';

export interface FieldRecord {
  /** Response path with aliases and list indexes, e.g. `board.cards.2.run`. */
  readonly path: string;
  readonly parentType: string;
  readonly field: string;
  readonly outcome: FieldOutcome;
  /** The error's code when the outcome is not `ok`. */
  readonly code?: string;
  readonly ms: number;
}

export interface MetabaseCallRecord {
  readonly method: string;
  /** The path without its query string: ids only, never a secret. */
  readonly path: string;
  /** HTTP status, or 0 when no answer came (timeout, connection failure). */
  readonly status: number;
  readonly ms: number;
  /** The credential scope's name (the source of the credential), never the credential. */
  readonly scope: string;
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
}

export interface AuditViewer {
  readonly subject: string;
  readonly email: string | null;
  readonly groups: readonly string[];
  readonly clientKind: string;
}

export class Trail {
  readonly startedAt = Date.now();
  readonly started = performance.now();
  viewer: AuditViewer | null = null;
  role: string | null = null;
  operationName: string | null = null;
  operationType: string | null = null;
  documentHash: string | null = null;
  persistedId: string | null = null;
  variables: unknown = undefined;
  /** The variables as sent: kept only until the record is written, to cut redacted values from run parameters. */
  rawVariables: unknown = undefined;
  /** When the request was refused before any operation ran: its code and reason. */
  refused: { code: string; reason?: unknown } | null = null;
  readonly fields: FieldRecord[] = [];
  readonly calls: MetabaseCallRecord[] = [];
  readonly runs: RunRecord[] = [];
  readonly errorCodes: string[] = [];
  /** The role asked for with X-Gateway-Role, when one was. */
  askedRole: string | null = null;
  /** The caller's own X-Request-Id, kept beside the gateway's (which the caller cannot choose). */
  clientRequestId: string | null = null;
  #pending = 0;
  #idle: (() => void)[] = [];

  constructor(readonly requestId: string) {}

  /**
   * Work done for the request that may outlive its response (a resolver still running when a
   * sibling's error ended execution, a Metabase call): the record waits for it.
   */
  begin(): void {
    this.#pending += 1;
  }

  end(): void {
    this.#pending -= 1;
    if (this.#pending === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Resolves when no work for the request is pending, or after `capMs`, whichever comes first. */
  settled(capMs: number): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, capMs);
      timer.unref();
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

const storage = new AsyncLocalStorage<Trail>();

/** Runs `fn` with `trail` as the current request's trail. */
export function withTrail<T>(trail: Trail, fn: () => T): T {
  return storage.run(trail, fn);
}

/** The trail of the request being served here, if any. */
export function currentTrail(): Trail | undefined {
  return storage.getStore();
}
