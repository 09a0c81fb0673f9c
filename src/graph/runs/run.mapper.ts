/** Turning a Metabase result, or a failed run, into a QueryRun. */
import { randomUUID } from 'node:crypto';
import { BadUserInputError, QueryFailedError } from '../../errors/index.js';
import type { Logger } from 'pino';
import type { Trail } from '../../audit/trail.js';
import type { QueryResult } from '../../metabase/types.js';
import { QueryRunStatus, type QueryRun } from './run.type.js';

/** The rows a run may return: what the caller asks, never above the role's `maxRows`. */
export function checkMaxRows(maxRows: number | null | undefined, roleCap: number): number {
  if (maxRows === null || maxRows === undefined) return roleCap;
  if (!Number.isInteger(maxRows) || maxRows < 0) {
    throw new BadUserInputError(`Expected \`maxRows\` to be a non-negative integer, received ${maxRows}.`, { details: { argument: 'maxRows' } });
  }
  return Math.min(maxRows, roleCap);
}

export function toQueryRun(result: QueryResult, maxRows: number | null): QueryRun {
  // Rows that came as text leave as text, cut to `maxRows` without being parsed (see raw-rows.ts).
  const all = result.rowsJson ?? result.rows;
  const count = maxRows !== null ? Math.min(maxRows, all.length) : all.length;
  const rows = result.rowsJson ? result.rowsJson.json(count) : count < result.rows.length ? result.rows.slice(0, count) : result.rows;
  return {
    id: randomUUID(),
    status: QueryRunStatus.COMPLETED,
    columns: result.columns.map((c) => ({ name: c.name, displayName: c.displayName, baseType: c.baseType, semanticType: c.semanticType })),
    rows: rows as QueryRun['rows'],
    rowCount: count,
    truncated: result.truncatedAt !== null || count < all.length,
    runningTimeMs: result.runningTimeMs === null ? null : Math.round(result.runningTimeMs),
    startedAt: result.startedAt,
    cached: result.cached,
    error: null,
  };
}

/** What a run was, for the audit trail. */
export interface RunTarget {
  readonly trail: Trail | null;
  /** Whether the role may read Metabase's message about a failed run (it may quote SQL). */
  readonly canViewSql: boolean;
  /** The request's logger, for Metabase's message about a failed run. */
  readonly log?: Pick<Logger, 'warn'>;
  readonly questionId?: number;
  readonly dashboardId?: number;
  readonly dashboardCardId?: number;
  readonly databaseId?: number;
  readonly sql?: string;
  readonly parameters: unknown;
}

/**
 * A query that ran and failed is a result with its error; other failures stay GraphQL errors. Runs
 * that happened are added to the trail. Metabase's message about a failed run can quote the query's
 * SQL, so only a role that may read SQL (`canViewSql`) sees it; others get a fixed sentence and the
 * error type. Either way the message is logged with the request id.
 */
export async function runOrFailure(run: () => Promise<QueryResult>, maxRows: number | null, target: RunTarget): Promise<QueryRun> {
  let result: QueryRun;
  try {
    result = toQueryRun(await run(), maxRows);
  } catch (err) {
    if (!(err instanceof QueryFailedError)) throw err;
    const errorType = typeof err.extensions['errorType'] === 'string' ? err.extensions['errorType'] : null;
    target.log?.warn({ event: 'metabase.run-failed', code: err.code, errorType, detail: err.detail }, 'a query run failed in Metabase');
    const message = target.canViewSql && err.detail ? err.detail : `The query failed in Metabase (${errorType ?? 'no error type'}); its message is shown only to roles that may read SQL, and is in the gateway's log.`;
    result = {
      id: randomUUID(), status: QueryRunStatus.FAILED, columns: [], rows: [], rowCount: 0, truncated: false,
      runningTimeMs: null, startedAt: null, cached: false,
      error: { code: err.code, message, errorType },
    };
  }
  target.trail?.runs.push({
    questionId: target.questionId ?? null, dashboardId: target.dashboardId ?? null, dashboardCardId: target.dashboardCardId ?? null,
    databaseId: target.databaseId ?? null, ...(target.sql !== undefined ? { sql: target.sql } : {}), parameters: target.parameters,
    status: result.status === QueryRunStatus.COMPLETED ? 'completed' : 'failed', rowCount: result.rowCount, truncated: result.truncated, cached: result.cached,
  });
  return result;
}
