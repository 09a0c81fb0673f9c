/** The result of running a question, a dashboard card or ad-hoc SQL. */
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { Column } from '../common/parameter.type.js';
import type { RawJson, RawRows } from '../../metabase/raw-rows.js';

export enum QueryRunStatus {
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
}
registerEnumType(QueryRunStatus, { name: 'QueryRunStatus' });

export enum QueryRunSource {
  METABASE = 'METABASE',
  METABASE_CACHE = 'METABASE_CACHE',
  GATEWAY_CACHE = 'GATEWAY_CACHE',
  SHARED = 'SHARED',
}
registerEnumType(QueryRunSource, {
  name: 'QueryRunSource',
  description: 'Where a run\'s result came from.',
  valuesConfig: {
    METABASE: { description: 'Metabase ran the query for this run.' },
    METABASE_CACHE: { description: 'Metabase answered from its own result cache.' },
    GATEWAY_CACHE: { description: 'The gateway\'s result cache answered (the role keeps results for a while); Metabase was not called.' },
    SHARED: { description: 'An identical run in flight at the same time (same credential, question and values) was shared; Metabase ran the query once for all.' },
  },
});

@ObjectType({ description: 'Why a run failed: Metabase\'s message for roles that may read SQL (it can quote the query), a fixed sentence for others; the error type either way.' })
export class QueryRunError {
  @Field(() => String, { description: 'The gateway error code, e.g. QUERY_FAILED.' })
  code!: string;

  @Field(() => String)
  message!: string;

  @Field(() => String, { nullable: true, description: 'Metabase\'s `error_type`, e.g. `invalid-query`.' })
  errorType!: string | null;
}

@ObjectType({ description: 'A page of a run\'s rows.' })
export class QueryRunRowPage {
  /** Usually Metabase's own JSON text of the rows (RawJson), which the response carries as it came. */
  @Field(() => GraphQLJSON, { description: 'An array of rows, each an array of values in column order.' })
  rows!: unknown[][] | RawJson;

  @Field(() => Int, { description: 'The index of the page\'s first row in the run (from 0).' })
  startRow!: number;

  @Field(() => String, { nullable: true, description: 'Pass as `after` to read the next page; null on an empty page.' })
  endCursor!: string | null;

  @Field(() => Boolean)
  hasNextPage!: boolean;
}

@ObjectType({ description: 'One run of a query. Rows are one JSON value (an array of row arrays), never one field per cell. Every run is kept for a while under its id (see `storedUntil`), so its rows can be read again in pages with `queryRun(id)`.' })
export class QueryRun {
  @Field(() => ID)
  id!: string;

  @Field(() => QueryRunStatus)
  status!: QueryRunStatus;

  @Field(() => [Column])
  columns!: Column[];

  /** The run's rows (up to its `rowCount`): usually Metabase's own JSON text (RawRows), paged by `rows(first, after)` without being parsed. */
  rowSource!: RawRows | readonly (readonly unknown[])[];

  /** When the run is kept for `queryRun(id)` (ms since the epoch), or null when it is not; resolved when the store has answered. */
  kept!: Promise<number | null>;

  @Field(() => Int, { description: 'Rows in this run (after any cut), across all pages of `rows`.' })
  rowCount!: number;

  @Field(() => Boolean, { description: 'True when Metabase\'s row limit or `maxRows` cut the result.' })
  truncated!: boolean;

  @Field(() => Int, { nullable: true })
  runningTimeMs!: number | null;

  @Field(() => String, { nullable: true })
  startedAt!: string | null;

  @Field(() => Boolean, { description: 'True when the result came from a cache: the gateway\'s (see `from`) or Metabase\'s own.' })
  cached!: boolean;

  @Field(() => QueryRunSource, { description: 'Where the result came from.' })
  from!: QueryRunSource;

  @Field(() => QueryRunError, { nullable: true })
  error!: QueryRunError | null;
}
