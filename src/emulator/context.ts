/** What every emulator route handler is given. */
import type { IncomingMessage } from 'node:http';
import type { SqlExecutor } from './executor.js';
import type { Query, Paging } from './http.js';
import type { Instance, Principal } from './instance.js';

export type QueryFailureMode = 'http-status' | 'legacy-202';

/** Test knobs; all can be changed while the emulator runs. */
export interface EmulatorKnobs {
  /** Milliseconds added before every request is answered. Default 0. */
  latencyMs: number;
  /** Share of `/api` requests (0 to 1) answered with a 500, chosen by a seeded generator. Default 0. */
  failureRate: number;
  /** How a failed query run is answered (API-CONTRACT.md §4.5). Default `http-status`. */
  queryFailureMode: QueryFailureMode;
  /** Query runs send their status and half their body, then cut the connection. Default false. */
  abortMidStream: boolean;
}

export interface RouteContext {
  readonly instance: Instance;
  readonly executor: SqlExecutor;
  readonly knobs: EmulatorKnobs;
  readonly req: IncomingMessage;
  readonly query: Query;
  readonly paging: Paging | undefined;
  /** The authenticated caller. Public routes must not read it. */
  readonly principal: Principal;
  body(): Promise<Record<string, unknown>>;
}
