/** Turning a Metabase result, or a failed run, into a QueryRun. */
import { randomUUID } from 'node:crypto';
import { BadUserInputError, QueryFailedError } from '../../errors/index.js';
import type { Logger } from 'pino';
import type { Trail } from '../../audit/trail.js';
import type { GatewayContext } from '../../context/context.js';
import type { RunOutcome, RunSource } from '../../metabase/loaders.js';
import type { RunFacts, RunOwner, RunStore } from '../../metabase/stored-runs.js';
import type { QueryResult } from '../../metabase/types.js';
import { QueryRunSource, QueryRunStatus, type QueryRun } from './run.type.js';

/** The rows a run may return: what the caller asks, never above the role's `maxRows`. */
export function checkMaxRows(maxRows: number | null | undefined, roleCap: number): number {
  if (maxRows === null || maxRows === undefined) return roleCap;
  if (!Number.isInteger(maxRows) || maxRows < 0) {
    throw new BadUserInputError(`Expected \`maxRows\` to be a non-negative integer, received ${maxRows}.`, { details: { argument: 'maxRows' } });
  }
  return Math.min(maxRows, roleCap);
}

const SOURCE: Record<RunSource, QueryRunSource> = { metabase: QueryRunSource.METABASE, cache: QueryRunSource.GATEWAY_CACHE, shared: QueryRunSource.SHARED };

/** Where a run is kept for `queryRun(id)`, whose it is, and what it read (checked again when it is read back). */
export interface RunKeeping {
  readonly runs: RunStore;
  readonly owner: RunOwner;
  readonly reach: RunFacts['reach'];
}

/** Where the request's runs are kept, for the viewer in the role in force, with what the run read. */
export function keepingOf(ctx: Pick<GatewayContext, 'runs' | 'runOwner'>, reach: RunFacts['reach']): RunKeeping | null {
  return ctx.runs && ctx.runOwner ? { runs: ctx.runs, owner: ctx.runOwner, reach } : null;
}

/** A QueryRun of `result`, its rows cut to `maxRows`; kept under its id when `keeping` is given. */
export function toQueryRun(outcome: { result: QueryResult; source: RunSource | 'stored' }, maxRows: number | null, keeping: RunKeeping | null, id: string = randomUUID()): QueryRun {
  const { result } = outcome;
  // Rows that came as text stay text: pages of them are cut without being parsed (see raw-rows.ts).
  const all = result.rowsJson ?? result.rows;
  const count = maxRows !== null ? Math.min(maxRows, all.length) : all.length;
  const from = outcome.source === 'stored' ? QueryRunSource.METABASE : result.cached && outcome.source === 'metabase' ? QueryRunSource.METABASE_CACHE : SOURCE[outcome.source];
  const truncated = result.truncatedAt !== null || count < all.length;
  const kept = keeping && outcome.source !== 'stored'
    ? keeping.runs.keep(id, keeping.owner, result, count, { truncated, source: from, reach: keeping.reach }).catch(() => null)
    : Promise.resolve(null);
  return {
    id,
    status: QueryRunStatus.COMPLETED,
    columns: result.columns.map((c) => ({ name: c.name, displayName: c.displayName, baseType: c.baseType, semanticType: c.semanticType })),
    rowSource: all,
    kept,
    rowCount: count,
    truncated,
    runningTimeMs: result.runningTimeMs === null ? null : Math.round(result.runningTimeMs),
    startedAt: result.startedAt,
    cached: result.cached || outcome.source === 'cache',
    from,
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
  /** Where the run is kept for `queryRun(id)`; null: not kept. */
  readonly keeping: RunKeeping | null;
}

/**
 * A query that ran and failed is a result with its error; other failures stay GraphQL errors. Runs
 * that happened are added to the trail. Metabase's message about a failed run can quote the query's
 * SQL, so only a role that may read SQL (`canViewSql`) sees it; others get a fixed sentence and the
 * error type. Either way the message is logged with the request id.
 */
export async function runOrFailure(run: () => Promise<RunOutcome>, maxRows: number | null, target: RunTarget): Promise<QueryRun> {
  let result: QueryRun;
  try {
    result = toQueryRun(await run(), maxRows, target.keeping);
  } catch (err) {
    if (!(err instanceof QueryFailedError)) throw err;
    const errorType = typeof err.extensions['errorType'] === 'string' ? err.extensions['errorType'] : null;
    target.log?.warn({ event: 'metabase.run-failed', code: err.code, errorType, detail: err.detail }, 'a query run failed in Metabase');
    const message = target.canViewSql && err.detail ? err.detail : `The query failed in Metabase (${errorType ?? 'no error type'}); its message is shown only to roles that may read SQL, and is in the gateway's log.`;
    result = {
      id: randomUUID(), status: QueryRunStatus.FAILED, columns: [], rowSource: [], kept: Promise.resolve(null), rowCount: 0, truncated: false,
      runningTimeMs: null, startedAt: null, cached: false, from: QueryRunSource.METABASE,
      error: { code: err.code, message, errorType },
    };
  }
  target.trail?.runs.push({
    questionId: target.questionId ?? null, dashboardId: target.dashboardId ?? null, dashboardCardId: target.dashboardCardId ?? null,
    databaseId: target.databaseId ?? null, ...(target.sql !== undefined ? { sql: target.sql } : {}), parameters: target.parameters,
    status: result.status === QueryRunStatus.COMPLETED ? 'completed' : 'failed', rowCount: result.rowCount, truncated: result.truncated, cached: result.cached,
    from: RECORDED_SOURCE[result.from], runId: result.id,
  });
  return result;
}

/** How the audit record names where a run's result came from. */
const RECORDED_SOURCE: Record<QueryRunSource, 'metabase' | 'metabase-cache' | 'gateway-cache' | 'shared'> = {
  METABASE: 'metabase', METABASE_CACHE: 'metabase-cache', GATEWAY_CACHE: 'gateway-cache', SHARED: 'shared',
};
