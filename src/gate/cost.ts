/**
 * The static cost of an operation, for graphql-query-complexity: what each field weighs, multiplied
 * through lists. Fields declare their own weight with type-graphql's `complexity` option (a query
 * run weighs RUN_COST, a search SEARCH_COST); otherwise an object field weighs 1 and a scalar 0.
 * A field with a `first` argument multiplies what is below it by `first` (20 when not given), and so
 * does a list field without one, by LIST_SIZE_GUESS. Introspection is answered from memory: 0.
 */
import { getNamedType, getNullableType, isLeafType, isListType } from 'graphql';
import type { ComplexityEstimator } from 'graphql-query-complexity';

export const RUN_COST = 100;
export const SEARCH_COST = 50;
/** How many items a list without `first` is assumed to hold (a dashboard's cards, a collection's children). */
export const LIST_SIZE_GUESS = 20;
/** `first` when not given, as the connections default. */
const FIRST_DEFAULT = 20;

/** For fields whose list size is given by their parent (a connection's `nodes` and `edges`): no second multiplication. */
export const passThrough: ComplexityEstimator = ({ childComplexity }) => childComplexity;

export const gatewayEstimator: ComplexityEstimator = (options) => {
  const { field, args, childComplexity, type } = options;
  if (field.name.startsWith('__') || type.name.startsWith('__')) return 0;
  const declared = field.extensions?.['complexity'];
  if (typeof declared === 'function') return (declared as ComplexityEstimator)(options);
  const own = typeof declared === 'number' ? declared : isLeafType(getNamedType(field.type)) ? 0 : 1;
  const first = args['first'];
  const size = 'first' in args || field.args.some((a) => a.name === 'first')
    ? (typeof first === 'number' && Number.isFinite(first) ? Math.max(0, first) : FIRST_DEFAULT)
    : isListType(getNullableType(field.type)) ? LIST_SIZE_GUESS : 1;
  return own + size * childComplexity;
};
