/** The result of running a question, a dashboard card or ad-hoc SQL. */
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { Column } from '../common/parameter.type.js';
import type { RawJson } from '../../metabase/raw-rows.js';

export enum QueryRunStatus {
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
}
registerEnumType(QueryRunStatus, { name: 'QueryRunStatus' });

@ObjectType({ description: 'Why a run failed: Metabase\'s message for roles that may read SQL (it can quote the query), a fixed sentence for others; the error type either way.' })
export class QueryRunError {
  @Field(() => String, { description: 'The gateway error code, e.g. QUERY_FAILED.' })
  code!: string;

  @Field(() => String)
  message!: string;

  @Field(() => String, { nullable: true, description: 'Metabase\'s `error_type`, e.g. `invalid-query`.' })
  errorType!: string | null;
}

@ObjectType({ description: 'One run of a query. Rows are one JSON value (an array of row arrays), never one field per cell.' })
export class QueryRun {
  @Field(() => ID)
  id!: string;

  @Field(() => QueryRunStatus)
  status!: QueryRunStatus;

  @Field(() => [Column])
  columns!: Column[];

  /** Usually Metabase's own JSON text of the rows (RawJson), which the response carries as it came. */
  @Field(() => GraphQLJSON, { description: 'An array of rows, each an array of values in column order.' })
  rows!: unknown[][] | RawJson;

  @Field(() => Int)
  rowCount!: number;

  @Field(() => Boolean, { description: 'True when Metabase\'s row limit or `maxRows` cut the result.' })
  truncated!: boolean;

  @Field(() => Int, { nullable: true })
  runningTimeMs!: number | null;

  @Field(() => String, { nullable: true })
  startedAt!: string | null;

  @Field(() => Boolean, { description: 'True when Metabase answered from its result cache.' })
  cached!: boolean;

  @Field(() => QueryRunError, { nullable: true })
  error!: QueryRunError | null;
}
