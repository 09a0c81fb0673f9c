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

/** What the gate measures of one operation with its variables: the same for every caller, so it is kept (see OperationMeasures). */
interface Measured {
  readonly shape: Shape;
  readonly rootFields: number;
  readonly directives: number;
  /** Computed the first time the shape passes a caller's limits. */
  cost?: CostResult;
}

type CostResult =
  /** null: the variables do not fit their types (execution refuses them, naming the variable). */
  | { readonly kind: 'cost'; readonly cost: number | null }
  /** The cost library counted more nodes than its bound. */
  | { readonly kind: 'nodes'; readonly bound: number }
  | { readonly kind: 'unmeasurable'; readonly why: string };

/**
 * Measurements by document and by operation name and variables. Apollo keeps one parsed and
 * validated DocumentNode per distinct document, so a document sent again is measured once; a
 * caller's limits are applied to the kept figures on every request. Bounded: entries die with their
 * document (a WeakMap over Apollo's bounded document cache), at most `perDocument` sets of variables
 * per document, and variables longer than `maxKeyChars` are measured every time.
 */
export class OperationMeasures {
  readonly #byDocument = new WeakMap<DocumentNode, Map<string, Measured>>();

  constructor(private readonly perDocument = 32, private readonly maxKeyChars = 2_048) {}

  get(check: Omit<OperationCheck, 'limits' | 'canIntrospect'>, root: GraphQLCompositeType): Measured {
    const key = `${check.operation.name?.value ?? ''}\u0000${JSON.stringify(check.variables ?? {})}`;
    if (key.length > this.maxKeyChars) return measure(check, root);
    let kept = this.#byDocument.get(check.document);
    if (!kept) this.#byDocument.set(check.document, (kept = new Map()));
    let measured = kept.get(key);
    if (!measured) {
      measured = measure(check, root);
      if (kept.size >= this.perDocument) kept.delete(kept.keys().next().value!);
      kept.set(key, measured);
    }
    return measured;
  }
}

function measure({ schema, document, operation }: Pick<OperationCheck, 'schema' | 'document' | 'operation'>, root: GraphQLCompositeType): Measured {
  const m = new Measure(schema, document);
  const shape = m.selectionSet(operation.selectionSet, root);
  return { shape, rootFields: m.rootFields(operation.selectionSet, root), directives: shape.directives + (operation.directives?.length ?? 0) };
}

/**
 * Measures the operation (or takes its kept measurement from `measures`) and refuses it at the first
 * limit it exceeds; returns the figures when it passes.
 */
export function checkOperation(check: OperationCheck, measures?: OperationMeasures): OperationFigures {
  const { schema, operation, limits } = check;
  const root = operation.operation === 'mutation' ? schema.getMutationType() : operation.operation === 'subscription' ? schema.getSubscriptionType() : schema.getQueryType();
  if (!root) {
    // graphql-js validates a subscription against a schema that has none; execution would fail as a server fault.
    throw new BadUserInputError(`This gateway serves queries and mutations, not ${operation.operation}s.`, { details: { reason: 'operation-type', http: { status: 400 } } });
  }
  const measured = measures ? measures.get(check, root) : measure(check, root);
  const { shape, rootFields, directives } = measured;
  if (shape.introspection && !check.canIntrospect) {
    throw new ForbiddenError('Your role may not use introspection (`__schema`, `__type`); the schema is published as schema/schema.graphql.', {
      details: { reason: 'introspection', http: { status: 403 } },
    });
  }
  const figures: [LimitName, number][] = [
    ['depth', shape.depth], ['fields', shape.fields], ['aliases', shape.aliases], ['rootFields', rootFields],
    ['directives', directives], ['listDepth', shape.listDepth],
  ];
  for (const [limit, value] of figures) {
    if (value > limits[limit]) throw overLimit(limit, limits[limit], value);
  }
  // Only once the shape fits: the cost library walks the whole operation.
  const result = (measured.cost ??= costOf(check, shape.fields * 2 + 100));
  if (result.kind === 'nodes') throw overLimit('fields', limits.fields, result.bound, true);
  if (result.kind === 'unmeasurable') {
    throw new BadUserInputError(`The operation cannot be measured against your role's limits: ${result.why}`, { details: { reason: 'unmeasurable', http: { status: 400 } } });
  }
  if (result.cost !== null && result.cost > limits.cost) throw overLimit('cost', limits.cost, result.cost);
  return { ...shape, directives, rootFields, cost: result.cost ?? 0 };
}

/**
 * The static cost, or null when the variables do not fit their types: execution then refuses the
 * whole request while coercing them, before any resolver, with an error that names the variable.
 * Any other failure to measure (an argument that cannot take its value) refuses the request: a cost
 * that cannot be measured is not a cost that fits.
 */
function costOf({ schema, document, operation, variables }: Pick<OperationCheck, 'schema' | 'document' | 'operation' | 'variables'>, maxQueryNodes: number): CostResult {
  if ((getVariableValues(schema, operation.variableDefinitions ?? [], (variables ?? {}) as Record<string, unknown>, { maxErrors: 1 }).errors?.length ?? 0) > 0) return { kind: 'cost', cost: null };
  try {
    return {
      kind: 'cost',
      cost: getComplexity({
        schema, query: document, ...(variables ? { variables: variables as Record<string, unknown> } : {}),
        ...(operation.name ? { operationName: operation.name.value } : {}),
        estimators: [gatewayEstimator],
        // Already bounded by `fields`; a second bound in case the library counts a fragment differently.
        maxQueryNodes,
      }),
    };
  } catch (err) {
    if (err instanceof Error && /maximum allowed number of nodes/.test(err.message)) return { kind: 'nodes', bound: maxQueryNodes };
    return { kind: 'unmeasurable', why: err instanceof Error ? withoutVariableValues(err.message).slice(0, 200) : 'an argument does not fit its type' };
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
