import { Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext, Reach } from '../../context/context.js';
import type { Card, Collection as CollectionRecord, Dashboard as DashboardRecord } from '../../metabase/types.js';
import { isIn, parseCollectionId } from '../common/ids.js';
import { Dashboard } from '../dashboards/dashboard.type.js';
import { Question, QuestionKind } from '../questions/question.type.js';
import { Collection } from './collection.type.js';

/** Items listed through a reach belong to it: their fields go through it too. */
const marked = <T extends object>(ctx: GatewayContext, reach: Reach, items: T[]): T[] => items.map((item) => ctx.reaches.mark(reach, item));

/** A collection's parent id from its location (`/2/3/` → 3; `/` → root). */
function parentId(c: CollectionRecord): number | 'root' | null {
  if (c.id === 'root') return null;
  const ids = (c.location ?? '/').split('/').filter(Boolean);
  return ids.length ? Number(ids.at(-1)) : 'root';
}

@Resolver(() => Collection)
export class CollectionResolver {
  @Query(() => Collection, { nullable: true, description: 'One collection by id, or `root` for "Our analytics".' })
  async collection(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<CollectionRecord> {
    return ctx.reaches.collection(parseCollectionId(id), 'collection');
  }

  @Query(() => [Collection], { nullable: true, description: 'Every collection the caller can read, root first.' })
  async collections(@Ctx() ctx: GatewayContext): Promise<CollectionRecord[]> {
    return ctx.access.filter([...(await ctx.loaders.collections()).values()], (c) => c.id);
  }

  @FieldResolver(() => Collection, { nullable: true })
  async parent(@Root() c: CollectionRecord, @Ctx() ctx: GatewayContext): Promise<CollectionRecord | null> {
    const id = parentId(c);
    const reach = ctx.reaches.of(c);
    // A parent outside the reach (the role's collections, or a grant) is left out, as Metabase leaves out one it cannot read.
    const found = id === null || !(await reach.access.collection(id)) ? undefined : (await reach.loaders.collections()).get(id);
    return found ? ctx.reaches.mark(reach, found) : null;
  }

  @FieldResolver(() => [Collection])
  async children(@Root() c: CollectionRecord, @Ctx() ctx: GatewayContext): Promise<CollectionRecord[]> {
    const reach = ctx.reaches.of(c);
    return marked(ctx, reach, await reach.access.filter([...(await reach.loaders.collections()).values()].filter((x) => x.id !== 'root' && parentId(x) === c.id), (x) => x.id));
  }

  @FieldResolver(() => [Dashboard])
  async dashboards(@Root() c: CollectionRecord, @Ctx() ctx: GatewayContext): Promise<DashboardRecord[]> {
    const reach = ctx.reaches.of(c);
    return marked(ctx, reach, await reach.access.filter((await reach.loaders.dashboardList()).filter((d) => isIn(d.collectionId, c.id)), (d) => d.collectionId));
  }

  @FieldResolver(() => [Question])
  async questions(@Root() c: CollectionRecord, @Arg('kind', () => QuestionKind, { nullable: true }) kind: QuestionKind | null, @Ctx() ctx: GatewayContext): Promise<Card[]> {
    const reach = ctx.reaches.of(c);
    return marked(ctx, reach, await reach.access.filter((await reach.loaders.cardList()).filter((q) => isIn(q.collectionId, c.id) && (!kind || q.type === kind)), (q) => q.collectionId));
  }
}
