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
import { REDACTED_PATHS } from '../logging/logger.js';
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

export const DEFAULT_REDACTED_VARIABLES = ['password', 'secret', 'token', 'apikey', 'api_key', 'authorization', 'cookie', 'session'];

export interface AuditLog {
  readonly format: 'operation' | 'field';
  /** Whether field records are collected at all (off: the plugin does nothing per field). */
  readonly enabled: boolean;
  write(trail: Trail, outcome: { status: number; responseBytes: number }): void;
  redact(variables: unknown): unknown;
  /** Writes out everything buffered; call on shutdown. */
  close(): Promise<void>;
}

/** The audit trail switched off: nothing is collected or written. */
export const NO_AUDIT: AuditLog = {
  format: 'operation', enabled: false, write: () => undefined, redact: (v) => v, close: async () => undefined,
};

export function createAuditLog(options: AuditOptions): AuditLog {
  const sonic = options.destination ? undefined : options.file
    ? pino.destination({ dest: options.file, sync: false, mkdir: true })
    : pino.destination({ dest: 1, sync: false });
  const logger: Logger = pino({
    level: 'info', base: { stream: 'audit' }, messageKey: 'msg',
    // The second lock: anything that looks like a credential is cut even if a caller passed it by mistake.
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  }, options.destination ?? sonic);
  const sensitive = new Set([...DEFAULT_REDACTED_VARIABLES, ...options.redactVariables].map((n) => n.toLowerCase()));
  const redact = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(redact);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sensitive.has(k.toLowerCase()) ? '[redacted]' : redact(v)]));
  };
  return {
    format: options.format,
    enabled: true,
    redact,
    write(trail, outcome) {
      const who = { requestId: trail.requestId, viewer: trail.viewer, role: trail.role };
      const operation = { name: trail.operationName, type: trail.operationType, documentHash: trail.documentHash, persistedId: trail.persistedId };
      const record = {
        event: 'graphql.request', ...who, startedAt: new Date(trail.startedAt).toISOString(), operation,
        variables: trail.variables, status: outcome.status, refused: trail.refused ?? undefined,
        errors: trail.errorCodes.length ? trail.errorCodes : undefined,
        ...(options.format === 'operation' ? { fields: trail.fields } : { fieldCount: trail.fields.length }),
        metabase: trail.calls, runs: trail.runs,
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
      return {
        async didResolveOperation(rc) {
          trail.operationName = rc.operationName ?? null;
          trail.operationType = rc.operation?.operation ?? null;
          trail.documentHash = rc.queryHash;
          const persisted = (rc.request.extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery?.sha256Hash;
          trail.persistedId = typeof persisted === 'string' ? persisted : null;
          trail.variables = rc.request.variables ? audit.redact(rc.request.variables) : undefined;
        },
        async executionDidStart() {
          return {
            willResolveField({ info }) {
              const start = performance.now();
              return (error, result) => {
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
