import { Arg, Ctx, Int, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../context/context.js';
import { BadUserInputError } from '../../errors/index.js';
import { SearchKind, SearchResult } from './search.type.js';

@Resolver()
export class SearchResolver {
  @Query(() => [SearchResult], { nullable: true, description: 'Metabase\'s search over what the caller can read.' })
  async search(
    @Arg('text', () => String) text: string,
    @Arg('kinds', () => [SearchKind], { nullable: true }) kinds: SearchKind[] | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Ctx() ctx: GatewayContext,
  ): Promise<SearchResult[]> {
    if (!Number.isInteger(first) || first < 1 || first > ctx.limits.maxPageSize) {
      throw new BadUserInputError(`Expected \`first\` to be an integer from 1 to ${ctx.limits.maxPageSize}, received ${first}.`, { details: { argument: 'first' } });
    }
    const page = await ctx.role.client.search({ q: text, models: kinds ?? undefined, limit: first, offset: 0 });
    const hits = page.data.map((r) => ({ kind: r.model as SearchKind, id: r.id, name: r.name, description: r.description, collectionId: r.collectionId }));
    // Hits outside the role's collections are left out; databases and tables live outside collections.
    const keep = await Promise.all(hits.map((h) => (h.kind === SearchKind.DATABASE || h.kind === SearchKind.TABLE ? true : ctx.access.collection(h.kind === SearchKind.COLLECTION ? h.id : h.collectionId))));
    return hits.filter((_, i) => keep[i]);
  }
}
