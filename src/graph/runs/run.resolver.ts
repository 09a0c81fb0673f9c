/** Runs as mutations, for clients that prefer them to the `run` fields. */
import { Arg, Args, ArgsType, Ctx, Field, ID, InputType, Int, Mutation, Resolver, registerEnumType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import type { GatewayContext } from '../../context/context.js';
import { BadUserInputError } from '../../errors/index.js';
import { describeValue, parseId } from '../common/ids.js';
import { ParameterValueInput } from '../common/parameter.type.js';
import { RunArgs } from '../questions/question.args.js';
import { resolveParameterValues } from './parameters.js';
import { checkMaxRows, keepingOf, runOrFailure } from './run.mapper.js';
import { findDashcard, runDashcard, runQuestion } from './run.service.js';
import { QueryRun } from './run.type.js';
import { RUN_COST } from '../../gate/cost.js';

export enum NativeParameterType {
  TEXT = 'text',
  NUMBER = 'number',
  DATE = 'date',
  BOOLEAN = 'boolean',
}
registerEnumType(NativeParameterType, { name: 'NativeParameterType' });

/** The Metabase parameter type a native variable of each type is sent with. */
const PARAMETER_TYPE: Record<NativeParameterType, string> = { text: 'category', number: 'number/=', date: 'date/single', boolean: 'boolean/=' };

@InputType({ description: 'A value for a `{{name}}` variable of ad-hoc SQL.' })
class NativeParameterInput {
  @Field(() => String)
  name!: string;

  @Field(() => NativeParameterType)
  type!: NativeParameterType;

  @Field(() => GraphQLJSON, { nullable: true })
  value?: unknown;
}

@ArgsType()
class RunDashboardCardArgs {
  @Field(() => ID)
  dashboardId!: string;

  @Field(() => ID, { description: 'The dashboard card (dashcard) id.' })
  dashboardCardId!: string;

  @Field(() => [ParameterValueInput], { nullable: true })
  parameters?: ParameterValueInput[] | null;

  @Field(() => Int, { nullable: true })
  maxRows?: number | null;
}

@Resolver()
export class RunResolver {
  @Mutation(() => QueryRun, { nullable: true, complexity: RUN_COST, description: 'Runs a saved question; null (with an error) when refused.' })
  async runQuestion(@Arg('id', () => ID) id: string, @Args(() => RunArgs) args: RunArgs, @Ctx() ctx: GatewayContext): Promise<QueryRun> {
    const card = await ctx.reaches.card(parseId(id, 'a question'), 'runQuestion');
    return runQuestion(ctx, ctx.reaches.of(card), card, args);
  }

  @Mutation(() => QueryRun, { nullable: true, complexity: RUN_COST, description: 'Runs a dashboard card with dashboard parameter values; null for text cards.' })
  async runDashboardCard(@Args(() => RunDashboardCardArgs) args: RunDashboardCardArgs, @Ctx() ctx: GatewayContext): Promise<QueryRun | null> {
    const dashboard = await ctx.reaches.dashboard(parseId(args.dashboardId, 'a dashboard'), 'runDashboardCard');
    return runDashcard(ctx, ctx.reaches.of(dashboard), dashboard, findDashcard(dashboard, parseId(args.dashboardCardId, 'a dashboard card')), args);
  }

  @Mutation(() => QueryRun, { nullable: true, complexity: RUN_COST, description: 'Runs ad-hoc native SQL; `{{name}}` variables take values from `parameters`, bound, never spliced.' })
  runNativeQuery(
    @Arg('databaseId', () => ID) databaseId: string,
    @Arg('sql', () => String) sql: string,
    @Arg('parameters', () => [NativeParameterInput], { nullable: true }) parameters: NativeParameterInput[] | null,
    @Arg('maxRows', () => Int, { nullable: true }) maxRows: number | null,
    @Ctx() ctx: GatewayContext,
  ): Promise<QueryRun> {
    const db = parseId(databaseId, 'a database');
    if (sql.trim() === '') throw new BadUserInputError('Expected `sql` to be a non-empty SQL statement.', { details: { argument: 'sql' } });
    const rows = checkMaxRows(maxRows, ctx.role.maxRows);
    for (const p of parameters ?? []) {
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(p.name)) {
        throw new BadUserInputError(`Expected a variable name of letters, digits and underscores, received ${describeValue(p.name)}.`, { details: { argument: 'parameters' } });
      }
    }
    const declared = (parameters ?? []).map((p) => ({ id: p.name, name: p.name, slug: p.name, type: PARAMETER_TYPE[p.type], target: ['variable', ['template-tag', p.name]], required: false, default: null }));
    const values = resolveParameterValues(declared, (parameters ?? []).map((p) => ({ slug: p.name, value: p.value })), 'this SQL');
    const templateTags = Object.fromEntries((parameters ?? []).map((p) => [p.name, { id: p.name, name: p.name, 'display-name': p.name, type: p.type }]));
    const sent = values.filter((v) => v.value !== null).map(({ parameter, value }) => ({ type: parameter.type, target: parameter.target, value }));
    return runOrFailure(() => ctx.loaders.native({ databaseId: db, sql, templateTags, parameters: sent }), rows, {
      trail: ctx.trail, keeping: keepingOf(ctx, 'native'), canViewSql: ctx.role.canViewSql, log: ctx.log, databaseId: db, sql, parameters: values.filter((v) => v.value !== null).map(({ parameter, value }) => ({ name: parameter.id, value })),
    });
  }
}
