/** What every emulator route handler is given. */
import type { IncomingMessage } from 'node:http';
import type { SqlExecutor } from './executor.js';
import type { Query, Paging } from './http.js';
import type { Instance, Principal } from './instance.js';

export type QueryFailureMode = 'http-status' | 'legacy-202';

/** What an injected failure (`failureRate`) answers. */
export type FailureStyle = 'exception' | 'json-message' | 'proxy-502';

/** Test knobs; all can be changed while the emulator runs. */
export interface EmulatorKnobs {
  /** Milliseconds added before every request is answered. Default 0. */
  latencyMs: number;
  /** Share of `/api` requests (0 to 1) answered as failures (see `failureStyle`), chosen by a seeded generator. Default 0. */
  failureRate: number;
  /** How a failed query run is answered (API-CONTRACT.md §4.5). Default `http-status`. */
  queryFailureMode: QueryFailureMode;
  /** Query runs send their status and half their body, then cut the connection. Default false. */
  abortMidStream: boolean;
  /**
   * Metabase's `hide-stacktraces` setting. False (Metabase's default): unexpected 500s carry the exception's
   * message, `via` and `trace`, and failed runs carry `via` and `stacktrace`. True: unexpected 500s are
   * `{"message":"Something went wrong"}` and failed runs carry neither. Default false.
   */
  hideStacktraces: boolean;
  /**
   * What an injected failure answers: `exception` (an unexpected 500, shaped by `hideStacktraces`),
   * `json-message` (500 `{"message": "<PSQLException naming the app database's user and host>"}`) or
   * `proxy-502` (502 with a reverse proxy's HTML page naming the internal upstream). Default `exception`.
   */
  failureStyle: FailureStyle;
  /** Runs of these cards (card and dashcard endpoints) fail as the warehouse rejecting the card's SQL, which the error quotes. Default []. */
  failingCardIds: number[];
  /** When > 0, every authenticated `/api` request but login, logout and health is answered with a JSON body of this many bytes, streamed. Default 0. */
  oversizeBodyBytes: number;
  /** Oversized answers declare `content-length`; false sends them chunked. Default true. */
  oversizeDeclareLength: boolean;
  /** Oversized answers are gzipped on the fly when the client accepts gzip. Default false. */
  oversizeGzip: boolean;
  /** Milliseconds added before a query run is answered, on top of `latencyMs`; cut short when the client goes away. Default 0. */
  runLatencyMs: number;
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
  /** Values of the sample data that search indexes (`indexed-entity`), read at start. */
  readonly indexedValues: readonly IndexedValue[];
  body(): Promise<Record<string, unknown>>;
}

/** One row of an indexed model: its primary key and the indexed value. */
export interface IndexedValue {
  readonly modelIndexId: number;
  readonly pk: number;
  readonly value: string;
}
