/**
 * An MCP tool for each vetted operation, derived from the operation and the gateway's schema: its
 * input JSON Schema from the operation's variables (types, enums, required, defaults, and the
 * description of the argument each variable feeds) and its output JSON Schema from the operation's
 * selection. `npm run codegen` writes them to schema/mcp-tools.json, where a reviewer sees what an
 * agent will see; `npm test` fails when that file is stale. Everything walked here is the gateway's
 * own schema and reviewed documents, never a caller's value.
 */
import {
  getNamedType, GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, GraphQLScalarType,
  isEnumType, isInputObjectType, isListType, isNonNullType, isObjectType, isScalarType, Kind, parse, TypeInfo, typeFromAST,
  valueFromASTUntyped, visit, visitWithTypeInfo,
  type GraphQLInputType, type GraphQLOutputType, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode,
} from 'graphql';

export type JsonSchema = Record<string, unknown>;

export interface ToolDefinition {
  /** The tool's name: the vetted operation's name. */
  readonly name: string;
  /** The vetted operation's id (the SHA-256 of its document). */
  readonly operationId: string;
  readonly title: string;
  /** The description written above the operation, for a model to read. */
  readonly description: string;
  readonly inputSchema: JsonSchema;
  readonly outputSchema: JsonSchema;
}

/** Input types nest at most this deep in a tool's arguments. */
const MAX_INPUT_DEPTH = 6;
/** Items a list argument may hold. */
export const MAX_LIST_ITEMS = 100;
/** Characters a string argument may hold. */
export const MAX_STRING_CHARS = 2_000;

const INT = { type: 'integer', minimum: -2_147_483_648, maximum: 2_147_483_647 };

function scalarInput(t: GraphQLScalarType): JsonSchema {
  switch (t.name) {
    case 'Int': return { ...INT };
    case 'Float': return { type: 'number' };
    case 'Boolean': return { type: 'boolean' };
    case 'String': return { type: 'string', maxLength: MAX_STRING_CHARS };
    case 'ID': return { type: ['string', 'integer'], description: 'An id.' };
    case 'JSON': return { description: 'A JSON value.' };
    default: return { type: 'string', maxLength: MAX_STRING_CHARS };
  }
}

const nullable = (schema: JsonSchema): JsonSchema => {
  const type = schema['type'];
  const out = { ...schema };
  if (typeof type === 'string') out['type'] = [type, 'null'];
  else if (Array.isArray(type)) out['type'] = [...type as string[], 'null'];
  if (Array.isArray(schema['enum'])) out['enum'] = [...schema['enum'] as unknown[], null];
  return out; // with no type: any JSON value, null included
};

function inputSchema(type: GraphQLInputType, depth: number): JsonSchema {
  if (depth > MAX_INPUT_DEPTH) throw new Error(`input types nest deeper than ${MAX_INPUT_DEPTH}`);
  const inner = isNonNullType(type) ? type.ofType : type;
  let schema: JsonSchema;
  if (isListType(inner)) {
    schema = { type: 'array', items: inputSchema(inner.ofType as GraphQLInputType, depth + 1), maxItems: MAX_LIST_ITEMS };
  } else if (isEnumType(inner)) {
    schema = enumSchema(inner);
  } else if (isInputObjectType(inner)) {
    schema = inputObjectSchema(inner, depth);
  } else {
    schema = scalarInput(inner as GraphQLScalarType);
  }
  return isNonNullType(type) ? schema : nullable(schema);
}

const enumSchema = (type: GraphQLEnumType): JsonSchema => ({
  type: 'string', enum: type.getValues().map((v) => v.name),
  ...(type.description ? { description: type.description } : {}),
});

function inputObjectSchema(type: GraphQLInputObjectType, depth: number): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const field of Object.values(type.getFields())) {
    const schema = { ...inputSchema(field.type, depth + 1) };
    if (field.description) schema['description'] = field.description;
    properties[field.name] = schema;
    if (isNonNullType(field.type) && field.defaultValue === undefined) required.push(field.name);
  }
  return {
    type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false,
    ...(type.description ? { description: type.description } : {}),
  };
}

/** The description of the argument each variable feeds (the first, when it feeds several). */
function argumentDescriptions(schema: GraphQLSchema, op: OperationDefinitionNode): Map<string, string> {
  const found = new Map<string, string>();
  const info = new TypeInfo(schema);
  visit(op, visitWithTypeInfo(info, {
    Argument(node) {
      const arg = info.getArgument();
      if (node.value.kind === Kind.VARIABLE && arg?.description && !found.has(node.value.name.value)) found.set(node.value.name.value, arg.description);
    },
  }));
  return found;
}

function variablesSchema(schema: GraphQLSchema, op: OperationDefinitionNode): JsonSchema {
  const descriptions = argumentDescriptions(schema, op);
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const v of op.variableDefinitions ?? []) {
    const name = v.variable.name.value;
    const type = typeFromAST(schema, v.type as never) as GraphQLInputType | undefined;
    if (!type) throw new Error(`${op.name?.value}: $${name} has a type the schema does not have`);
    const prop = { ...inputSchema(type, 0) };
    const description = descriptions.get(name);
    if (description) prop['description'] = description;
    if (v.defaultValue) prop['default'] = valueFromASTUntyped(v.defaultValue);
    properties[name] = prop;
    if (isNonNullType(type) && !v.defaultValue) required.push(name);
  }
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

function scalarOutput(t: GraphQLScalarType): JsonSchema {
  switch (t.name) {
    case 'Int': return { type: 'integer' };
    case 'Float': return { type: 'number' };
    case 'Boolean': return { type: 'boolean' };
    case 'JSON': return {};
    default: return { type: 'string' }; // String, ID and the other scalars serialize as strings
  }
}

function outputSchema(type: GraphQLOutputType, selection: SelectionSetNode | undefined, depth: number): JsonSchema {
  if (depth > 20) throw new Error('the selection nests deeper than 20');
  const inner = isNonNullType(type) ? type.ofType : type;
  let schema: JsonSchema;
  if (isListType(inner)) schema = { type: 'array', items: outputSchema(inner.ofType as GraphQLOutputType, selection, depth + 1) };
  else if (isEnumType(inner)) schema = { type: 'string', enum: inner.getValues().map((v) => v.name) };
  else if (isObjectType(inner)) schema = selectionSchema(inner, selection, depth);
  else if (isScalarType(inner)) schema = scalarOutput(inner);
  else throw new Error(`${getNamedType(inner).name}: interfaces and unions are not used in vetted operations`);
  return isNonNullType(type) ? schema : nullable(schema);
}

function selectionSchema(type: GraphQLObjectType, selection: SelectionSetNode | undefined, depth: number): JsonSchema {
  if (!selection) throw new Error(`${type.name}: an object needs a selection`);
  const fields = type.getFields();
  const properties: Record<string, JsonSchema> = {};
  for (const s of selection.selections) {
    if (s.kind !== Kind.FIELD) throw new Error('vetted operations select fields only (no fragments), so that their output schema is exact');
    const key = s.alias?.value ?? s.name.value;
    if (s.name.value === '__typename') {
      properties[key] = { type: 'string' };
      continue;
    }
    const field = fields[s.name.value];
    if (!field) throw new Error(`${type.name} has no field ${s.name.value}`);
    const prop = { ...outputSchema(field.type, s.selectionSet, depth + 1) };
    if (field.description) prop['description'] = field.description;
    properties[key] = prop;
  }
  return { type: 'object', properties, required: Object.keys(properties) };
}

/** What a cut result says, beside the data (see mcp/result.ts). */
export const CUT_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'Present when the result was larger than the role\'s byte budget and lists were cut to fit.',
  properties: {
    note: { type: 'string' },
    budgetBytes: { type: 'integer' },
    lists: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, kept: { type: 'integer' }, of: { type: 'integer' } }, required: ['path', 'kept', 'of'] } },
    runId: { type: 'string', description: 'The run whose rows were cut: read the rest with AgentReadRun, after the page\'s endCursor.' },
  },
  required: ['note', 'budgetBytes', 'lists'],
};

/** Errors of fields that failed while the rest of the result came through. */
export const ERRORS_SCHEMA: JsonSchema = {
  type: 'array',
  items: { type: 'object', properties: { message: { type: 'string' }, code: { type: 'string' }, path: { type: 'string' } }, required: ['message', 'code'] },
};

/** The tool for one vetted operation. */
export function toolFor(schema: GraphQLSchema, operationId: string, document: string, description: string): ToolDefinition {
  const op = parse(document).definitions[0] as OperationDefinitionNode;
  const root = op.operation === 'mutation' ? schema.getMutationType() : schema.getQueryType();
  if (!root || !op.name) throw new Error('a vetted operation is a named query or mutation');
  const data = selectionSchema(root, op.selectionSet, 0);
  return {
    name: op.name.value,
    operationId,
    title: op.name.value.replace(/^Agent/, '').replace(/([a-z])([A-Z])/g, '$1 $2'),
    description,
    inputSchema: variablesSchema(schema, op),
    outputSchema: {
      type: 'object',
      properties: { ...data['properties'] as object, errors: ERRORS_SCHEMA, cut: CUT_SCHEMA },
    },
  };
}

/** The `#` comment lines right above each operation in a vetted file, by operation name. */
export function operationDescriptions(source: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const def of parse(source).definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION || !def.name || !def.loc) continue;
    const before = source.slice(0, def.loc.start).split('\n');
    before.pop(); // the operation's own line, up to its start
    const lines: string[] = [];
    while (before.length && /^\s*#/.test(before.at(-1)!)) lines.unshift(before.pop()!.replace(/^\s*#\s?/, ''));
    if (!lines.length) throw new Error(`${def.name.value}: a vetted operation needs a description (# lines right above it) for the model that reads it`);
    out.set(def.name.value, lines.join(' ').replace(/\s+/g, ' ').trim());
  }
  return out;
}
