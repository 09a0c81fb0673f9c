/**
 * Runs a normalized query on the sample database and builds Metabase's query-result object
 * (API-CONTRACT.md §4.5), applying the userland row constraints of §6 and turning integers beyond
 * JavaScript's safe range into strings.
 */
import type { ExecuteResult, SqlExecutor } from './executor.js';
import { failedRunDetails, warehouseRejection } from './internals.js';
import { QueryError, type QueryErrorType } from './query-error.js';
import { SAMPLE_FIELDS, fieldById, type BaseType } from './sample-schema.js';
import { compileStructuredQuery, type ResultColumn } from './sql/mbql.js';
import { expandNativeQuery } from './sql/native.js';
import type { NormalizedQuery } from './sql/dataset-query.js';

/** Row limits of Metabase's default userland constraints. */
export const MAX_RESULTS_BARE_ROWS = 2_000;
export const MAX_RESULTS = 10_000;

export type RunContext = 'question' | 'dashboard' | 'ad-hoc' | 'collection';

export interface RunPlan {
  readonly query: NormalizedQuery;
  /** Values for native template tags, by tag name. */
  readonly tagValues?: ReadonlyMap<string, { type: string; value: unknown }>;
  /** Dashboard filters mapped onto a structured query's fields. */
  readonly fieldFilters?: readonly { fieldId: number; parameterType: string; value: unknown }[];
}

export interface RunInput {
  readonly database: number;
  /**
   * Reads the query and checks its parameters and permissions. It runs inside the query
   * processor, as in Metabase: a QueryError thrown here is a failed run, not an HTTP error.
   */
  readonly plan: () => RunPlan;
  readonly context: RunContext;
  /** What the caller submitted, echoed as `json_query` (opaque to clients). */
  readonly jsonQuery: Record<string, unknown>;
  /** The warehouse refuses the compiled statement (`knobs.failingCardIds`): the run fails quoting it. */
  readonly warehouseRejects?: boolean;
}

export interface RunResult {
  readonly ok: boolean;
  readonly errorType?: QueryErrorType;
  readonly body: Record<string, unknown>;
}

export const resolveField = (fieldId: number): string => {
  const f = fieldById(fieldId);
  if (!f) throw new QueryError('invalid-query', `Field ${fieldId} does not exist.`);
  return `"${f.tableName}"."${f.name}"`;
};

export async function runQuery(executor: SqlExecutor, input: RunInput): Promise<RunResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const constraints = { 'max-results': MAX_RESULTS, 'max-results-bare-rows': MAX_RESULTS_BARE_ROWS };
  const jsonQuery = {
    ...input.jsonQuery,
    constraints,
    middleware: { 'js-int-to-string?': true, 'ignore-cached-results?': false },
  };
  const envelope = (): Record<string, unknown> => ({
    running_time: Math.round(performance.now() - t0),
    started_at: startedAt.toISOString(),
    json_query: jsonQuery,
    database_id: input.database,
    context: input.context,
  });
  try {
    const { sql, params, cols, aggregated } = compile(input.plan());
    if (input.warehouseRejects) throw new QueryError('invalid-query', warehouseRejection(sql), sql);
    // Native queries count as bare rows: Metabase only knows MBQL aggregations (§6).
    const limit = aggregated ? MAX_RESULTS : MAX_RESULTS_BARE_ROWS;
    const { rows, columns: sqlColumns } = await executor.execute(sql, params, limit);
    const columns = cols ?? nativeColumns(sqlColumns, rows);
    const data: Record<string, unknown> = {
      rows,
      cols: columns,
      native_form: { query: sql, params: params.length ? params : null },
      results_timezone: 'UTC',
      results_metadata: { columns },
      'format-rows?': true,
      is_sandboxed: false,
    };
    if (rows.length >= limit) data['rows_truncated'] = limit;
    return {
      ok: true,
      body: { data, row_count: rows.length, status: 'completed', ...envelope(), average_execution_time: null, cached: null },
    };
  } catch (err) {
    const { errorType, message } = describe(err);
    // `via` and `stacktrace` are Metabase's; the server removes them when stack traces are hidden.
    return {
      ok: false,
      errorType,
      body: {
        status: 'failed', error: message, error_type: errorType, row_count: 0, data: { rows: [], cols: [] },
        ...envelope(), ...failedRunDetails(message, errorType, err instanceof QueryError ? err.sql : undefined),
      },
    };
  }
}

function compile(input: RunPlan): { sql: string; params: unknown[]; cols?: ResultColumn[]; aggregated: boolean } {
  const q = input.query;
  if (q.kind === 'native') {
    const { sql, params } = expandNativeQuery(q.sql, q.templateTags, input.tagValues ?? new Map(), resolveField);
    return { sql, params, aggregated: false };
  }
  return compileStructuredQuery(q, [...(input.fieldFilters ?? [])]);
}

function describe(err: unknown): { errorType: QueryErrorType; message: string } {
  if (err instanceof QueryError) return { errorType: err.errorType, message: err.message };
  if (err instanceof RangeError) return { errorType: 'invalid-query', message: err.message };
  return { errorType: 'server', message: 'Error running query.' };
}

const DECLARED: Record<string, BaseType> = { INTEGER: 'type/Integer', REAL: 'type/Float', TEXT: 'type/Text' };

/** Result columns of a native query: real fields keep their metadata; expressions get a type from their values. */
function nativeColumns(columns: ExecuteResult['columns'], rows: unknown[][]): ResultColumn[] {
  return columns.map((c, i) => {
    const field = c.table && c.column ? SAMPLE_FIELDS.find((f) => f.tableName === c.table && f.name === c.column) : undefined;
    const baseType: BaseType = field?.baseType ?? DECLARED[c.type?.toUpperCase() ?? ''] ?? inferType(rows.map((r) => r[i]));
    return {
      name: c.name,
      display_name: c.name,
      base_type: baseType,
      effective_type: baseType,
      semantic_type: field?.semanticType ?? null,
      database_type: field?.databaseType ?? (c.type ?? 'NULL'),
      source: 'native',
      field_ref: ['field', c.name, { 'base-type': baseType }],
    } as ResultColumn;
  });
}

function inferType(values: unknown[]): BaseType {
  const v = values.find((x) => x !== null && x !== undefined);
  if (typeof v === 'number') return Number.isInteger(v) ? 'type/Integer' : 'type/Float';
  if ((typeof v === 'string' && /^-?\d{16,}$/.test(v))) return 'type/BigInteger';
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) return 'type/DateTime';
  return 'type/Text';
}

