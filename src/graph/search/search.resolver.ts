import { Arg, Ctx, Int, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../context/context.js';
import { BadUserInputError } from '../../errors/index.js';
import { SearchKind, SearchResult } from './search.type.js';
import { SEARCH_COST } from '../../gate/cost.js';

const KNOWN_KINDS: readonly SearchKind[] = Object.values(SearchKind);

@Resolver()
export class SearchResolver {
  @Query(() => [SearchResult], { nullable: true, complexity: SEARCH_COST, description: 'Metabase\'s search over what the caller can read.' })
  async search(
    @Arg('text', () => String, { description: 'Words to look for in names and descriptions.' }) text: string,
    @Arg('kinds', () => [SearchKind], { nullable: true, description: 'Only these kinds of object (default: every kind).' }) kinds: SearchKind[] | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20, description: 'How many hits to return.' }) first: number,
    @Ctx() ctx: GatewayContext,
  ): Promise<SearchResult[]> {
    if (!Number.isInteger(first) || first < 1 || first > ctx.limits.maxPageSize) {
      throw new BadUserInputError(`Expected \`first\` to be an integer from 1 to ${ctx.limits.maxPageSize}, received ${first}.`, { details: { argument: 'first' } });
    }
    if (text.length > ctx.limits.maxSearchChars) {
      throw new BadUserInputError(`Expected \`text\` to be at most ${ctx.limits.maxSearchChars} characters, received ${text.length}.`, { details: { argument: 'text' } });
    }
    // Without kinds, only the kinds the graph knows are asked for; any other kind Metabase still
    // returns (segments, actions, indexed entities…) is left out.
    const page = await ctx.role.client.search({ q: text, models: kinds ?? KNOWN_KINDS, limit: first, offset: 0 }, ctx.loaders.call);
    const hits = page.data
      .filter((r) => KNOWN_KINDS.includes(r.model as SearchKind))
      .map((r) => ({ kind: r.model as SearchKind, id: r.id, name: r.name, description: r.description, collectionId: r.collectionId }));
    // Hits outside the role's collections are left out; databases and tables live outside collections.
    const keep = await Promise.all(hits.map((h) => (h.kind === SearchKind.DATABASE || h.kind === SearchKind.TABLE ? true : ctx.access.collection(h.kind === SearchKind.COLLECTION ? h.id : h.collectionId))));
    return hits.filter((_, i) => keep[i]);
  }
}
