/**
 * `npm run bench -- gate`: what the operation gate costs per request, beside what it guards. For a
 * few documents, the gate's two checks (before parsing: bytes, tokens, nesting, variables; after
 * validation: shape and cost) are timed against graphql-js parsing and validating the same document,
 * which Apollo does once per distinct document (its document store caches the result), while the
 * gate runs on every request: the first time a document is seen, and again (its measurement kept).
 * The sides alternate in ABBA rounds in one process; CPU only, no I/O.
 *
 * Settings: BENCH_SECONDS (per round, default 2), BENCH_ROUNDS (per side, default 4).
 */
import 'reflect-metadata';
import { getIntrospectionQuery, getOperationAST, parse, specifiedRules, validate, type GraphQLSchema } from 'graphql';
import { DEFAULT_LIMITS } from '../../src/config/limits.js';
import { checkOperation, OperationMeasures } from '../../src/gate/operation-check.js';
import { checkDocument, checkVariables } from '../../src/gate/request-check.js';
import { buildGatewaySchema } from '../../src/graph/schema.js';

const seconds = Number(process.env['BENCH_SECONDS'] ?? 2);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 4);

const DOCUMENTS: Record<string, { query: string; variables?: Record<string, unknown> }> = {
  'the README dashboard query': { query: '{ viewer { role availableRoles } dashboard(id: 1) { name cards { question { name } run { rowCount rows } } } }' },
  'a question run with variables': {
    query: 'query Run($id: ID!, $p: [ParameterValueInput!]) { question(id: $id) { name parameters { slug type } run(parameters: $p, maxRows: 10) { status rowCount rows } } }',
    variables: { id: '2', p: [{ slug: 'category', value: ['Widget', 'Gizmo'] }] },
  },
  'a connection with fragments': {
    query: `query Q { questions(first: 50) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ...Q } } } }
      fragment Q on Question { id name description kind queryLanguage collection { id name } database { id name } creator { name email } parameters { slug type required } }`,
  },
  'GraphiQL\'s introspection query': { query: getIntrospectionQuery() },
};

/** Operations per second of `fn`, run for about `ms` milliseconds. */
function rate(fn: () => void, ms: number): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    now = performance.now();
  }
  return n / ((now - start) / 1000);
}

function sides(schema: GraphQLSchema, query: string, variables: Record<string, unknown> | undefined) {
  const document = parse(query);
  const operation = getOperationAST(document)!;
  // As on a server: Apollo hands the gate the same parsed document each time, and the gate keeps what it measured of it.
  const measures = new OperationMeasures();
  return {
    'parse + validate (graphql-js)': () => {
      validate(schema, parse(query), specifiedRules);
    },
    'operation gate (both checks)': () => {
      checkDocument(query, DEFAULT_LIMITS);
      checkVariables(variables, DEFAULT_LIMITS);
      checkOperation({ schema, document, operation, variables, limits: DEFAULT_LIMITS, canIntrospect: true });
    },
    'operation gate, document seen before': () => {
      checkDocument(query, DEFAULT_LIMITS);
      checkVariables(variables, DEFAULT_LIMITS);
      checkOperation({ schema, document, operation, variables, limits: DEFAULT_LIMITS, canIntrospect: true }, measures);
    },
  };
}

export async function runGateBench(): Promise<void> {
  const schema = await buildGatewaySchema();
  console.log('scenario gate: the operation gate\'s CPU per request, against graphql-js parsing and validating the same document');
  console.log(`${rounds} rounds of ${seconds} s per side in ABBA order, after a warm-up, in one process\n`);
  console.log(['document', 'gate µs/op (first time)', 'gate µs/op (seen before)', 'parse+validate µs/op', 'gate first / parse+validate'].join(' | '));
  for (const [name, { query, variables }] of Object.entries(DOCUMENTS)) {
    const fns = sides(schema, query, variables);
    const names = Object.keys(fns) as (keyof typeof fns)[];
    for (const n of names) rate(fns[n], 300);
    const rates = new Map<string, number[]>(names.map((n) => [n, []]));
    for (let round = 0; round < rounds; round++) {
      for (const n of round % 2 === 0 ? names : [...names].reverse()) rates.get(n)!.push(rate(fns[n], seconds * 1000));
    }
    const usPerOp = (n: string): number => 1e6 / (rates.get(n)!.reduce((a, b) => a + b, 0) / rounds);
    const gate = usPerOp('operation gate (both checks)');
    const seen = usPerOp('operation gate, document seen before');
    const parsed = usPerOp('parse + validate (graphql-js)');
    console.log([name, gate.toFixed(1), seen.toFixed(1), parsed.toFixed(1), `${(gate / parsed).toFixed(2)}x`].join(' | '));
  }
}
