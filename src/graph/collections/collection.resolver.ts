import { Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../context/context.js';
import { NotFoundError } from '../../errors/index.js';
import type { Card, Collection as CollectionRecord, Dashboard as DashboardRecord } from '../../metabase/types.js';
import { isIn, parseCollectionId } from '../common/ids.js';
import { Dashboard } from '../dashboards/dashboard.type.js';
import { Question, QuestionKind } from '../questions/question.type.js';
import { Collection } from './collection.type.js';

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
    const key = parseCollectionId(id);
    const found = (await ctx.loaders.collections()).get(key);
    if (!found) throw new NotFoundError(`No collection ${key} is visible to your role.`);
    return found;
  }

  @Query(() => [Collection], { nullable: true, description: 'Every collection the caller can read, root first.' })
  async collections(@Ctx() ctx: GatewayContext): Promise<CollectionRecord[]> {
    return ctx.access.filter([...(await ctx.loaders.collections()).values()], (c) => c.id);
  }

  @FieldResolver(() => Collection, { nullable: true })
  async parent(@Root() c: CollectionRecord, @Ctx() ctx: GatewayContext): Promise<CollectionRecord | null> {
    const id = parentId(c);
    // A parent outside the role's collections is left out, as Metabase leaves out one it cannot read.
    return id === null || !(await ctx.access.collection(id)) ? null : ((await ctx.loaders.collections()).get(id) ?? null);
  }

  @FieldResolver(() => [Collection])
  async children(@Root() c: CollectionRecord, @Ctx() ctx: GatewayContext): Promise<CollectionRecord[]> {
    return ctx.access.filter([...(await ctx.loaders.collections()).values()].filter((x) => x.id !== 'root' && parentId(x) === c.id), (x) => x.id);
  }

  @FieldResolver(() => [Dashboard])
  async dashboards(@Root() c: CollectionRecord, @Ctx() ctx: GatewayContext): Promise<DashboardRecord[]> {
    return ctx.access.filter((await ctx.loaders.dashboardList()).filter((d) => isIn(d.collectionId, c.id)), (d) => d.collectionId);
  }

  @FieldResolver(() => [Question])
  async questions(@Root() c: CollectionRecord, @Arg('kind', () => QuestionKind, { nullable: true }) kind: QuestionKind | null, @Ctx() ctx: GatewayContext): Promise<Card[]> {
    return ctx.access.filter((await ctx.loaders.cardList()).filter((q) => isIn(q.collectionId, c.id) && (!kind || q.type === kind)), (q) => q.collectionId);
  }
}
