/**
 * What one GraphQL request may ask for. The defaults suit people and tools; the policy file may
 * change any of them for every role (`limits:` at the top) or for one role (`limits:` on the role).
 * Each is checked before any resolver runs, except `runs`, `upstreamCalls` and `upstreamBytes`,
 * which are counted while the request executes. A request over a limit is refused with QUERY_TOO_COMPLEX naming the
 * limit, its value and the measured figure.
 */
export interface OperationLimits {
  /** Bytes of the GraphQL document. Default 32,768. */
  readonly documentBytes: number;
  /** Lexical tokens of the document (names, punctuation, values). Default 3,000. */
  readonly tokens: number;
  /** Fields nested in one another, counting through fragments. Default 16 (the introspection query GraphiQL sends is 13). */
  readonly depth: number;
  /** Aliased fields, counting each fragment spread in full. Default 30. */
  readonly aliases: number;
  /** Fields at the root of the operation. Default 15. */
  readonly rootFields: number;
  /** Directive uses (`@include`, `@skip`). Default 30. */
  readonly directives: number;
  /** Fields the operation selects, counting each fragment spread in full. Default 2,000. */
  readonly fields: number;
  /** Fragment definitions in the document (which bounds how deeply fragments can spread one another). Default 100. */
  readonly fragments: number;
  /** List fields nested in one another on one path (fan-out), e.g. collections → dashboards → cards is 3. Default 4. */
  readonly listDepth: number;
  /**
   * Static cost: a query run weighs 100, a search 50, any other object 1, scalars 0, multiplied
   * through lists (`first`, or 20 for lists without it). Default 5,000 (about 50 runs).
   */
  readonly cost: number;
  /** Query runs one request may start (counted as they start). Default 50. */
  readonly runs: number;
  /** Metabase calls one request may make (counted as they are made). Default 200. */
  readonly upstreamCalls: number;
  /** Bytes one request may read from Metabase, all its calls together, after gunzip (counted as they arrive). Default 134,217,728 (128 MiB). */
  readonly upstreamBytes: number;
  /** Bytes of the variables, as JSON. Default 65,536. */
  readonly variableBytes: number;
  /** Nesting of the variables (objects and lists). Default 12. */
  readonly variableDepth: number;
  /** Keys and list items in the variables, all levels together. Default 2,000. */
  readonly variableValues: number;
}

export type LimitName = keyof OperationLimits;

export const DEFAULT_LIMITS: OperationLimits = Object.freeze({
  documentBytes: 32_768,
  tokens: 3_000,
  depth: 16,
  aliases: 30,
  rootFields: 15,
  directives: 30,
  fields: 2_000,
  fragments: 100,
  listDepth: 4,
  cost: 5_000,
  runs: 50,
  upstreamCalls: 200,
  upstreamBytes: 128 * 1024 * 1024,
  variableBytes: 65_536,
  variableDepth: 12,
  variableValues: 2_000,
});

export const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as LimitName[];

/** What each limit counts, in words, for error messages and the README. */
export const LIMIT_WORDS: Readonly<Record<LimitName, string>> = {
  documentBytes: 'bytes of GraphQL document',
  tokens: 'tokens in the GraphQL document',
  depth: 'levels of nested fields',
  aliases: 'aliased fields',
  rootFields: 'fields at the root of the operation',
  directives: 'directive uses',
  fields: 'fields selected (fragments counted in full)',
  fragments: 'fragment definitions',
  listDepth: 'nested list fields on one path',
  cost: 'cost units (a query run is 100, a search 50)',
  runs: 'query runs in one request',
  upstreamCalls: 'Metabase calls in one request',
  upstreamBytes: 'bytes read from Metabase for one request',
  variableBytes: 'bytes of variables',
  variableDepth: 'levels of nesting in the variables',
  variableValues: 'keys and list items in the variables',
};

/**
 * The largest value each limit may be set to: limits exist to be finite, and the ones that bound a
 * walk's depth stay where no walk can come near the call stack's size.
 */
export const LIMIT_CEILING: Readonly<Record<LimitName, number>> = {
  documentBytes: 2 ** 31 - 1, tokens: 1_000_000, depth: 64, aliases: 10_000_000, rootFields: 10_000_000, directives: 10_000_000,
  fields: 10_000_000, fragments: 1_000, listDepth: 16, cost: Number.MAX_SAFE_INTEGER, runs: 10_000_000, upstreamCalls: 10_000_000,
  upstreamBytes: 2 ** 40, variableBytes: 2 ** 31 - 1, variableDepth: 64, variableValues: 10_000_000,
};
