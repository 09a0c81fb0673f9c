/**
 * The operation gate's measurements, directly: one pass without recursion before parsing (a
 * 100,000-deep value or document is refused, not walked into a stack overflow), and after parsing,
 * fragments measured once and counted at every spread (a fragment bomb is refused in time
 * proportional to its size, with the figure it would have had).
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getIntrospectionQuery, getOperationAST, parse } from 'graphql';
import { DEFAULT_LIMITS } from '../../../src/config/limits.js';
import { QueryTooComplexError } from '../../../src/errors/index.js';
import { checkOperation, OperationMeasures } from '../../../src/gate/operation-check.js';
import { checkDocument, checkVariables } from '../../../src/gate/request-check.js';
import { buildGatewaySchema } from '../../../src/graph/schema.js';

const refusedFor = (limit: string) => (err: unknown) => {
  assert.ok(err instanceof QueryTooComplexError, String(err));
  assert.equal(err.extensions['limit'], limit, err.message);
  assert.equal((err.extensions['http'] as { status: number }).status, 400);
  return true;
};

test('variables 100,000 deep, or with 100,000 values, are refused without being walked', () => {
  let deep: unknown = 'x';
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  assert.throws(() => checkVariables({ v: deep }, DEFAULT_LIMITS), refusedFor('variableDepth'));
  assert.throws(() => checkVariables({ v: Array.from({ length: 100_000 }, () => 1) }, DEFAULT_LIMITS), refusedFor('variableValues'));
  assert.throws(() => checkVariables({ v: 'x'.repeat(70_000) }, DEFAULT_LIMITS), refusedFor('variableBytes'));
  assert.doesNotThrow(() => checkVariables({ id: '2', p: [{ slug: 'category', value: ['Widget', 'Gizmo'] }] }, DEFAULT_LIMITS));
});

test('a document nested 100,000 deep is refused before the parser sees it; input values nested deep too', () => {
  assert.throws(() => checkDocument(`${'{ a '.repeat(100_000)}${'}'.repeat(100_000)}`, { ...DEFAULT_LIMITS, tokens: 1_000_000, documentBytes: 10_000_000 }), refusedFor('depth'));
  assert.throws(() => checkDocument(`{ q(v: ${'['.repeat(1_000)}1${']'.repeat(1_000)}) }`, DEFAULT_LIMITS), refusedFor('variableDepth'));
  assert.throws(() => checkDocument(`{ ${'a '.repeat(5_000)}}`, DEFAULT_LIMITS), refusedFor('tokens'));
  assert.doesNotThrow(() => checkDocument('{ viewer { role } unclosed', DEFAULT_LIMITS), 'syntax errors are the parser\'s to report');
});

test('a fragment bomb is measured in proportion to its size and refused with the figure it would have had', async () => {
  const schema = await buildGatewaySchema();
  // F0 spreads F1 twice, F1 spreads F2 twice, … : 2^40 `role` fields, in a document of 40 lines.
  const levels = 40;
  const fragments = Array.from({ length: levels }, (_, i) => `fragment F${i} on Viewer { ...F${i + 1} ...F${i + 1} }`).join('\n');
  const document = parse(`{ viewer { ...F0 } }\n${fragments}\nfragment F${levels} on Viewer { role }`);
  const started = performance.now();
  assert.throws(() => checkOperation({ schema, document, operation: getOperationAST(document)!, variables: undefined, limits: DEFAULT_LIMITS, canIntrospect: true }), (err: unknown) => {
    assert.ok(refusedFor('fields')(err));
    assert.equal((err as QueryTooComplexError).extensions['measured'], 2 ** levels + 1);
    return true;
  });
  assert.ok(performance.now() - started < 1_000, 'measured without expanding the spreads');
});

test('the static cost: a run weighs 100, multiplied through lists and `first`', async () => {
  const schema = await buildGatewaySchema();
  const cost = (query: string) => {
    const document = parse(query);
    return checkOperation({ schema, document, operation: getOperationAST(document)!, variables: undefined, limits: { ...DEFAULT_LIMITS, cost: 1e9 }, canIntrospect: true }).cost;
  };
  assert.equal(cost('{ viewer { role } }'), 1);
  assert.equal(cost('{ question(id: 2) { name run { rowCount } } }'), 101);
  // An object field weighs 1 where it is selected; a list without `first` is taken as 20 items.
  assert.equal(cost('{ dashboard(id: 1) { name cards { run { rowCount } } } }'), 1 + (1 + 20 * 100));
  assert.equal(cost('{ questions(first: 5) { nodes { run { rowCount } } } }'), 1 + 5 * 100);
  assert.equal(cost('{ search(text: "a", first: 10) { id } }'), 50);
});

test('introspection is measured like any other selection: `__schema` cannot hide a fan-out', async () => {
  const schema = await buildGatewaySchema();
  const measure = (query: string, limits = DEFAULT_LIMITS) => {
    const document = parse(query);
    return checkOperation({ schema, document, operation: getOperationAST(document)!, variables: undefined, limits, canIntrospect: true });
  };
  const graphiql = measure(getIntrospectionQuery());
  assert.deepEqual([graphiql.depth, graphiql.listDepth, graphiql.cost], [15, 3, 0], 'the introspection query GraphiQL sends fits the defaults; it is answered from memory, so it costs nothing');
  assert.ok(graphiql.fields > 200);
  const fanOut = '{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }';
  assert.throws(() => measure(fanOut), refusedFor('listDepth'));
});

test('a document sent again is measured once; every caller\'s own limits still apply to the kept figures', async () => {
  const schema = await buildGatewaySchema();
  const measures = new OperationMeasures(2);
  const document = parse('query Q($first: Int) { questions(first: $first) { nodes { run { rowCount } } } }');
  const operation = getOperationAST(document)!;
  const check = (variables: Record<string, unknown>, limits = DEFAULT_LIMITS, canIntrospect = true) =>
    checkOperation({ schema, document, operation, variables, limits, canIntrospect }, measures);
  const root = schema.getQueryType()!;
  const five = { first: 5 };
  assert.equal(check(five).cost, 1 + 5 * 100);
  const kept = measures.get({ schema, document, operation, variables: five }, root);
  assert.equal(measures.get({ schema, document, operation, variables: { first: 5 } }, root), kept, 'the same document and variables: the kept measurement');
  assert.deepEqual(kept.cost, { kind: 'cost', cost: 501 }, 'the cost is kept with it');
  // A caller with tighter limits is refused by the same kept figures.
  assert.throws(() => check(five, { ...DEFAULT_LIMITS, cost: 100 }), refusedFor('cost'));
  assert.throws(() => check(five, { ...DEFAULT_LIMITS, depth: 2 }), refusedFor('depth'));
  // Other variables are measured on their own.
  assert.equal(check({ first: 40 }).cost, 1 + 40 * 100);
  assert.equal(check({ first: 'five' }).cost, 0, 'variables that do not fit their types: execution refuses them, naming the variable');
  // Two sets of variables per document here: the oldest was let go.
  assert.notEqual(measures.get({ schema, document, operation, variables: five }, root), kept);
});
