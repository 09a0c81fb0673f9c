/**
 * Cursor connections (`first`/`after`): opaque cursors over a list the resolver already holds.
 * Metabase pages nothing we list here, so a cursor is an offset, encoded so clients do not rely on it.
 */
import { ArgsType, Field, Int, ObjectType, type ClassType } from 'type-graphql';
import { BadUserInputError } from '../../errors/index.js';
import { passThrough } from '../../gate/cost.js';

@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true, description: 'How many items to return (default 20, at most the gateway\'s page limit).' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'A cursor from a previous page\'s `pageInfo.endCursor`.' })
  after?: string | null;
}

@ObjectType()
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

const encode = (offset: number): string => Buffer.from(`o:${offset}`).toString('base64url');

function decode(cursor: string): number {
  const m = /^o:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new BadUserInputError('Expected `after` to be a cursor from a previous page\'s pageInfo.endCursor.', { details: { argument: 'after' } });
  return Number(m[1]);
}

export interface Page<T> {
  readonly nodes: T[];
  readonly edges: { cursor: string; node: T }[];
  readonly pageInfo: PageInfo;
  readonly totalCount: number;
}

export function paginate<T>(items: readonly T[], args: PageArgs, maxPageSize: number): Page<T> {
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 0 || first > maxPageSize) {
    throw new BadUserInputError(`Expected \`first\` to be an integer from 0 to ${maxPageSize}, received ${first}.`, { details: { argument: 'first' } });
  }
  const start = args.after ? decode(args.after) + 1 : 0;
  const slice = items.slice(start, start + first);
  const edges = slice.map((node, i) => ({ cursor: encode(start + i), node }));
  return {
    nodes: slice,
    edges,
    pageInfo: { hasNextPage: start + first < items.length, endCursor: edges.at(-1)?.cursor ?? null },
    totalCount: items.length,
  };
}

/** A `XConnection` type with edges, nodes, pageInfo and totalCount for one node type. */
export function Connection<T extends object>(name: string, node: ClassType<T>) {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field(() => String)
    cursor!: string;

    @Field(() => node)
    node!: T;
  }

  @ObjectType(`${name}Connection`)
  class ConnectionType {
    // The connection's `first` already multiplies what is below it.
    @Field(() => [Edge], { complexity: passThrough })
    edges!: Edge[];

    @Field(() => [node], { complexity: passThrough })
    nodes!: T[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    @Field(() => Int, { description: 'Items across all pages.' })
    totalCount!: number;
  }
  return ConnectionType;
}
