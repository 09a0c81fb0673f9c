/**
 * A run's rows in pages, and runs read again by id. Every run is kept for a while for the viewer who
 * ran it, in the role it ran in (metabase/stored-runs.ts); `queryRun(id)` reads it back, and
 * `rows(first, after)` / `rowPage(first, after)` page through it without parsing the rows.
 */
import { decodeCursor, encodeCursor } from './cursor.js';
import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import type { GatewayContext } from '../../context/context.js';
import { BadUserInputError, NotFoundError } from '../../errors/index.js';
import { METABASE_ROW_LIMIT } from '../../policy/policy.js';
import type { RawJson } from '../../metabase/raw-rows.js';
import { RunStore, type RunFacts } from '../../metabase/stored-runs.js';
import { describeValue } from '../common/ids.js';
import { RUN_COST } from '../../gate/cost.js';
import { toQueryRun } from './run.mapper.js';
import { QueryRun, QueryRunRowPage, QueryRunSource } from './run.type.js';

@ArgsType()
class RowPageArgs {
  @Field(() => Int, { nullable: true, description: `How many rows to return (default: all that are left; at most ${METABASE_ROW_LIMIT}).` })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'A cursor from a previous page\'s `endCursor`: the page starts after it.' })
  after?: string | null;
}

@Resolver(() => QueryRun)
export class QueryRunResolver {
  @Query(() => QueryRun, {
    nullable: true,
    // Reading a kept run decodes up to RUN_STORE_MAX_BYTES: it weighs as much as a run.
    complexity: RUN_COST,
    description: 'A run made earlier by the same viewer in the same role, while it is kept (see `QueryRun.storedUntil`); NOT_FOUND for any other.',
  })
  async queryRun(@Arg('id', () => ID, { description: 'The run\'s id, as a run returned it.' }) id: string, @Ctx() ctx: GatewayContext): Promise<QueryRun> {
    if (!RunStore.isRunId(id)) throw new BadUserInputError(`Expected \`id\` to be a run id (a UUID from QueryRun.id), received ${describeValue(id)}.`, { details: { argument: 'id' } });
    let kept = ctx.runs && ctx.runOwner ? await ctx.runs.read(id, ctx.runOwner) : null;
    let maxRows = ctx.role.maxRows;
    // What the run read is checked again: a role narrowed since (collections, native SQL) reads no more of it.
    if (kept && !(await stillInReach(ctx, kept.facts.reach))) kept = null;
    if (!kept && ctx.runs) {
      // A run made through a grant is kept under that grant: readable while the grant is in force.
      for (const reach of await ctx.reaches.grants()) {
        kept = reach.runOwner ? await ctx.runs.read(id, reach.runOwner) : null;
        if (kept) {
          reach.use('queryRun');
          maxRows = reach.maxRows;
          break;
        }
      }
    }
    if (!kept) {
      throw new NotFoundError(`No run ${id} is kept for you: runs are kept for a while for the viewer who ran them, in the role they ran in (or through the grant in force they ran under).`);
    }
    const run = toQueryRun({ result: kept.result, source: 'stored' }, maxRows, null, id);
    const from = Object.values(QueryRunSource).find((s) => s === kept.facts.source) ?? QueryRunSource.METABASE;
    return { ...run, truncated: run.truncated || kept.facts.truncated, from, cached: run.cached || from === QueryRunSource.GATEWAY_CACHE, kept: Promise.resolve(kept.expiresAt) };
  }

  @FieldResolver(() => GraphQLJSON, { description: 'The rows, each an array of values in column order: all of them, or a page (`first`, `after`; see `rowPage` for its cursor).' })
  rows(@Root() run: QueryRun, @Args(() => RowPageArgs) args: RowPageArgs): unknown[][] | RawJson {
    return pageOf(run, args).rows;
  }

  @FieldResolver(() => QueryRunRowPage, { description: 'A page of the rows, with the cursor of the next page.' })
  rowPage(@Root() run: QueryRun, @Args(() => RowPageArgs) args: RowPageArgs): QueryRunRowPage {
    return pageOf(run, args);
  }

  @FieldResolver(() => String, { nullable: true, description: 'Until when the run can be read again with `queryRun(id)` (ISO 8601); null when it is not kept (too large, or the gateway\'s store did not answer).' })
  async storedUntil(@Root() run: QueryRun): Promise<string | null> {
    const until = await run.kept;
    return until === null ? null : new Date(until).toISOString();
  }
}

async function stillInReach(ctx: GatewayContext, reach: RunFacts['reach']): Promise<boolean> {
  if (reach === 'native') return ctx.role.canRunNativeSql;
  if (ctx.access.unrestricted) return true;
  for (const collection of reach.collections) if (!(await ctx.access.collection(collection))) return false;
  return true;
}

function pageOf(run: QueryRun, args: RowPageArgs): QueryRunRowPage {
  const first = args.first ?? null;
  if (first !== null && (!Number.isInteger(first) || first < 0 || first > METABASE_ROW_LIMIT)) {
    throw new BadUserInputError(`Expected \`first\` to be an integer from 0 to ${METABASE_ROW_LIMIT}, received ${first}.`, { details: { argument: 'first' } });
  }
  const start = args.after ? decodeCursor(args.after, run) + 1 : 0;
  const end = Math.min(run.rowCount, first === null ? run.rowCount : start + first);
  const count = Math.max(0, end - start);
  const source = run.rowSource;
  const rows = Array.isArray(source) ? (source.slice(start, start + count) as unknown[][]) : (source as Exclude<QueryRun['rowSource'], readonly unknown[]>).json(count, start);
  return { rows, startRow: start, endCursor: count > 0 ? encodeCursor(run.id, start + count - 1) : null, hasNextPage: start + count < run.rowCount };
}
