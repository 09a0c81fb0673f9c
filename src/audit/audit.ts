/**
 * The audit trail: one record per GraphQL request (or one line per resolved field, for pipelines that
 * want that shape) on its own stream: stdout by default, or a file through an asynchronous
 * destination that is flushed on shutdown. A record says who (viewer and role), what (operation,
 * document hash, cost, variables with sensitive values redacted), every resolved field with its
 * outcome, the Metabase calls made on the caller's behalf, the query runs, and the totals. Every
 * list and every copied value is bounded; the record says what it left out.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLFormattedError, GraphQLResolveInfo } from 'graphql';
import type { GatewayContext } from '../context/context.js';
import { REDACTED_PATHS, stdoutWriter } from '../logging/logger.js';
import { boundedCopy, valuesUnderSensitiveKeys, type CopyRules } from './copy.js';
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
  /** An event that is not one request (an access request's decision, a grant's expiry), on the same stream. */
  event(name: string, fields: Readonly<Record<string, unknown>>): void;
  /** Variables as the record shows them: redacted and bounded. */
  redact(variables: unknown): { value: unknown; truncated: boolean };
  /** Writes out everything buffered; call on shutdown. */
  close(): Promise<void>;
}

/** The audit trail switched off: nothing is collected or written. */
export const NO_AUDIT: AuditLog = {
  format: 'operation', enabled: false, write: () => undefined, event: () => undefined, redact: (v) => ({ value: v, truncated: false }), close: async () => undefined,
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
  const rules: CopyRules = { sensitiveKey: isSensitive, sensitiveValue: (v) => typeof v === 'string' && SECRET_VALUE.test(v) };
  let closed = false;
  return {
    format: options.format,
    enabled: true,
    redact: (variables) => boundedCopy(variables, rules),
    event(name, fields) {
      if (!closed) logger.info({ ...fields, event: name, at: new Date().toISOString() }, name);
    },
    write(trail, outcome) {
      if (closed) return;
      const who = { requestId: trail.requestId, viewer: trail.viewer, role: trail.role };
      // Values the caller sent under redacted names are cut from the run parameters too.
      const hidden = valuesUnderSensitiveKeys(trail.rawVariables, isSensitive);
      const paramRules: CopyRules = { sensitiveKey: isSensitive, sensitiveValue: (v) => hidden.has(v) || rules.sensitiveValue(v) };
      let runsTruncated = false;
      const runs = trail.runs.items.map((r) => {
        const copied = boundedCopy(r.parameters, paramRules);
        runsTruncated ||= copied.truncated || (r.sql !== undefined && r.sql.length > SQL_CHARS);
        return { ...r, parameters: copied.value, ...(r.sql !== undefined ? { sql: r.sql.length > SQL_CHARS ? `${r.sql.slice(0, SQL_CHARS)}…` : r.sql } : {}) };
      });
      const operation = { name: trail.operationName, type: trail.operationType, documentHash: trail.documentHash, persistedId: trail.persistedId, cost: trail.cost ?? undefined };
      const omitted = {
        fields: trail.fields.omitted || undefined, metabase: trail.calls.omitted || undefined, runs: trail.runs.omitted || undefined,
        variables: trail.variablesTruncated || undefined, runParameters: runsTruncated || undefined,
      };
      const record = {
        event: 'graphql.request', ...who, clientRequestId: trail.clientRequestId ?? undefined, askedRole: trail.askedRole ?? undefined,
        startedAt: new Date(trail.startedAt).toISOString(), operation, mcp: trail.mcp ?? undefined,
        riskFlags: trail.agent ? [...trail.agent.flags].sort() : undefined,
        variables: trail.variables, status: outcome.status, refused: trail.refused ?? undefined, cut: trail.cut ?? undefined,
        errors: trail.errorCodes.length ? trail.errorCodes : undefined,
        ...(options.format === 'operation' ? { fields: trail.fields.items } : { fieldCount: trail.fields.length }),
        metabase: trail.calls.items, runs,
        omitted: Object.values(omitted).some((v) => v !== undefined) ? omitted : undefined,
        durationMs: round(performance.now() - trail.started), responseBytes: outcome.responseBytes,
      };
      // Server faults at error, refusals and client errors at info: an auditor filters on outcome, an operator on level.
      const level = outcome.status >= 500 ? 'error' : 'info';
      if (options.format === 'field') {
        for (const f of trail.fields.items) logger[level]({ event: 'graphql.field', ...who, operation: trail.operationName, ...f }, 'field resolved');
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

/** Characters of an ad-hoc run's SQL a record keeps. */
const SQL_CHARS = 4_096;

/** `a.b.0.c`, response keys (aliases) and list indexes. */
function pathOf(info: GraphQLResolveInfo): string {
  const keys: (string | number)[] = [];
  for (let p: GraphQLResolveInfo['path'] | undefined = info.path; p; p = p.prev) keys.push(p.key);
  return keys.reverse().join('.');
}

function codeOf(error: GraphQLFormattedError): string {
  const code = error.extensions?.['code'];
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}

function outcomeOf(error: GraphQLFormattedError): { outcome: FieldOutcome; code: string } {
  const code = codeOf(error);
  return { outcome: code === 'FORBIDDEN' ? 'denied' : 'error', code };
}

/**
 * Fills the request's trail from Apollo's lifecycle: the operation, every resolved field (a small
 * record each, with no timer or closure per field), and the outcome of each from the response's
 * errors, which carry the path of the field they belong to.
 */
export function auditPlugin(audit: AuditLog): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ contextValue }) {
      const trail = contextValue.trail;
      if (!audit.enabled || !trail) return {};
      // The request itself is pending work until its response is ready.
      trail.begin();
      let ended = false;
      const end = (): void => {
        if (!ended) trail.end();
        ended = true;
      };
      return {
        async willSendResponse({ response }) {
          // The errors as the client sees them: their codes, and the paths of the fields they belong to.
          const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : (response.body.initialResult.errors ?? []);
          const failed = new Map<string, GraphQLFormattedError>();
          for (const e of errors) {
            if (trail.errorCodes.length < 100) trail.errorCodes.push(codeOf(e));
            if (e.path) failed.set(e.path.join('.'), e);
          }
          if (failed.size > 0) {
            for (const f of trail.fields.items) {
              const e = failed.get(f.path);
              if (e) Object.assign(f, outcomeOf(e));
            }
          }
          end();
        },
        async didResolveOperation(rc) {
          trail.operationName = rc.operationName ?? null;
          trail.operationType = rc.operation?.operation ?? null;
          trail.documentHash = rc.queryHash;
          trail.rawVariables = rc.request.variables;
          if (rc.request.variables) {
            const copied = audit.redact(rc.request.variables);
            trail.variables = copied.value;
            trail.variablesTruncated = copied.truncated;
          }
        },
        async executionDidStart() {
          return {
            willResolveField({ info }) {
              trail.fields.push({ path: pathOf(info), parentType: info.parentType.name, field: info.fieldName, outcome: 'ok' });
            },
          };
        },
      };
    },
  };
}
