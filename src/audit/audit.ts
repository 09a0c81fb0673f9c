/**
 * The audit trail: one record per GraphQL request (or one line per resolved field, for pipelines that
 * want that shape) on its own stream: stdout by default, or a file through an asynchronous
 * destination that is flushed on shutdown. A record says who (viewer and role), what (operation,
 * document hash, variables with sensitive values redacted), every resolved field with its outcome and
 * duration, the Metabase calls made on the caller's behalf, the query runs, and the totals.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLResolveInfo } from 'graphql';
import type { GatewayContext } from '../context/context.js';
import { REDACTED_PATHS, stdoutWriter } from '../logging/logger.js';
import type { FieldOutcome, Trail } from './trail.js';

export interface AuditOptions {
  /** Where records go: a file path, or null for stdout. */
  readonly file: string | null;
  /** `operation`: one record per request; `field`: one line per resolved field (plus the request's own line). */
  readonly format: 'operation' | 'field';
  /** Variable names whose values are replaced by `[redacted]`, at any depth, case-insensitively. */
  readonly redactVariables: readonly string[];
  /** A destination of the caller's (tests). Overrides `file`. */
  readonly destination?: DestinationStream;
}

/** Variable names containing any of these (case-insensitively) have their values redacted. */
export const DEFAULT_REDACTED_VARIABLES = ['password', 'passwd', 'secret', 'token', 'apikey', 'api_key', 'authorization', 'cookie', 'session', 'jwt', 'credential'];

/** Values that are credentials whatever they are called: JWTs and Metabase API keys. */
const SECRET_VALUE = /^(?:eyJ[\w-]+\.[\w-]+\.[\w-]*|mb_\S{9,})$/;

export interface AuditLog {
  readonly format: 'operation' | 'field';
  /** Whether field records are collected at all (off: the plugin does nothing per field). */
  readonly enabled: boolean;
  write(trail: Trail, outcome: { status: number; responseBytes: number }): void;
  /** Variables as the record shows them. */
  redact(variables: unknown): unknown;
  /** Writes out everything buffered; call on shutdown. */
  close(): Promise<void>;
}

/** The audit trail switched off: nothing is collected or written. */
export const NO_AUDIT: AuditLog = {
  format: 'operation', enabled: false, write: () => undefined, redact: (v) => v, close: async () => undefined,
};

export function createAuditLog(options: AuditOptions): AuditLog {
  // On stdout the audit trail shares the operational log's writer: two writers on one pipe could interleave long lines.
  const sonic = options.destination ? undefined : options.file ? pino.destination({ dest: options.file, sync: false, mkdir: true }) : undefined;
  const shared = options.destination || sonic ? undefined : stdoutWriter();
  const logger: Logger = pino({
    level: 'info', base: { stream: 'audit' }, messageKey: 'msg',
    // The second lock: anything that looks like a credential is cut even if a caller passed it by mistake.
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  }, options.destination ?? sonic ?? shared);
  const exact = new Set(options.redactVariables.map((n) => n.toLowerCase()));
  const isSensitive = (name: string): boolean => {
    const n = name.toLowerCase();
    return exact.has(n) || DEFAULT_REDACTED_VARIABLES.some((d) => n.includes(d));
  };
  const redact = (value: unknown): unknown => {
    if (typeof value === 'string') return SECRET_VALUE.test(value) ? '[redacted]' : value;
    if (Array.isArray(value)) return value.map(redact);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, isSensitive(k) ? '[redacted]' : redact(v)]));
  };
  /** The values the caller's redacted variables held, so they are cut from run parameters too. */
  const hiddenValues = (value: unknown, into: Set<unknown>, hidden = false): Set<unknown> => {
    if (Array.isArray(value)) value.forEach((v) => hiddenValues(v, into, hidden));
    else if (value !== null && typeof value === 'object') Object.entries(value).forEach(([k, v]) => hiddenValues(v, into, hidden || isSensitive(k)));
    else if (hidden && value !== null && value !== undefined && value !== '') into.add(value);
    return into;
  };
  const scrub = (value: unknown, hidden: ReadonlySet<unknown>): unknown => {
    if (Array.isArray(value)) return value.map((v) => scrub(v, hidden));
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, hidden)]));
    return hidden.has(value) || (typeof value === 'string' && SECRET_VALUE.test(value)) ? '[redacted]' : value;
  };
  let closed = false;
  return {
    format: options.format,
    enabled: true,
    redact,
    write(trail, outcome) {
      if (closed) return;
      const who = { requestId: trail.requestId, viewer: trail.viewer, role: trail.role };
      const hidden = hiddenValues(trail.rawVariables, new Set());
      const runs = trail.runs.map((r) => ({ ...r, parameters: scrub(r.parameters, hidden) }));
      const operation = { name: trail.operationName, type: trail.operationType, documentHash: trail.documentHash, persistedId: trail.persistedId };
      const record = {
        event: 'graphql.request', ...who, clientRequestId: trail.clientRequestId ?? undefined, askedRole: trail.askedRole ?? undefined,
        startedAt: new Date(trail.startedAt).toISOString(), operation,
        variables: trail.variables, status: outcome.status, refused: trail.refused ?? undefined,
        errors: trail.errorCodes.length ? trail.errorCodes : undefined,
        ...(options.format === 'operation' ? { fields: trail.fields } : { fieldCount: trail.fields.length }),
        metabase: trail.calls, runs,
        durationMs: round(performance.now() - trail.started), responseBytes: outcome.responseBytes,
      };
      // Server faults at error, refusals and client errors at info: an auditor filters on outcome, an operator on level.
      const level = outcome.status >= 500 ? 'error' : 'info';
      if (options.format === 'field') {
        for (const f of trail.fields) logger[level]({ event: 'graphql.field', ...who, operation: trail.operationName, ...f }, 'field resolved');
      }
      logger[level](record, 'graphql request');
    },
    async close() {
      closed = true;
      if (shared) {
        try {
          shared.flushSync();
        } catch {
          // Nothing buffered, or stdout already gone: nothing more can be written anyway.
        }
        return;
      }
      if (!sonic) return;
      // end() writes out what is buffered (waiting for the file to open if need be), then closes it.
      await new Promise<void>((resolve) => {
        sonic.once('close', () => resolve());
        sonic.once('error', () => resolve());
        sonic.end();
      });
    },
  };
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

/** `a.b.0.c`, response keys (aliases) and list indexes. */
function pathOf(info: GraphQLResolveInfo): string {
  const keys: (string | number)[] = [];
  for (let p: GraphQLResolveInfo['path'] | undefined = info.path; p; p = p.prev) keys.push(p.key);
  return keys.reverse().join('.');
}

function outcomeOf(error: unknown): { outcome: FieldOutcome; code?: string } {
  if (!error) return { outcome: 'ok' };
  const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
  const c = typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
  return { outcome: c === 'FORBIDDEN' ? 'denied' : 'error', code: c };
}

/** Fills the request's trail from Apollo's lifecycle: the operation, every resolved field, the error codes. */
export function auditPlugin(audit: AuditLog): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ contextValue }) {
      const trail = contextValue.trail;
      if (!audit.enabled || !trail) return {};
      // The request itself is pending work until its response is ready.
      trail.begin();
      return {
        async willSendResponse() {
          trail.end();
        },
        async didResolveOperation(rc) {
          trail.operationName = rc.operationName ?? null;
          trail.operationType = rc.operation?.operation ?? null;
          trail.documentHash = rc.queryHash;
          const persisted = (rc.request.extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery?.sha256Hash;
          trail.persistedId = typeof persisted === 'string' ? persisted : null;
          trail.rawVariables = rc.request.variables;
          trail.variables = rc.request.variables ? audit.redact(rc.request.variables) : undefined;
        },
        async executionDidStart() {
          return {
            willResolveField({ info }) {
              const start = performance.now();
              trail.begin();
              return (error, result) => {
                // Ended a turn later: the field's own children (resolved in later microtasks) begin first.
                setImmediate(() => trail.end());
                // graphql-shield returns denials as values rather than throwing them.
                const failure = error ?? (result instanceof Error ? result : null);
                trail.fields.push({ path: pathOf(info), parentType: info.parentType.name, field: info.fieldName, ...outcomeOf(failure), ms: round(performance.now() - start) });
              };
            },
          };
        },
        async didEncounterErrors(rc) {
          for (const e of rc.errors) {
            const code = (e.extensions?.['code'] as string | undefined) ?? 'INTERNAL_SERVER_ERROR';
            trail.errorCodes.push(code);
          }
        },
      };
    },
  };
}
