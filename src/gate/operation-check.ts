/**
 * The part of the operation gate that runs after validation and before any resolver: the shape of
 * the operation (depth, aliases, root fields, directives, fields, nested lists), introspection per
 * role, and the static cost (graphql-query-complexity, with the weights the schema's fields carry).
 *
 * The shape is measured once per fragment and reused at every spread, so a document of fragments
 * spreading each other many times is measured in time proportional to its size, while the figures
 * count every spread in full, as execution would. Validation has already refused fragment cycles;
 * the recursion follows the document's nesting and its chains of fragments, both of which the
 * request check has bounded (`depth`, `fragments`).
 */
import {
  getNamedType, getNullableType, getVariableValues, isListType, isCompositeType, isObjectType, Kind, SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef,
  type DocumentNode, type FragmentDefinitionNode, type GraphQLCompositeType, type GraphQLField, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode,
} from 'graphql';
import { getComplexity } from 'graphql-query-complexity';
import type { LimitName, OperationLimits } from '../config/limits.js';
import { withoutVariableValues } from '../errors/format-error.js';
import { BadUserInputError, ForbiddenError } from '../errors/index.js';
import { gatewayEstimator } from './cost.js';
import { overLimit } from './refusal.js';

/** The figures of one selection set (or fragment), relative to where it is used. */
interface Shape {
  /** Deepest field below, counting this level as 1. */
  readonly depth: number;
  readonly aliases: number;
  readonly directives: number;
  readonly fields: number;
  /** Most list fields on one path below. */
  readonly listDepth: number;
  /** Whether `__schema` or `__type` is selected here. */
  readonly introspection: boolean;
}

export interface OperationFigures extends Omit<Shape, 'introspection'> {
  readonly rootFields: number;
  readonly introspection: boolean;
  readonly cost: number;
}

const EMPTY: Shape = { depth: 0, aliases: 0, directives: 0, fields: 0, listDepth: 0, introspection: false };

export interface OperationCheck {
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
  readonly variables: Readonly<Record<string, unknown>> | undefined;
  readonly limits: OperationLimits;
  readonly canIntrospect: boolean;
}

/** Measures the operation and refuses it at the first limit it exceeds; returns the figures when it passes. */
export function checkOperation(check: OperationCheck): OperationFigures {
  const { schema, document, operation, limits } = check;
  const root = operation.operation === 'mutation' ? schema.getMutationType() : operation.operation === 'subscription' ? schema.getSubscriptionType() : schema.getQueryType();
  if (!root) {
    // graphql-js validates a subscription against a schema that has none; execution would fail as a server fault.
    throw new BadUserInputError(`This gateway serves queries and mutations, not ${operation.operation}s.`, { details: { reason: 'operation-type', http: { status: 400 } } });
  }
  const measure = new Measure(schema, document);
  const shape = measure.selectionSet(operation.selectionSet, root);
  const rootFields = measure.rootFields(operation.selectionSet, root);
  const directives = shape.directives + (operation.directives?.length ?? 0);
  if (shape.introspection && !check.canIntrospect) {
    throw new ForbiddenError('Your role may not use introspection (`__schema`, `__type`); the schema is published as schema/schema.graphql.', {
      details: { reason: 'introspection', http: { status: 403 } },
    });
  }
  const figures: [LimitName, number][] = [
    ['depth', shape.depth], ['fields', shape.fields], ['aliases', shape.aliases], ['rootFields', rootFields],
    ['directives', directives], ['listDepth', shape.listDepth],
  ];
  for (const [limit, measured] of figures) {
    if (measured > limits[limit]) throw overLimit(limit, limits[limit], measured);
  }
  const cost = costOf(check);
  if (cost !== null && cost > limits.cost) throw overLimit('cost', limits.cost, cost);
  return { ...shape, directives, rootFields, cost: cost ?? 0 };
}

/**
 * The static cost, or null when the variables do not fit their types: execution then refuses the
 * whole request while coercing them, before any resolver, with an error that names the variable.
 * Any other failure to measure (an argument that cannot take its value) refuses the request: a cost
 * that cannot be measured is not a cost that fits.
 */
function costOf({ schema, document, operation, variables, limits }: OperationCheck): number | null {
  if ((getVariableValues(schema, operation.variableDefinitions ?? [], (variables ?? {}) as Record<string, unknown>, { maxErrors: 1 }).errors?.length ?? 0) > 0) return null;
  try {
    return getComplexity({
      schema, query: document, ...(variables ? { variables: variables as Record<string, unknown> } : {}),
      ...(operation.name ? { operationName: operation.name.value } : {}),
      estimators: [gatewayEstimator],
      // Already bounded by `fields`; a second bound in case the library counts a fragment differently.
      maxQueryNodes: limits.fields * 2 + 100,
    });
  } catch (err) {
    if (err instanceof Error && /maximum allowed number of nodes/.test(err.message)) throw overLimit('fields', limits.fields, limits.fields * 2 + 100, true);
    const why = err instanceof Error ? withoutVariableValues(err.message).slice(0, 200) : 'an argument does not fit its type';
    throw new BadUserInputError(`The operation cannot be measured against your role's limits: ${why}`, { details: { reason: 'unmeasurable', http: { status: 400 } } });
  }
}

/** Introspection's fields, which no type lists: measured like any other, so `__schema` cannot hide a fan-out. */
function metaField(name: string, parent: GraphQLCompositeType): GraphQLField<unknown, unknown> | undefined {
  if (name === '__typename') return TypeNameMetaFieldDef;
  if (isObjectType(parent) && (name === '__schema' || name === '__type')) return name === '__schema' ? SchemaMetaFieldDef : TypeMetaFieldDef;
  return undefined;
}

class Measure {
  readonly #fragments = new Map<string, FragmentDefinitionNode>();
  readonly #measured = new Map<string, Shape>();
  readonly #rootCounts = new Map<string, number>();
  readonly #measuring = new Set<string>();

  constructor(private readonly schema: GraphQLSchema, document: DocumentNode) {
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) this.#fragments.set(d.name.value, d);
  }

  selectionSet(set: SelectionSetNode, parent: GraphQLCompositeType): Shape {
    let depth = 0;
    let aliases = 0;
    let directives = 0;
    let fields = 0;
    let listDepth = 0;
    let introspection = false;
    const add = (s: Shape, ownDepth: number, ownList: number): void => {
      depth = Math.max(depth, s.depth + ownDepth);
      listDepth = Math.max(listDepth, s.listDepth + ownList);
      aliases += s.aliases;
      directives += s.directives;
      fields += s.fields;
      introspection ||= s.introspection;
    };
    for (const selection of set.selections) {
      directives += selection.directives?.length ?? 0;
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        fields += 1;
        if (selection.alias) aliases += 1;
        if (name === '__schema' || name === '__type') introspection = true;
        const definition = metaField(name, parent) ?? ('getFields' in parent ? parent.getFields()[name] : undefined);
        const type = definition?.type;
        const named = type ? getNamedType(type) : undefined;
        const isList = type ? isListType(getNullableType(type)) : false;
        const child = selection.selectionSet && named && isCompositeType(named) ? this.selectionSet(selection.selectionSet, named) : EMPTY;
        add(child, 1, isList ? 1 : 0);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition ? this.schema.getType(selection.typeCondition.name.value) : parent;
        add(on && isCompositeType(on) ? this.selectionSet(selection.selectionSet, on) : EMPTY, 0, 0);
      } else {
        add(this.fragment(selection.name.value), 0, 0);
      }
    }
    return { depth, aliases, directives, fields, listDepth, introspection };
  }

  /** Fields at the root: each field, and each field of the fragments spread there. */
  rootFields(set: SelectionSetNode, parent: GraphQLCompositeType): number {
    let count = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) count += 1;
      else if (selection.kind === Kind.INLINE_FRAGMENT) count += this.rootFields(selection.selectionSet, parent);
      else count += this.fragmentRootFields(selection.name.value, parent);
    }
    return count;
  }

  fragmentRootFields(name: string, parent: GraphQLCompositeType): number {
    const known = this.#rootCounts.get(name);
    if (known !== undefined) return known;
    const fragment = this.#fragments.get(name);
    if (!fragment || this.#measuring.has(name)) return 0;
    this.#measuring.add(name);
    const count = this.rootFields(fragment.selectionSet, parent);
    this.#measuring.delete(name);
    this.#rootCounts.set(name, count);
    return count;
  }

  fragment(name: string): Shape {
    const known = this.#measured.get(name);
    if (known) return known;
    const fragment = this.#fragments.get(name);
    // Unknown fragments and cycles are validation errors, reported before the gate runs.
    if (!fragment || this.#measuring.has(name)) return EMPTY;
    const on = this.schema.getType(fragment.typeCondition.name.value);
    if (!on || !isCompositeType(on)) return EMPTY;
    this.#measuring.add(name);
    const shape = this.selectionSet(fragment.selectionSet, on);
    const withOwn = { ...shape, directives: shape.directives + (fragment.directives?.length ?? 0) };
    this.#measuring.delete(name);
    this.#measured.set(name, withOwn);
    return withOwn;
  }
}
