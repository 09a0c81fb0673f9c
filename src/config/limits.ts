/**
 * What one GraphQL request may ask for. The defaults suit people and tools; the policy file may
 * change any of them for every role (`limits:` at the top) or for one role (`limits:` on the role).
 * Each is checked before any resolver runs, except `runs` and `upstreamCalls`, which are counted
 * while the request executes. A request over a limit is refused with QUERY_TOO_COMPLEX naming the
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
  listDepth: 4,
  cost: 5_000,
  runs: 50,
  upstreamCalls: 200,
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
  listDepth: 'nested list fields on one path',
  cost: 'cost units (a query run is 100, a search 50)',
  runs: 'query runs in one request',
  upstreamCalls: 'Metabase calls in one request',
  variableBytes: 'bytes of variables',
  variableDepth: 'levels of nesting in the variables',
  variableValues: 'keys and list items in the variables',
};

/** Largest value any limit may be set to: limits exist to be finite. */
export const LIMIT_CEILING = 10_000_000;
