import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../context/context.js';
import type { Collection as CollectionRecord, Dashboard as DashboardRecord, DashboardTab as TabRecord, Parameter as ParameterRecord } from '../../metabase/types.js';
import { Connection, PageArgs, paginate } from '../common/connection.js';
import { isIn, parseCollectionId, parseId } from '../common/ids.js';
import { Parameter, ParameterValueInput } from '../common/parameter.type.js';
import { parameterValues, ParameterValues, ParameterValuesArgs } from '../common/parameter-values.js';
import { Collection } from '../collections/collection.type.js';
import { matchesText } from '../questions/question.resolver.js';
import { Question } from '../questions/question.type.js';
import type { Card } from '../../metabase/types.js';
import { QueryRun } from '../runs/run.type.js';
import { runDashcard } from '../runs/run.service.js';
import { RUN_COST } from '../../gate/cost.js';
import { CardPosition, Dashboard, DashboardCard, DashboardTab, ParameterMapping, type DashcardRoot } from './dashboard.type.js';

export const DashboardConnection = Connection('Dashboard', Dashboard);

@ArgsType()
class DashboardsArgs extends PageArgs {
  @Field(() => ID, { nullable: true, description: 'Only dashboards directly in this collection (`root` for the top).' })
  collectionId?: string | null;

  @Field(() => String, { nullable: true, description: 'Case-insensitive text in the name or description.' })
  search?: string | null;
}

@ArgsType()
class DashcardRunArgs {
  @Field(() => [ParameterValueInput], { nullable: true, description: 'Values of the dashboard\'s parameters, by id or slug.' })
  parameters?: ParameterValueInput[] | null;
}

/** Dashboard lists come without cards; the full dashboard is loaded (once per request, through the reach it came by) when asked. */
const full = async (d: DashboardRecord, ctx: GatewayContext): Promise<DashboardRecord> => {
  const reach = ctx.reaches.of(d);
  return ctx.reaches.mark(reach, await reach.loaders.dashboard.load(d.id));
};

@Resolver(() => Dashboard)
export class DashboardResolver {
  @Query(() => Dashboard, { nullable: true })
  dashboard(@Arg('id', () => ID, { description: 'The dashboard\'s id.' }) id: string, @Ctx() ctx: GatewayContext): Promise<DashboardRecord> {
    return ctx.reaches.dashboard(parseId(id, 'a dashboard'), 'dashboard');
  }

  @Query(() => DashboardConnection, { nullable: true, description: 'Dashboards the caller can read.' })
  async dashboards(@Args(() => DashboardsArgs) args: DashboardsArgs, @Ctx() ctx: GatewayContext) {
    const collectionId = args.collectionId ? parseCollectionId(args.collectionId) : undefined;
    const list = (await ctx.access.filter(await ctx.loaders.dashboardList(), (d) => d.collectionId)).filter((d) =>
      (collectionId === undefined || isIn(d.collectionId, collectionId))
      && matchesText(args.search, d.name, d.description));
    return paginate(list, args, ctx.limits.maxPageSize);
  }

  @FieldResolver(() => Collection, { nullable: true })
  async collection(@Root() d: DashboardRecord, @Ctx() ctx: GatewayContext): Promise<CollectionRecord | null> {
    const reach = ctx.reaches.of(d);
    const found = (await reach.loaders.collections()).get(d.collectionId ?? 'root');
    return found ? ctx.reaches.mark(reach, found) : null;
  }

  @FieldResolver(() => [Parameter])
  parameters(@Root() d: DashboardRecord): readonly ParameterRecord[] {
    return d.parameters;
  }

  @FieldResolver(() => ParameterValues, { description: 'The values one of the dashboard\'s filters may take, as Metabase lists them for the role.' })
  async parameterValues(@Root() d: DashboardRecord, @Args(() => ParameterValuesArgs) args: ParameterValuesArgs, @Ctx() ctx: GatewayContext) {
    const dashboard = await full(d, ctx);
    return parameterValues('dashboard', d.id, dashboard.parameters, args, ctx, ctx.reaches.of(d), dashboard);
  }

  @FieldResolver(() => [DashboardTab])
  async tabs(@Root() d: DashboardRecord, @Ctx() ctx: GatewayContext): Promise<readonly TabRecord[]> {
    return (await full(d, ctx)).tabs;
  }

  @FieldResolver(() => [DashboardCard], { description: 'Every card, text cards included, in Metabase\'s order.' })
  async cards(@Root() d: DashboardRecord, @Ctx() ctx: GatewayContext): Promise<DashcardRoot[]> {
    const dashboard = await full(d, ctx);
    const reach = ctx.reaches.of(d);
    return dashboard.dashcards.map((dashcard) => ctx.reaches.mark(reach, { dashcard, dashboard }));
  }
}

const readable = (c: Card | { restricted: true } | null): Card | null => (c && !('restricted' in c) ? c : null);

/** The card's question when both Metabase (the reach's credential) and the reach (the role's collections, or a grant) let the caller read it. */
async function inReach(c: Card | { restricted: true } | null, root: DashcardRoot, ctx: GatewayContext): Promise<Card | null> {
  const card = readable(c);
  const reach = ctx.reaches.of(root);
  return card && (await reach.allows('card', card, card.id, card.collectionId)) ? ctx.reaches.mark(reach, card) : null;
}

@Resolver(() => DashboardCard)
export class DashboardCardResolver {
  @FieldResolver(() => ID)
  id(@Root() root: DashcardRoot): number {
    return root.dashcard.id;
  }

  @FieldResolver(() => DashboardTab, { nullable: true })
  tab(@Root() root: DashcardRoot): TabRecord | null {
    return root.dashboard.tabs.find((t) => t.id === root.dashcard.tabId) ?? null;
  }

  @FieldResolver(() => CardPosition)
  position(@Root() { dashcard }: DashcardRoot): CardPosition {
    return { row: dashcard.row, col: dashcard.col, width: dashcard.sizeX, height: dashcard.sizeY };
  }

  @FieldResolver(() => String, { nullable: true, description: 'The text of a text or heading card.' })
  text(@Root() root: DashcardRoot): string | null {
    return root.dashcard.text;
  }

  @FieldResolver(() => Question, { nullable: true, description: 'Null for text cards, and for questions the caller\'s role cannot read.' })
  question(@Root() root: DashcardRoot, @Ctx() ctx: GatewayContext): Promise<Card | null> {
    return inReach(root.dashcard.card, root, ctx);
  }

  @FieldResolver(() => Boolean, { description: 'True when the card holds a question the caller\'s role cannot read.' })
  async restricted(@Root() root: DashcardRoot, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return root.dashcard.card !== null && (await inReach(root.dashcard.card, root, ctx)) === null;
  }

  @FieldResolver(() => [Question], { nullable: 'items', description: 'Extra questions drawn on the same chart; null where unreadable.' })
  series(@Root() root: DashcardRoot, @Ctx() ctx: GatewayContext): Promise<(Card | null)[]> {
    return Promise.all(root.dashcard.series.map((c) => inReach(c, root, ctx)));
  }

  @FieldResolver(() => [ParameterMapping])
  parameterMappings(@Root() root: DashcardRoot): ParameterMapping[] {
    return root.dashcard.parameterMappings.map((m) => ({ parameterId: m.parameterId, questionId: m.cardId, target: m.target }));
  }

  @FieldResolver(() => QueryRun, { nullable: true, complexity: RUN_COST, description: 'Runs the card\'s question with dashboard parameter values; null for text cards.' })
  run(@Root() root: DashcardRoot, @Args(() => DashcardRunArgs) args: DashcardRunArgs, @Ctx() ctx: GatewayContext) {
    return runDashcard(ctx, ctx.reaches.of(root), root.dashboard, root.dashcard, args);
  }
}
