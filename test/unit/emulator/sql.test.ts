/**
 * The emulator's SQL layer: dataset_query shapes, field filters, §5.2 parameter types, native template tags and
 * structured-query compilation. Results are checked by running the SQL on real SQLite databases: a small
 * hand-made fixture (exact rows, NULLs, tricky strings) and the generated Sample Database.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { QueryError, type QueryErrorType } from '../../../src/emulator/query-error.js';
import { SAMPLE_TABLES, SQLITE_TYPES, fieldById, fieldByName, tableByName } from '../../../src/emulator/sample-schema.js';
import { createSampleDatabase } from '../../../src/emulator/sample-data.js';
import { CARDS } from '../../../src/emulator/content.js';
import {
  normalizeDatasetQuery, toLegacy, toMbql5, type NormalizedQuery, type StructuredQuery, type TemplateTag,
} from '../../../src/emulator/sql/dataset-query.js';
import { fieldFilterClause, type SqlFragment } from '../../../src/emulator/sql/field-filter.js';
import { allowedTypesFor, isParameterTypeAllowed } from '../../../src/emulator/sql/parameter-types.js';
import { expandNativeQuery } from '../../../src/emulator/sql/native.js';
import { compileStructuredQuery } from '../../../src/emulator/sql/mbql.js';

// --- Fixtures --------------------------------------------------------------------------------------------------------

const F = (table: string, column: string): number => fieldByName(table, column).id;
const T = (table: string): number => tableByName(table)!.id;
const ref = (table: string, column: string): unknown[] => ['field', F(table, column), null];
const ref5 = (table: string, column: string, opts: Record<string, unknown> = {}): unknown[] =>
  ['field', { 'lib/uuid': `u-${table}-${column}`, 'base-type': fieldByName(table, column).baseType, ...opts }, F(table, column)];

const INJECTION = "Widget' OR '1'='1";

/** A tiny database with the Sample Database's tables and hand-picked rows, so every expected result is known. */
function fixtureDb(): Database.Database {
  const db = new Database(':memory:');
  for (const t of SAMPLE_TABLES) {
    db.exec(`CREATE TABLE "${t.name}" (${t.columns.map((c) => `"${c.name}" ${c.name === 'ID' ? 'INTEGER PRIMARY KEY' : SQLITE_TYPES[c.baseType]}`).join(', ')})`);
  }
  const insert = (table: string, rows: unknown[][]): void => {
    const cols = tableByName(table)!.columns.map((c) => `"${c.name}"`);
    const stmt = db.prepare(`INSERT INTO "${table}" (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    for (const r of rows) stmt.run(...r);
  };
  // ID, EAN, TITLE, CATEGORY, VENDOR, PRICE, RATING, CREATED_AT
  insert('PRODUCTS', [
    [1, 'e1', 'Rustic Paper Wallet', 'Gizmo', 'Acme', 29.5, 4.0, '2024-01-15T10:00:00.000Z'],
    [2, 'e2', 'Sleek Steel Lamp', 'Widget', 'Acme', 80, 3.5, '2024-02-29T23:59:59.999Z'],
    [3, 'e3', 'Heavy-Duty Hat', 'Widget', 'Bolt', 120.25, 4.5, '2024-03-01T00:00:00.000Z'],
    [4, 'e4', 'small widget*', 'Doohickey', 'Bolt', 5, 2.0, '2024-06-30T12:30:00.000Z'],
    [5, 'e5', 'Mystery Box', null, null, null, null, null],
    [6, 'e6', INJECTION, 'Gadget', 'Crate', 60, 5.0, '2025-01-01T00:00:00.000Z'],
  ]);
  // ID, USER_ID, PRODUCT_ID, SUBTOTAL, TAX, TOTAL, DISCOUNT, CREATED_AT, QUANTITY
  insert('ORDERS', [
    [1, 1, 1, 29.5, 1.5, 31, null, '2024-01-15T08:00:00.000Z', 1],
    [2, 1, 2, 80, 4, 84, 5, '2024-01-20T12:00:00.000Z', 2],
    [3, 2, 2, 80, 4, 84, null, '2024-02-10T00:00:00.000Z', 1],
    [4, 2, 3, 120.25, 6, 126.25, 10, '2024-04-01T09:30:00.000Z', 3],
    [5, 3, 4, 5, 0.25, 5.25, null, '2024-12-31T23:59:59.000Z', 10],
    [6, 3, 1, 29.5, 1.5, 31, null, '2025-03-15T15:45:00.000Z', 1],
  ]);
  // ID, ADDRESS, EMAIL, PASSWORD, NAME, CITY, LONGITUDE, STATE, SOURCE, BIRTH_DATE, ZIP, LATITUDE, CREATED_AT
  insert('PEOPLE', [
    [1, '1 Oak St', 'a@example.com', 'x', 'Ada Lovelace', 'Austin', -97.7, 'TX', 'Google', '1990-05-15', '78701', 30.3, '2023-01-01T00:00:00.000Z'],
    [2, '2 Elm St', 'b@example.com', 'x', 'Bob Babbage', 'Boise', -116.2, 'ID', 'Organic', '1985-12-01', '83702', 43.6, '2023-06-01T00:00:00.000Z'],
    [3, '3 Ash St', 'c@example.com', 'x', "Cy O'Keefe", 'Houston', -95.4, 'TX', null, '2001-02-28', '77002', 29.8, '2024-01-01T00:00:00.000Z'],
  ]);
  // ID, EMAIL, FIRST_NAME, LAST_NAME, PLAN, SOURCE, SEATS, CREATED_AT, TRIAL_ENDS_AT, CANCELED_AT, TRIAL_CONVERTED,
  // ACTIVE_SUBSCRIPTION, LEGACY_PLAN, LATITUDE, LONGITUDE, COUNTRY
  insert('ACCOUNTS', [
    [1, 'a@x.test', 'A', 'A', 'Basic', 'Google', 1, '2024-01-01T00:00:00.000Z', null, null, 1, 1, 0, 0, 0, 'US'],
    [2, 'b@x.test', 'B', 'B', 'Premium', 'Organic', 5, '2024-02-01T00:00:00.000Z', null, null, 0, 0, 0, 0, 0, 'DE'],
    [3, 'c@x.test', 'C', 'C', 'Premium', null, 9, '2024-03-01T00:00:00.000Z', null, null, 1, 1, 1, 0, 0, 'US'],
  ]);
  db.pragma('query_only = ON');
  return db;
}

const db = fixtureDb();
const sample = createSampleDatabase();

const all = (d: Database.Database, sql: string, params: readonly unknown[] = []): unknown[][] =>
  d.prepare(sql).raw(true).all(...params) as unknown[][];

/** The ids of `table` rows matching a condition. */
function ids(table: string, frag: SqlFragment | null, d: Database.Database = db): number[] {
  assert.ok(frag, 'expected a condition, got null');
  return all(d, `SELECT "ID" FROM "${table}" WHERE ${frag.sql} ORDER BY "ID"`, frag.params).map((r) => r[0] as number);
}

const col = (table: string, column: string): string => `"${table}"."${column}"`;

function throwsQuery(fn: () => unknown, errorType: QueryErrorType, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof QueryError, `expected a QueryError, got ${String(e)}`);
    assert.equal(e.errorType, errorType, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const resolveField = (id: number): string => {
  const f = fieldById(id);
  assert.ok(f, `no field ${id}`);
  return `"${f.tableName}"."${f.name}"`;
};

// --- dataset-query.ts ------------------------------------------------------------------------------------------------

const categoryTag = {
  id: '7d3c9f10-5b2a-4e61-9f0c-2a4b6c8d0e12', name: 'category', 'display-name': 'Category', type: 'text',
  required: true, default: 'Gizmo',
};

test('legacy native and MBQL 5 native normalize to the same query', () => {
  const sql = 'SELECT TITLE FROM PRODUCTS WHERE CATEGORY = {{category}} AND {{state}}';
  const legacy = normalizeDatasetQuery({
    type: 'native', database: 1,
    native: { query: sql, 'template-tags': {
      category: categoryTag,
      state: { id: 's1', name: 'state', 'display-name': 'State', type: 'dimension', dimension: ref('PEOPLE', 'STATE'), 'widget-type': 'string/=', 'extra-key': 1 },
    } },
    parameters: [], 'unknown-top-level-key': true,
  });
  const expected: NormalizedQuery = {
    kind: 'native', database: 1, sql,
    templateTags: {
      category: { ...categoryTag },
      state: { id: 's1', name: 'state', 'display-name': 'State', type: 'dimension', dimension: ['field', F('PEOPLE', 'STATE'), null], 'widget-type': 'string/=' },
    },
  };
  // Tags live in a null-prototype map (a tag may be named `constructor`); compare their contents.
  const plain = (q: NormalizedQuery): unknown => (q.kind === 'native' ? { ...q, templateTags: { ...q.templateTags } } : q);
  assert.equal(Object.getPrototypeOf(legacy.kind === 'native' ? legacy.templateTags : {}), null);
  assert.deepEqual(plain(legacy), expected);
  const mbql5 = normalizeDatasetQuery({
    'lib/type': 'mbql/query', database: 1,
    stages: [{ 'lib/type': 'mbql.stage/native', native: sql, 'template-tags': {
      category: categoryTag,
      state: { id: 's1', name: 'state', 'display-name': 'State', type: 'dimension', dimension: ref5('PEOPLE', 'STATE'), 'widget-type': 'string/=' },
    } }],
  });
  assert.deepEqual(plain(mbql5), expected);
});

const legacyStructured = {
  type: 'query', database: 1,
  query: {
    'source-table': T('ORDERS'),
    filter: ['and', ['=', ref('ORDERS', 'QUANTITY'), 1, 2], ['>', ref('ORDERS', 'TOTAL'), 30]],
    aggregation: [['count'], ['sum', ref('ORDERS', 'TOTAL')]],
    breakout: [ref('ORDERS', 'USER_ID')],
    'order-by': [['desc', ['aggregation', 0]], ['asc', ref('ORDERS', 'USER_ID')]],
    limit: 10,
  },
};
const expectedStructured: StructuredQuery = {
  kind: 'structured', database: 1, sourceTable: T('ORDERS'),
  filters: [
    { op: '=', field: F('ORDERS', 'QUANTITY'), values: [1, 2] },
    { op: '>', field: F('ORDERS', 'TOTAL'), value: 30 },
  ],
  aggregations: [{ op: 'count' }, { op: 'sum', field: F('ORDERS', 'TOTAL') }],
  breakouts: [F('ORDERS', 'USER_ID')],
  orderBy: [{ direction: 'desc', aggregation: 0 }, { direction: 'asc', field: F('ORDERS', 'USER_ID') }],
  limit: 10,
};

test('legacy MBQL normalizes; its top-level and is split into the filter list', () => {
  assert.deepEqual(normalizeDatasetQuery(legacyStructured), expectedStructured);
});

test('MBQL 5 stages normalize to the same query (options second, aggregation refs by lib/uuid)', () => {
  const q = {
    'lib/type': 'mbql/query', database: 1,
    stages: [{
      'lib/type': 'mbql.stage/mbql', 'source-table': T('ORDERS'),
      filters: [['=', { 'lib/uuid': 'f1' }, ref5('ORDERS', 'QUANTITY'), 1, 2], ['>', { 'lib/uuid': 'f2' }, ref5('ORDERS', 'TOTAL'), 30]],
      aggregation: [['count', { 'lib/uuid': 'agg-count' }], ['sum', { 'lib/uuid': 'agg-sum' }, ref5('ORDERS', 'TOTAL')]],
      breakout: [ref5('ORDERS', 'USER_ID')],
      'order-by': [['desc', { 'lib/uuid': 'o1' }, ['aggregation', { 'lib/uuid': 'r1' }, 'agg-count']], ['asc', { 'lib/uuid': 'o2' }, ref5('ORDERS', 'USER_ID')]],
      limit: 10,
    }],
  };
  assert.deepEqual(normalizeDatasetQuery(q), expectedStructured);
  // The aggregation ref resolves by uuid, not position.
  const swapped = structuredClone(q);
  swapped.stages[0]!['order-by'][0]![2] = ['aggregation', { 'lib/uuid': 'r1' }, 'agg-sum'];
  assert.deepEqual((normalizeDatasetQuery(swapped) as StructuredQuery).orderBy[0], { direction: 'desc', aggregation: 1 });
});

test('string filters: legacy binary (options last) and variadic (options first) forms, MBQL 5 options', () => {
  const title = F('PRODUCTS', 'TITLE');
  const legacy = (filter: unknown): StructuredQuery =>
    normalizeDatasetQuery({ type: 'query', database: 1, query: { 'source-table': T('PRODUCTS'), filter } }) as StructuredQuery;
  assert.deepEqual(legacy(['contains', ref('PRODUCTS', 'TITLE'), 'hat', { 'case-sensitive': false }]).filters,
    [{ op: 'contains', field: title, values: ['hat'], caseSensitive: false }]);
  assert.deepEqual(legacy(['starts-with', { 'case-sensitive': true }, ref('PRODUCTS', 'TITLE'), 'a', 'b']).filters,
    [{ op: 'starts-with', field: title, values: ['a', 'b'], caseSensitive: true }]);
  assert.deepEqual(legacy(['ends-with', ref('PRODUCTS', 'TITLE'), 'x']).filters, [{ op: 'ends-with', field: title, values: ['x'] }]);
  const m5 = normalizeDatasetQuery({ 'lib/type': 'mbql/query', database: 1, stages: [{
    'lib/type': 'mbql.stage/mbql', 'source-table': T('PRODUCTS'),
    filters: [['does-not-contain', { 'lib/uuid': 'x', 'case-sensitive': false }, ref5('PRODUCTS', 'TITLE'), 'a', 'b']],
  }] }) as StructuredQuery;
  assert.deepEqual(m5.filters, [{ op: 'does-not-contain', field: title, values: ['a', 'b'], caseSensitive: false }]);
});

test('other clause shapes: ["=", f, null], named aggregations, temporal units, nested and/or/not', () => {
  const q = normalizeDatasetQuery({ type: 'query', database: 1, query: {
    'source-table': T('ORDERS'),
    filter: ['or', ['=', ref('ORDERS', 'DISCOUNT'), null], ['not', ['between', ref('ORDERS', 'TOTAL'), 10, 20]]],
    aggregation: [['aggregation-options', ['avg', ref('ORDERS', 'TOTAL')], { name: 'avg_total', 'display-name': 'Average order' }], ['distinct', ref('ORDERS', 'USER_ID')]],
    breakout: [['field', F('ORDERS', 'CREATED_AT'), { 'temporal-unit': 'month', 'base-type': 'type/DateTime' }]],
    'order-by': [['desc', ['field', F('ORDERS', 'CREATED_AT'), { 'temporal-unit': 'month' }]]],
  } }) as StructuredQuery;
  assert.deepEqual(q.filters, [{ op: 'or', clauses: [
    { op: 'is-null', field: F('ORDERS', 'DISCOUNT') },
    { op: 'not', clause: { op: 'between', field: F('ORDERS', 'TOTAL'), min: 10, max: 20 } },
  ] }]);
  assert.deepEqual(q.aggregations, [
    { op: 'avg', field: F('ORDERS', 'TOTAL'), name: 'avg_total', displayName: 'Average order' },
    { op: 'distinct', field: F('ORDERS', 'USER_ID') },
  ]);
  assert.deepEqual(q.breakoutUnits, ['month']);
  assert.deepEqual(q.orderBy, [{ direction: 'desc', field: F('ORDERS', 'CREATED_AT'), temporalUnit: 'month' }]);
});

const ROUND_TRIP_QUERIES: unknown[] = [
  ...CARDS.map((c) => c.query),
  legacyStructured,
  { type: 'query', database: 1, query: {
    'source-table': T('PRODUCTS'), fields: [ref('PRODUCTS', 'ID'), ref('PRODUCTS', 'TITLE')],
    filter: ['and', ['and', ['contains', ref('PRODUCTS', 'TITLE'), 'a', { 'case-sensitive': false }], ['!=', ref('PRODUCTS', 'CATEGORY'), 'Gizmo', 'Widget']],
      ['or', ['is-null', ref('PRODUCTS', 'VENDOR')], ['not', ['starts-with', {}, ref('PRODUCTS', 'TITLE'), 'x', 'y']]],
      ['<=', ref('PRODUCTS', 'PRICE'), 100], ['not-empty', ref('PRODUCTS', 'EAN')]],
    'order-by': [['asc', ref('PRODUCTS', 'PRICE')]], limit: 0,
  } },
  { type: 'query', database: 1, query: {
    'source-table': T('ORDERS'),
    aggregation: [['count', ref('ORDERS', 'DISCOUNT')], ['aggregation-options', ['max', ref('ORDERS', 'TOTAL')], { 'display-name': 'Biggest' }]],
    breakout: [ref('ORDERS', 'PRODUCT_ID'), ['field', F('ORDERS', 'CREATED_AT'), { 'temporal-unit': 'year' }]],
    'order-by': [['desc', ['aggregation', 1]]],
  } },
  { type: 'native', database: 1, native: { query: 'SELECT 1 WHERE {{f}}', 'template-tags': {
    f: { id: 'f', name: 'f', 'display-name': 'F', type: 'dimension', dimension: ref('PRODUCTS', 'TITLE'), 'widget-type': 'string/contains', options: { 'case-sensitive': false }, default: ['x'] },
  } } },
];

test('round trips: normalize(toMbql5(n)) and normalize(toLegacy(n)) give n back', () => {
  for (const raw of ROUND_TRIP_QUERIES) {
    const n = normalizeDatasetQuery(raw);
    assert.deepEqual(normalizeDatasetQuery(toMbql5(n)), n, `MBQL 5 round trip of ${JSON.stringify(raw)}`);
    assert.deepEqual(normalizeDatasetQuery(toLegacy(n)), n, `legacy round trip of ${JSON.stringify(raw)}`);
  }
});

test('toMbql5 writes the MBQL 5 shape with deterministic, unique lib/uuids', () => {
  const n = normalizeDatasetQuery(legacyStructured);
  const out = toMbql5(n) as { 'lib/type': string; database: number; stages: Record<string, unknown>[] };
  assert.equal(out['lib/type'], 'mbql/query');
  assert.equal(out.stages[0]!['lib/type'], 'mbql.stage/mbql');
  const [count, sum] = out.stages[0]!['aggregation'] as [unknown[], unknown[]];
  assert.equal(count[0], 'count');
  assert.equal(typeof (count[1] as Record<string, unknown>)['lib/uuid'], 'string');
  const field = sum[2] as unknown[];
  assert.equal(field[0], 'field');
  assert.equal(field[2], F('ORDERS', 'TOTAL'));
  assert.equal((field[1] as Record<string, unknown>)['base-type'], 'type/Float');
  // The order-by points at the count aggregation by its uuid.
  const orderBy = out.stages[0]!['order-by'] as unknown[][];
  assert.equal((orderBy[0]![2] as unknown[])[2], (count[1] as Record<string, unknown>)['lib/uuid']);
  // Same input, same output; every uuid distinct and shaped like a v4 UUID.
  assert.equal(JSON.stringify(toMbql5(n)), JSON.stringify(out));
  const uuids = JSON.stringify(out).match(/"lib\/uuid":"[^"]+"/g)!.map((s) => s.slice(12, -1));
  assert.equal(new Set(uuids).size, uuids.length);
  for (const u of uuids) assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const native = toMbql5(normalizeDatasetQuery(CARDS.find((c) => c.id === 5)!.query)) as { stages: Record<string, unknown>[] };
  assert.equal(native.stages[0]!['lib/type'], 'mbql.stage/native');
  const stateTag = (native.stages[0]!['template-tags'] as Record<string, Record<string, unknown>>)['state']!;
  assert.equal((stateTag['dimension'] as unknown[])[2], F('PEOPLE', 'STATE'));
});

test('toLegacy writes one filter clause, an and for several, and ["aggregation", i] refs', () => {
  const out = toLegacy(normalizeDatasetQuery(legacyStructured)) as { type: string; query: Record<string, unknown> };
  assert.equal(out.type, 'query');
  assert.deepEqual(out.query['filter'], ['and', ['=', ref('ORDERS', 'QUANTITY'), 1, 2], ['>', ref('ORDERS', 'TOTAL'), 30]]);
  assert.deepEqual(out.query['order-by'], [['desc', ['aggregation', 0]], ['asc', ref('ORDERS', 'USER_ID')]]);
  const one = toLegacy({ ...expectedStructured, filters: [expectedStructured.filters[1]!] }) as { query: Record<string, unknown> };
  assert.deepEqual(one.query['filter'], ['>', ref('ORDERS', 'TOTAL'), 30]);
  const card2 = CARDS.find((c) => c.id === 2)!.query;
  assert.deepEqual(toLegacy(normalizeDatasetQuery(card2)), card2);
});

test('malformed queries fail with invalid-query and say what was expected', () => {
  const mbql = (query: Record<string, unknown>): unknown => ({ type: 'query', database: 1, query: { 'source-table': T('ORDERS'), ...query } });
  const cases: [unknown, RegExp][] = [
    [null, /expected a dataset_query object/],
    [{ database: 1 }, /expected an MBQL 5 query .* or a legacy query/],
    [{ type: 'native', native: { query: 'SELECT 1' } }, /"database" to be a positive integer/],
    [{ 'lib/type': 'mbql/query', database: 1, stages: [{ 'lib/type': 'mbql.stage/magic' }] }, /unknown stage type "mbql.stage\/magic"/],
    [{ 'lib/type': 'mbql/query', database: 1, stages: [] }, /"stages" to be a non-empty list/],
    [{ 'lib/type': 'mbql/query', database: 1, stages: [{ 'lib/type': 'mbql.stage/native', native: 'SELECT 1' }, { 'lib/type': 'mbql.stage/mbql' }] }, /more than one stage/],
    [{ type: 'native', database: 1, native: { query: 42 } }, /"native" to be \{"query"/],
    [{ type: 'query', database: 1, query: { 'source-table': 999 } }, /table 999 does not exist/],
    [{ type: 'query', database: 1, query: { 'source-table': 'card__1' } }, /"source-table" to be a table id/],
    [mbql({ filter: ['=', ['field', 99999, null], 1] }), /field 99999 does not exist/],
    [mbql({ filter: ['time-interval', ref('ORDERS', 'CREATED_AT'), -30, 'day'] }), /unsupported filter clause "time-interval"/],
    [mbql({ filter: ['=', ref('ORDERS', 'TOTAL')] }), /a field and at least one value/],
    [mbql({ filter: ['=', ref('ORDERS', 'TOTAL'), ['field', 1, null]] }), /expected a literal value/],
    [mbql({ aggregation: [['median', ref('ORDERS', 'TOTAL')]] }), /unsupported aggregation "median"/],
    [mbql({ aggregation: [['sum']] }), /expected 1 argument/],
    [mbql({ breakout: [['field', 'TITLE', { 'base-type': 'type/Text' }]] }), /by name .* not supported/],
    [mbql({ breakout: [['field', F('ORDERS', 'TOTAL'), { binning: { strategy: 'default' } }]] }), /"binning" .* not supported/],
    [mbql({ breakout: [['field', F('PRODUCTS', 'CATEGORY'), { 'source-field': F('ORDERS', 'PRODUCT_ID') }]] }), /"source-field" .* not supported/],
    [mbql({ breakout: [['field', F('ORDERS', 'CREATED_AT'), { 'temporal-unit': 'month-of-year' }]] }), /temporal unit "month-of-year" is not supported/],
    [mbql({ breakout: [['field', F('ORDERS', 'TOTAL'), { 'temporal-unit': 'month' }]] }), /needs a date or date-time field/],
    [mbql({ filter: ['=', ['field', F('ORDERS', 'CREATED_AT'), { 'temporal-unit': 'day' }], '2024-01-01'] }), /temporal bucketing is only supported in breakouts/],
    [mbql({ 'order-by': [['desc', ['aggregation', 0]]] }), /refers to an aggregation the query does not have/],
    [mbql({ 'order-by': [['up', ref('ORDERS', 'TOTAL')]] }), /expected an order-by clause/],
    [mbql({ joins: [{ 'source-table': 8 }] }), /"joins" is not supported/],
    [mbql({ expressions: { x: ['+', 1, 1] } }), /"expressions" is not supported/],
    [mbql({ limit: -1 }), /"limit" to be a non-negative integer/],
    [mbql({ fields: 'all' }), /"fields" to be a list/],
    [{ type: 'native', database: 1, native: { query: 'x', 'template-tags': { a: { name: 'b', type: 'text' } } } }, /key of each tag must equal its name/],
    [{ type: 'native', database: 1, native: { query: 'x', 'template-tags': { a: { name: 'a', type: 'dimension' } } } }, /needs a "dimension"/],
    [{ type: 'native', database: 1, native: { query: 'x', 'template-tags': { a: 'text' } } }, /tag "a" to be an object with a "type"/],
  ];
  for (const [q, message] of cases) throwsQuery(() => normalizeDatasetQuery(q), 'invalid-query', message);
});

// --- parameter-types.ts (§5.2) ---------------------------------------------------------------------------------------

test('§5.2: allowed and not allowed (sent type, declared type) pairs', () => {
  const allowed: [string, string][] = [
    ['text', 'text'], ['text', 'category'], ['text', 'id'], ['text', 'location/city'], ['text', 'location/country'],
    ['string/=', 'string/='], ['string/=', 'text'], ['string/=', 'location/state'], ['string/=', 'location/zip_code'],
    ['number', 'number'], ['number', 'number/='], ['number', 'id'], ['number', 'category'], ['number', 'location/zip_code'],
    ['number/=', 'number'], ['number/=', 'location/zip_code'],
    ['date', 'date'], ['date', 'date/single'], ['date', 'date/all-options'], ['date/single', 'date'], ['date/single', 'category'],
    ['boolean', 'boolean'], ['boolean', 'boolean/='], ['boolean', 'id'], ['boolean', 'category'], ['boolean/=', 'boolean'],
    ['category', 'category'], ['category', 'number'], ['category', 'text'], ['category', 'date'], ['category', 'boolean'],
    ['id', 'id'],
    ['date/range', 'date/range'], ['date/range', 'date/all-options'], ['date/month-year', 'date/all-options'],
    ['date/quarter-year', 'date/quarter-year'], ['date/relative', 'date/all-options'], ['date/all-options', 'date/all-options'],
    ['string/contains', 'string/contains'], ['string/!=', 'string/!='], ['string/ends-with', 'string/ends-with'],
    ['number/!=', 'number/!='], ['number/between', 'number/between'], ['number/>=', 'number/between'], ['number/<=', 'number/between'],
    ['number/>=', 'number/>='], ['temporal-unit', 'temporal-unit'], ['location/city', 'location/city'],
    ['category/=', 'number'], ['type/Text', 'text'],
  ];
  const notAllowed: [string, string][] = [
    ['string/!=', 'text'], ['string/!=', 'category'], ['string/contains', 'string/='], ['string/contains', 'text'],
    ['string/=', 'number'], ['text', 'number'], ['number', 'text'], ['number/=', 'text'], ['number/between', 'number'],
    ['number/>=', 'number'], ['number/!=', 'number/='], ['date/range', 'date'], ['date/range', 'date/single'],
    ['date/relative', 'category'], ['date/all-options', 'date'], ['date', 'text'], ['id', 'category'], ['id', 'number'],
    ['category', 'id'], ['category', 'string/='], ['boolean/=', 'category'], ['boolean', 'text'],
    ['location/city', 'text'], ['location/city', 'location/state'], ['text', 'location/other'], ['temporal-unit', 'text'],
    ['no-such-type', 'text'], ['text', 'no-such-type'],
  ];
  for (const [sent, declared] of allowed) assert.equal(isParameterTypeAllowed(sent, declared), true, `${sent} for ${declared}`);
  for (const [sent, declared] of notAllowed) assert.equal(isParameterTypeAllowed(sent, declared), false, `${sent} for ${declared}`);
});

test('allowedTypesFor lists the allowed types in Clojure keyword order', () => {
  assert.deepEqual(allowedTypesFor('category'), ['boolean', 'category', 'date', 'number', 'text', 'date/single', 'number/=', 'string/=']);
  assert.deepEqual(allowedTypesFor('number/between'), ['number/<=', 'number/>=', 'number/between']);
  assert.deepEqual(allowedTypesFor('date/all-options'),
    ['date', 'date/all-options', 'date/month-year', 'date/quarter-year', 'date/range', 'date/relative', 'date/single']);
  assert.deepEqual(allowedTypesFor('location/zip_code'), ['number', 'text', 'location/zip_code', 'number/=', 'string/=']);
  assert.deepEqual(allowedTypesFor('text'), ['category', 'text', 'string/=']);
  assert.deepEqual(allowedTypesFor('nonsense'), []);
});

// --- field-filter.ts -------------------------------------------------------------------------------------------------

test('field filters: string, category, id, location types (one value =, several IN)', () => {
  const cat = col('PRODUCTS', 'CATEGORY');
  assert.deepEqual(fieldFilterClause(cat, 'string/=', 'Widget'), { sql: `${cat} = ?`, params: ['Widget'] });
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(cat, 'string/=', 'Widget')), [2, 3]);
  assert.deepEqual(fieldFilterClause(cat, 'category', ['Widget', 'Gizmo']), { sql: `${cat} IN (?, ?)`, params: ['Widget', 'Gizmo'] });
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(cat, 'category', ['Widget', 'Gizmo'])), [1, 2, 3]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(cat, 'text', ['Gadget'])), [6]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(col('PRODUCTS', 'ID'), 'id', ['4', 6])), [4, 6]);
  assert.deepEqual(ids('PEOPLE', fieldFilterClause(col('PEOPLE', 'STATE'), 'location/state', 'TX')), [1, 3]);
  assert.deepEqual(ids('PEOPLE', fieldFilterClause(col('PEOPLE', 'ZIP'), 'location/zip_code', [83702])), [2]);
  // Case matters for =, as in Metabase.
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(cat, 'string/=', 'widget')), []);
});

test('field filters: != keeps NULLs; contains/starts/ends-with are case-sensitive unless told otherwise', () => {
  const cat = col('PRODUCTS', 'CATEGORY');
  const title = col('PRODUCTS', 'TITLE');
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(cat, 'string/!=', 'Widget')), [1, 4, 5, 6]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(cat, 'string/!=', ['Widget', 'Gizmo'])), [4, 5, 6]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/contains', 'Hat')), [3]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/contains', 'hat')), []);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/contains', 'hat', { caseSensitive: false })), [3]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/contains', ['Lamp', 'Wallet'])), [1, 2]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/starts-with', 'S')), [2]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/starts-with', 's', { caseSensitive: false })), [2, 4]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/ends-with', 'Hat')), [3]);
  // Wildcard characters in the value match themselves only.
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/ends-with', '*')), [4]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/contains', '%')), []);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(title, 'string/contains', '?')), []);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(cat, 'string/does-not-contain', 'dget')), [1, 4, 5]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(cat, 'string/does-not-contain', ['adg', 'izm'])), [2, 3, 4, 5]);
});

test('field filters: number types, between with open ends, booleans', () => {
  const price = col('PRODUCTS', 'PRICE');
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(price, 'number/=', [80, '120.25'])), [2, 3]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(price, 'number', '5,60')), [4, 6]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(price, 'number/!=', 80)), [1, 3, 4, 5, 6]);
  assert.deepEqual(fieldFilterClause(price, 'number/between', [10, 80]), { sql: `${price} BETWEEN ? AND ?`, params: [10, 80] });
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(price, 'number/between', [10, 80])), [1, 2, 6]);
  assert.deepEqual(fieldFilterClause(price, 'number/between', [60, null]), { sql: `${price} >= ?`, params: [60] });
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(price, 'number/between', [null, 29.5])), [1, 4]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(price, 'number/>=', [80])), [2, 3]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(price, 'number/<=', 5)), [4]);
  assert.deepEqual(ids('ACCOUNTS', fieldFilterClause(col('ACCOUNTS', 'ACTIVE_SUBSCRIPTION'), 'boolean/=', true)), [1, 3]);
  assert.deepEqual(ids('ACCOUNTS', fieldFilterClause(col('ACCOUNTS', 'LEGACY_PLAN'), 'boolean', 'false')), [1, 2]);
});

test('field filters: no value means no filter', () => {
  for (const v of [null, undefined, [], [null], [null, null]]) {
    assert.equal(fieldFilterClause('"X"."Y"', 'string/=', v), null);
    assert.equal(fieldFilterClause('"X"."Y"', 'date/all-options', v), null);
  }
});

test('field filters: absolute dates (single, range, open ends, month, quarter)', () => {
  const at = col('ORDERS', 'CREATED_AT');
  assert.deepEqual(fieldFilterClause(at, 'date/single', '2024-01-20'), { sql: `substr(${at}, 1, 10) = ?`, params: ['2024-01-20'] });
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/single', '2024-01-20')), [2]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date', '2024-12-31')), [5]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/single', '2024-04-01T09:30')), [4]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/single', '2024-04-01T09:31:00')), []);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/range', '2024-01-15~2024-02-10')), [1, 2, 3]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/range', '2024-04-01~')), [5, 6]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/range', '~2024-01-20')), [1]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/range', '2024-01-20T12:00~2024-04-01T09:30')), [2, 3, 4]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/month-year', '2024-01')), [1, 2]);
  assert.deepEqual(fieldFilterClause(at, 'date/month-year', '2024-02'),
    { sql: `substr(${at}, 1, 10) BETWEEN ? AND ?`, params: ['2024-02-01', '2024-02-29'] });
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/quarter-year', 'Q1-2024')), [1, 2, 3]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/quarter-year', 'Q4-2024')), [5]);
  // Date columns (YYYY-MM-DD) work the same way.
  assert.deepEqual(ids('PEOPLE', fieldFilterClause(col('PEOPLE', 'BIRTH_DATE'), 'date/range', '1980-01-01~1995-12-31')), [1, 2]);
  // all-options dispatches on the value's shape.
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/all-options', 'Q1-2025')), [6]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/all-options', '2024-02-10')), [3]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/all-options', ['2024-12'])), [5]);
});

test('field filters: relative dates against a fixed clock (UTC, weeks from Sunday)', () => {
  const now = new Date('2024-05-15T08:04:04.580Z'); // a Wednesday
  const at = col('ORDERS', 'CREATED_AT');
  const range = (token: string): unknown[] => fieldFilterClause(at, 'date/relative', token, { now })!.params;
  assert.deepEqual(range('today'), ['2024-05-15']);
  assert.deepEqual(range('yesterday'), ['2024-05-14']);
  assert.deepEqual(range('past30days'), ['2024-04-15', '2024-05-14']);
  assert.deepEqual(range('past30days~'), ['2024-04-15', '2024-05-15']);
  assert.deepEqual(range('next7days'), ['2024-05-16', '2024-05-22']);
  assert.deepEqual(range('thisweek'), ['2024-05-12', '2024-05-18']);
  assert.deepEqual(range('lastweek'), ['2024-05-05', '2024-05-11']);
  assert.deepEqual(range('thismonth'), ['2024-05-01', '2024-05-31']);
  assert.deepEqual(range('lastmonth'), ['2024-04-01', '2024-04-30']);
  assert.deepEqual(range('past2quarters'), ['2023-10-01', '2024-03-31']);
  assert.deepEqual(range('thisyear'), ['2024-01-01', '2024-12-31']);
  assert.deepEqual(range('lastyear'), ['2023-01-01', '2023-12-31']);
  assert.deepEqual(range('past1months-from-1years'), ['2023-04-01', '2023-04-30']);
  assert.deepEqual(fieldFilterClause(at, 'date/relative', 'past3hours', { now }),
    { sql: `substr(${at}, 1, 13) BETWEEN ? AND ?`, params: ['2024-05-15T05', '2024-05-15T07'] });
  assert.deepEqual(range('next2minutes'), ['2024-05-15T08:05', '2024-05-15T08:06']);
  // Executed: orders of January and February 2024 relative to early March.
  const march = new Date('2024-03-05T12:00:00Z');
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/relative', 'past2months', { now: march })), [1, 2, 3]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/all-options', 'lastmonth', { now: march })), [3]);
  assert.deepEqual(ids('ORDERS', fieldFilterClause(at, 'date/relative', 'thisyear', { now: new Date('2025-06-01T00:00:00Z') })), [6]);
});

test('field filters: date exclusions (all-options) keep NULLs and drop the excluded parts', () => {
  const at = col('PRODUCTS', 'CREATED_AT');
  // 2024-01-15 Mon, 2024-02-29 Thu, 2024-03-01 Fri, 2024-06-30 Sun, 2025-01-01 Wed.
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(at, 'date/all-options', 'exclude-days-Mon-Sun')), [2, 3, 5, 6]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(at, 'date/all-options', 'exclude-months-Jan')), [2, 3, 4, 5]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(at, 'date/all-options', 'exclude-quarters-1')), [4, 5]);
  assert.deepEqual(ids('PRODUCTS', fieldFilterClause(at, 'date/all-options', 'exclude-hours-0-23')), [1, 4, 5]);
});

test('field filters: wrong values and unknown types fail with invalid-parameter', () => {
  const c = '"ORDERS"."TOTAL"';
  throwsQuery(() => fieldFilterClause(c, 'number/=', 'abc'), 'invalid-parameter',
    /^Invalid value for parameter type number\/=: expected a number, got "abc"$/);
  throwsQuery(() => fieldFilterClause(c, 'number/=', ['1; DROP TABLE x']), 'invalid-parameter', /expected a number/);
  throwsQuery(() => fieldFilterClause(c, 'number/between', 5), 'invalid-parameter', /expected \[min, max\]/);
  throwsQuery(() => fieldFilterClause(c, 'number/>=', [1, 2]), 'invalid-parameter', /expected one number/);
  throwsQuery(() => fieldFilterClause(c, 'string/=', { a: 1 }), 'invalid-parameter', /expected a string, got \{"a":1\}/);
  throwsQuery(() => fieldFilterClause(c, 'boolean', 'yes'), 'invalid-parameter', /expected true or false/);
  throwsQuery(() => fieldFilterClause(c, 'date/single', 'yesterday-ish'), 'invalid-parameter', /date\/single: expected a date/);
  throwsQuery(() => fieldFilterClause(c, 'date/single', '2025-02-30'), 'invalid-parameter', /expected a date/);
  throwsQuery(() => fieldFilterClause(c, 'date/single', 20250101), 'invalid-parameter', /expected a date string/);
  throwsQuery(() => fieldFilterClause(c, 'date/relative', 'past30fortnights'), 'invalid-parameter', /unsupported relative date "past30fortnights"/);
  throwsQuery(() => fieldFilterClause(c, 'date/relative', 'pastmonth'), 'invalid-parameter', /"pastmonth"/);
  throwsQuery(() => fieldFilterClause(c, 'date/range', '2025-03-01~2025-01-01'), 'invalid-parameter', /starts after it ends/);
  throwsQuery(() => fieldFilterClause(c, 'date/all-options', 'exclude-days-Funday'), 'invalid-parameter', /exclusion/);
  throwsQuery(() => fieldFilterClause(c, 'temporal-unit', 'month'), 'invalid-parameter', /Unrecognized parameter type: temporal-unit/);
  throwsQuery(() => fieldFilterClause(c, 'string/like', 'x'), 'invalid-parameter', /Unrecognized parameter type/);
});

// --- native.ts -------------------------------------------------------------------------------------------------------

const tag = (name: string, type: string, extra: Partial<TemplateTag> = {}): TemplateTag =>
  ({ id: `id-${name}`, name, 'display-name': name.toUpperCase(), type, ...extra });
const values = (entries: Record<string, unknown>, type = 'category'): Map<string, { type: string; value: unknown }> =>
  new Map(Object.entries(entries).map(([k, value]) => [k, { type, value }]));
const expand = (sql: string, tags: TemplateTag[], vals: Map<string, { type: string; value: unknown }> = new Map()) =>
  expandNativeQuery(sql, Object.fromEntries(tags.map((t) => [t.name, t])), vals, resolveField);

test('native: raw tags become bound placeholders, repeated tags bind each time, default used', () => {
  const sql = 'SELECT ID FROM PRODUCTS WHERE CATEGORY = {{ cat }} OR VENDOR = {{cat}} ORDER BY ID';
  const out = expand(sql, [tag('cat', 'text', { default: 'Acme' })], values({ cat: 'Widget' }));
  assert.deepEqual(out, { sql: 'SELECT ID FROM PRODUCTS WHERE CATEGORY = ? OR VENDOR = ? ORDER BY ID', params: ['Widget', 'Widget'] });
  assert.deepEqual(all(db, out.sql, out.params), [[2], [3]]);
  const byDefault = expand(sql, [tag('cat', 'text', { default: 'Acme' })]);
  assert.deepEqual(byDefault.params, ['Acme', 'Acme']);
  assert.deepEqual(all(db, byDefault.sql, byDefault.params), [[1], [2]]);
});

test('native: number, boolean and date tags are validated and converted', () => {
  const n = expand('SELECT ID FROM PRODUCTS WHERE PRICE >= {{p}} ORDER BY ID', [tag('p', 'number')], values({ p: '80' }));
  assert.deepEqual(n.params, [80]);
  assert.deepEqual(all(db, n.sql, n.params), [[2], [3]]);
  // A list sent as one value is an array; a comma string is refused, so a value cannot add placeholders.
  const list = expand('SELECT ID FROM PRODUCTS WHERE ID IN ({{ids}}) ORDER BY ID', [tag('ids', 'number')], values({ ids: [1, 3, 5] }));
  assert.deepEqual(list, { sql: 'SELECT ID FROM PRODUCTS WHERE ID IN (?, ?, ?) ORDER BY ID', params: [1, 3, 5] });
  assert.deepEqual(all(db, list.sql, list.params), [[1], [3], [5]]);
  throwsQuery(() => expand('SELECT ID FROM PRODUCTS LIMIT {{n}}', [tag('n', 'number')], values({ n: '3,2' })), 'invalid-parameter', /expected a number, got "3,2"/);
  throwsQuery(() => expand('SELECT {{p}}', [tag('p', 'number')], values({ p: 'abc' })), 'invalid-parameter', /expected a number, got "abc"/);
  throwsQuery(() => expand('SELECT {{p}}', [tag('p', 'number')], values({ p: '1 OR 1=1' })), 'invalid-parameter', /expected a number/);
  const b = expand('SELECT ID FROM ACCOUNTS WHERE ACTIVE_SUBSCRIPTION = {{on}} ORDER BY ID', [tag('on', 'boolean')], values({ on: false }));
  assert.deepEqual(b.params, [0]);
  assert.deepEqual(all(db, b.sql, b.params), [[2]]);
  assert.deepEqual(expand('SELECT {{on}}', [tag('on', 'boolean', { default: true })]).params, [1]);
  throwsQuery(() => expand('SELECT {{on}}', [tag('on', 'boolean')], values({ on: 'maybe' })), 'invalid-parameter', /true or false/);
  const d = expand('SELECT ID FROM ORDERS WHERE CREATED_AT >= {{since}} ORDER BY ID', [tag('since', 'date')], values({ since: '2024-04-01' }));
  assert.deepEqual(all(db, d.sql, d.params), [[4], [5], [6]]);
  assert.deepEqual(expand('SELECT {{t}}', [tag('t', 'date')], values({ t: '2024-04-01T11:30:00+02:00' })).params, ['2024-04-01T09:30:00.000Z']);
  throwsQuery(() => expand('SELECT {{t}}', [tag('t', 'date')], values({ t: 'last tuesday' })), 'invalid-parameter', /expected a date/);
});

test('native: optional clauses are kept with a value and dropped without one', () => {
  const sql = 'SELECT ID FROM PRODUCTS WHERE 1 = 1 [[AND PRICE >= {{min}}]] [[AND CATEGORY = {{cat}}]] ORDER BY ID';
  const tags = [tag('min', 'number'), tag('cat', 'text')];
  const none = expand(sql, tags);
  assert.deepEqual(none, { sql: 'SELECT ID FROM PRODUCTS WHERE 1 = 1   ORDER BY ID', params: [] });
  assert.equal(all(db, none.sql).length, 6);
  const one = expand(sql, tags, values({ min: 60 }));
  assert.deepEqual(one, { sql: 'SELECT ID FROM PRODUCTS WHERE 1 = 1 AND PRICE >= ?  ORDER BY ID', params: [60] });
  assert.deepEqual(all(db, one.sql, one.params), [[2], [3], [6]]);
  const both = expand(sql, tags, values({ min: 60, cat: 'Widget' }));
  assert.deepEqual(both.params, [60, 'Widget']);
  assert.deepEqual(all(db, both.sql, both.params), [[2], [3]]);
  // A clause with two tags needs both.
  const pair = 'SELECT 1 [[WHERE {{a}} < {{b}}]]';
  assert.equal(expand(pair, [tag('a', 'number'), tag('b', 'number')], values({ a: 1 })).sql, 'SELECT 1');
  // A sent parameter without a value drops the clause even when the tag has a default (Metabase's rule).
  assert.equal(expand(sql, [tag('min', 'number', { default: 10 }), tag('cat', 'text')], values({ min: null })).params.length, 0);
  assert.deepEqual(expand(sql, [tag('min', 'number', { default: 10 }), tag('cat', 'text')]).params, [10]);
  // Nested clauses drop on their own.
  const nested = expand('SELECT 1 [[WHERE {{a}} = 1 [[AND {{b}} = 2]]]]', [tag('a', 'number'), tag('b', 'number')], values({ a: 5 }));
  assert.deepEqual(nested, { sql: 'SELECT 1 WHERE ? = 1', params: [5] });
});

test('native: required and missing tags', () => {
  throwsQuery(() => expand('SELECT {{cat}}', [tag('cat', 'text', { required: true, 'display-name': 'Category' })]),
    'missing-required-parameter', /^You'll need to pick a value for 'Category' before this query can run\.$/);
  throwsQuery(() => expand('SELECT {{cat}}', [tag('cat', 'text', { required: true, 'display-name': 'Category' })], values({ cat: null })),
    'missing-required-parameter', /pick a value for 'Category'/);
  // Required with a default runs with the default.
  assert.deepEqual(expand('SELECT {{cat}}', [tag('cat', 'text', { required: true, default: 'Gizmo' })]).params, ['Gizmo']);
  // Not required, no value, outside an optional clause: Metabase refuses to run it.
  throwsQuery(() => expand('SELECT ID FROM PRODUCTS WHERE PRICE > {{min}}', [tag('min', 'number')]),
    'missing-required-parameter', /missing required parameters: #\{"min"\}/);
  throwsQuery(() => expand('SELECT {{x}} [[AND {{y}}]]', [tag('x', 'text')]), 'invalid-query', /no template tag named "y"/);
});

test('native: field filters with each type group, 1 = 1 without a value', () => {
  const people = 'SELECT ID FROM PEOPLE WHERE {{state}} ORDER BY ID';
  const state = tag('state', 'dimension', { dimension: ['field', F('PEOPLE', 'STATE'), null], 'widget-type': 'string/=' });
  const tx = expand(people, [state], values({ state: ['TX'] }, 'string/='));
  assert.deepEqual(tx, { sql: 'SELECT ID FROM PEOPLE WHERE "PEOPLE"."STATE" = ? ORDER BY ID', params: ['TX'] });
  assert.deepEqual(all(db, tx.sql, tx.params), [[1], [3]]);
  const nothing = expand(people, [state]);
  assert.equal(nothing.sql, 'SELECT ID FROM PEOPLE WHERE 1 = 1 ORDER BY ID');
  assert.equal(all(db, nothing.sql).length, 3);
  const orders = (t: TemplateTag, vals: Map<string, { type: string; value: unknown }>): unknown[][] => {
    const e = expand('SELECT ID FROM ORDERS WHERE {{f}} ORDER BY ID', [t], vals);
    return all(db, e.sql, e.params);
  };
  const total = tag('f', 'dimension', { dimension: ['field', F('ORDERS', 'TOTAL'), null], 'widget-type': 'number/between' });
  assert.deepEqual(orders(total, values({ f: [80, 130] }, 'number/between')), [[2], [3], [4]]);
  assert.deepEqual(orders(total, values({ f: [100] }, 'number/>=')), [[4]]);
  const created = tag('f', 'dimension', { dimension: ['field', F('ORDERS', 'CREATED_AT'), null], 'widget-type': 'date/all-options' });
  assert.deepEqual(orders(created, values({ f: '2024-01-01~2024-01-31' }, 'date/range')), [[1], [2]]);
  assert.deepEqual(orders(created, values({ f: '2025-03' }, 'date/all-options')), [[6]]);
  const title = tag('f', 'dimension', {
    dimension: ['field', F('PRODUCTS', 'TITLE'), null], 'widget-type': 'string/contains', options: { 'case-sensitive': false },
  });
  const t = expand('SELECT ID FROM PRODUCTS WHERE {{f}} ORDER BY ID', [title], values({ f: 'HAT' }, 'string/contains'));
  assert.deepEqual(all(db, t.sql, t.params), [[3]]);
  // No sent type: the widget type decides.
  const vendor = tag('v', 'dimension', { dimension: ['field', F('PRODUCTS', 'VENDOR'), null], 'widget-type': 'string/!=', default: ['Acme'] });
  const v = expand('SELECT ID FROM PRODUCTS WHERE {{v}} ORDER BY ID', [vendor]);
  assert.deepEqual(all(db, v.sql, v.params), [[3], [4], [5], [6]]);
  // In an optional clause, a field filter without a value drops the clause.
  const opt = expand('SELECT ID FROM PEOPLE [[WHERE {{state}}]] ORDER BY ID', [state]);
  assert.equal(opt.sql, 'SELECT ID FROM PEOPLE  ORDER BY ID');
  // A required field filter: default or error.
  throwsQuery(() => expand(people, [{ ...state, required: true }]), 'missing-required-parameter', /pick a value for 'STATE'/);
  assert.deepEqual(expand(people, [{ ...state, required: true, default: ['ID'] }]).params, ['ID']);
  throwsQuery(() => expand(people, [state], values({ state: 'x' }, 'number/=')), 'invalid-parameter', /expected a number/);
});

test('native: parsing follows Metabase (comments, string literals, stray closers) and rejects bad syntax', () => {
  const t = [tag('x', 'text')];
  const v = values({ x: 'a' });
  assert.deepEqual(expand('SELECT {{x}} -- {{not_a_tag}}\nFROM T /* [[ {{nope}} */', t, v),
    { sql: 'SELECT ? -- {{not_a_tag}}\nFROM T /* [[ {{nope}} */', params: ['a'] });
  assert.deepEqual(expand("SELECT '{{' AS a, {{x}}", t, v), { sql: "SELECT '{{' AS a, ?", params: ['a'] });
  assert.deepEqual(expand('SELECT a[1]]', [], new Map()).sql, 'SELECT a[1]]');
  assert.deepEqual(expand('SELECT {{{x}}}', t, v), { sql: 'SELECT {?}', params: ['a'] });
  throwsQuery(() => expand('SELECT 1 [[AND {{x}} = 1', t, v), 'invalid-query', /no matching '\]\]' or '\}\}'/);
  throwsQuery(() => expand('SELECT {{x', t, v), 'invalid-query', /no matching/);
  throwsQuery(() => expand('SELECT {{ }}', t, v), 'invalid-query', /cannot be empty/);
  throwsQuery(() => expand('SELECT 1 [[AND 2]]', t, v), 'invalid-query', /must contain at least one/);
  throwsQuery(() => expand('SELECT {{x {{y}}}}', t, v), 'invalid-query', /expected a param name/);
});

test('native: snippet, card, table and temporal-unit tags are not supported', () => {
  for (const type of ['snippet', 'card', 'table']) {
    throwsQuery(() => expand('SELECT * FROM {{t}}', [tag('t', type)]), 'invalid-query',
      new RegExp(`^Template tag type "${type}" is not supported by this Metabase emulator$`));
  }
  throwsQuery(() => expand('SELECT {{u}}', [tag('u', 'temporal-unit', { dimension: ['field', 1, null] })]), 'invalid-query', /"temporal-unit" is not supported/);
});

test('native: injection strings are bound literally and never change the statement', () => {
  const attacks = [INJECTION, '1; DROP TABLE "ORDERS"; --', 'x") OR 1=1 --', "'; DELETE FROM PRODUCTS; --", '{{x}}', ']] OR 1=1 [['];
  const sql = 'SELECT ID FROM PRODUCTS WHERE TITLE = {{t}} [[AND CATEGORY = {{c}}]] ORDER BY ID';
  for (const attack of attacks) {
    const out = expand(sql, [tag('t', 'text'), tag('c', 'text')], values({ t: attack, c: attack }));
    assert.equal(out.sql, 'SELECT ID FROM PRODUCTS WHERE TITLE = ? AND CATEGORY = ? ORDER BY ID');
    assert.deepEqual(out.params, [attack, attack]);
    assert.deepEqual(all(db, out.sql, out.params), []);
  }
  // Bound literally, the injection string matches exactly the one row whose title is that string.
  const exact = expand('SELECT ID FROM PRODUCTS WHERE TITLE = {{t}}', [tag('t', 'text')], values({ t: INJECTION }));
  assert.deepEqual(all(db, exact.sql, exact.params), [[6]]);
  // Through a field filter too.
  const ff = tag('f', 'dimension', { dimension: ['field', F('PRODUCTS', 'TITLE'), null], 'widget-type': 'string/=' });
  for (const attack of attacks) {
    const out = expand('SELECT ID FROM PRODUCTS WHERE {{f}}', [ff], values({ f: [attack, 'x") OR ("1"="1'] }, 'string/='));
    assert.equal(out.sql, 'SELECT ID FROM PRODUCTS WHERE "PRODUCTS"."TITLE" IN (?, ?)');
    assert.deepEqual(all(db, out.sql, out.params), attack === INJECTION ? [[6]] : []);
  }
  // Every table is intact.
  assert.deepEqual(all(db, 'SELECT COUNT(*) FROM PRODUCTS'), [[6]]);
  assert.deepEqual(all(db, 'SELECT COUNT(*) FROM ORDERS'), [[6]]);
});

test('native: seeded cards run on the Sample Database and agree with hand-written SQL', () => {
  const card = (id: number): NormalizedQuery => normalizeDatasetQuery(CARDS.find((c) => c.id === id)!.query);
  const c5 = card(5);
  assert.equal(c5.kind, 'native');
  if (c5.kind !== 'native') return;
  const tx = expandNativeQuery(c5.sql, c5.templateTags, values({ state: ['TX', 'CA'] }, 'string/='), resolveField);
  assert.deepEqual(all(sample, tx.sql, tx.params),
    all(sample, "SELECT STATE, COUNT(*) FROM PEOPLE WHERE STATE IN ('TX', 'CA') GROUP BY STATE ORDER BY 2 DESC, STATE"));
  const c4 = card(4);
  if (c4.kind !== 'native') return;
  const since = expandNativeQuery(c4.sql, c4.templateTags, values({ since: '2026-03-01', min_total: 150 }, 'number/='), resolveField);
  assert.deepEqual(since.params, ['2026-03-01', 150]);
  assert.deepEqual(all(sample, since.sql, since.params).length,
    (all(sample, "SELECT COUNT(*) FROM ORDERS WHERE CREATED_AT >= '2026-03-01' AND TOTAL >= 150")[0]![0]));
});

// --- mbql.ts ---------------------------------------------------------------------------------------------------------

const structured = (query: Record<string, unknown>): StructuredQuery =>
  normalizeDatasetQuery({ type: 'query', database: 1, query }) as StructuredQuery;
const run = (q: StructuredQuery, extra: Parameters<typeof compileStructuredQuery>[1] = [], d = db): unknown[][] => {
  const c = compileStructuredQuery(q, extra);
  return all(d, c.sql, c.params);
};

test('mbql: all columns of the source table in schema order, with Metabase column metadata', () => {
  const c = compileStructuredQuery(structured({ 'source-table': T('PRODUCTS') }));
  assert.equal(c.aggregated, false);
  assert.deepEqual(c.cols.map((x) => x.name), ['ID', 'EAN', 'TITLE', 'CATEGORY', 'VENDOR', 'PRICE', 'RATING', 'CREATED_AT']);
  assert.deepEqual(c.cols[3], {
    name: 'CATEGORY', display_name: 'Category', base_type: 'type/Text', effective_type: 'type/Text',
    semantic_type: 'type/Category', database_type: 'CHARACTER VARYING', source: 'fields',
    field_ref: ['field', F('PRODUCTS', 'CATEGORY'), null], id: F('PRODUCTS', 'CATEGORY'), table_id: T('PRODUCTS'),
    visibility_type: 'normal',
  });
  const rows = all(db, c.sql, c.params);
  assert.equal(rows.length, 6);
  assert.deepEqual(rows[0], [1, 'e1', 'Rustic Paper Wallet', 'Gizmo', 'Acme', 29.5, 4, '2024-01-15T10:00:00.000Z']);
  const some = compileStructuredQuery(structured({ 'source-table': T('PRODUCTS'), fields: [ref('PRODUCTS', 'TITLE'), ref('PRODUCTS', 'ID')], limit: 2 }));
  assert.deepEqual(some.cols.map((x) => x.name), ['TITLE', 'ID']);
  assert.deepEqual(some.params, [2]);
  assert.match(some.sql, /LIMIT \?$/);
  assert.deepEqual(all(db, some.sql, some.params), [['Rustic Paper Wallet', 1], ['Sleek Steel Lamp', 2]]);
});

test('mbql: each filter compiles and selects the right rows', () => {
  const p = (f: string): unknown[] => ref('PRODUCTS', f);
  const idsOf = (filter: unknown): number[] =>
    run(structured({ 'source-table': T('PRODUCTS'), fields: [p('ID')], filter, 'order-by': [['asc', p('ID')]] })).map((r) => r[0] as number);
  assert.deepEqual(idsOf(['=', p('CATEGORY'), 'Widget']), [2, 3]);
  assert.deepEqual(idsOf(['=', p('CATEGORY'), 'Widget', 'Gizmo']), [1, 2, 3]);
  assert.deepEqual(idsOf(['!=', p('CATEGORY'), 'Widget']), [1, 4, 5, 6]);
  assert.deepEqual(idsOf(['<', p('PRICE'), 60]), [1, 4]);
  assert.deepEqual(idsOf(['>', p('PRICE'), 60]), [2, 3]);
  assert.deepEqual(idsOf(['<=', p('PRICE'), 60]), [1, 4, 6]);
  assert.deepEqual(idsOf(['>=', p('PRICE'), 80]), [2, 3]);
  assert.deepEqual(idsOf(['between', p('PRICE'), 29.5, 80]), [1, 2, 6]);
  assert.deepEqual(idsOf(['contains', p('TITLE'), 'a']), [1, 2, 3, 4]);
  assert.deepEqual(idsOf(['contains', p('TITLE'), 's', { 'case-sensitive': false }]), [1, 2, 4, 5]);
  assert.deepEqual(idsOf(['does-not-contain', p('CATEGORY'), 'dget']), [1, 4, 5]);
  assert.deepEqual(idsOf(['starts-with', p('TITLE'), 'S']), [2]);
  assert.deepEqual(idsOf(['ends-with', p('TITLE'), 'Hat']), [3]);
  assert.deepEqual(idsOf(['is-null', p('CATEGORY')]), [5]);
  assert.deepEqual(idsOf(['not-null', p('CATEGORY')]), [1, 2, 3, 4, 6]);
  assert.deepEqual(idsOf(['is-empty', p('VENDOR')]), [5]);
  assert.deepEqual(idsOf(['not-empty', p('VENDOR')]), [1, 2, 3, 4, 6]);
  assert.deepEqual(idsOf(['and', ['=', p('VENDOR'), 'Bolt'], ['>', p('PRICE'), 10]]), [3]);
  assert.deepEqual(idsOf(['or', ['=', p('VENDOR'), 'Crate'], ['<', p('PRICE'), 10]]), [4, 6]);
  assert.deepEqual(idsOf(['not', ['=', p('VENDOR'), 'Acme']]), [3, 4, 6]);
  // Like Metabase, "not contains" keeps NULLs.
  assert.deepEqual(idsOf(['not', ['contains', p('CATEGORY'), 'dget']]), [1, 4, 5]);
  assert.deepEqual(idsOf(['=', ref('PRODUCTS', 'EAN'), 'e3']), [3]);
  // Date literals compare by day on date-time columns; booleans are 0/1.
  assert.deepEqual(idsOf(['=', p('CREATED_AT'), '2024-02-29']), [2]);
  assert.deepEqual(idsOf(['between', p('CREATED_AT'), '2024-01-15', '2024-03-01']), [1, 2, 3]);
  assert.deepEqual(idsOf(['>', p('CREATED_AT'), '2024-03-01']), [4, 6]);
  assert.deepEqual(idsOf(['<', p('CREATED_AT'), '2024-03-01T00:00:00Z']), [1, 2]);
  const accounts = run(structured({
    'source-table': T('ACCOUNTS'), fields: [ref('ACCOUNTS', 'ID')], filter: ['=', ref('ACCOUNTS', 'TRIAL_CONVERTED'), true],
  }));
  assert.deepEqual(accounts, [[1], [3]]);
  // A number compared with a text column (ZIP codes) still matches.
  const zip = run(structured({ 'source-table': T('PEOPLE'), fields: [ref('PEOPLE', 'ID')], filter: ['=', ref('PEOPLE', 'ZIP'), 83702, 77002] }));
  assert.deepEqual(zip, [[2], [3]]);
  // Values are bound, never spliced.
  const c = compileStructuredQuery(structured({ 'source-table': T('PRODUCTS'), filter: ['=', p('TITLE'), INJECTION] }));
  assert.doesNotMatch(c.sql, /OR '1'/);
  assert.deepEqual(c.params, [INJECTION]);
  assert.deepEqual(all(db, c.sql, c.params).map((r) => r[0]), [6]);
});

test('mbql: aggregations compute, name and describe their columns like Metabase', () => {
  const o = (f: string): unknown[] => ref('ORDERS', f);
  const c = compileStructuredQuery(structured({
    'source-table': T('ORDERS'),
    aggregation: [['count'], ['count', o('DISCOUNT')], ['sum', o('TOTAL')], ['avg', o('QUANTITY')], ['min', o('TOTAL')],
      ['max', o('CREATED_AT')], ['distinct', o('USER_ID')], ['sum', o('SUBTOTAL')]],
  }));
  assert.equal(c.aggregated, true);
  assert.deepEqual(all(db, c.sql, c.params), [[6, 2, 361.5, 3, 5.25, '2025-03-15T15:45:00.000Z', 3, 344.25]]);
  assert.deepEqual(c.cols.map((x) => [x.name, x.display_name, x.base_type, x.semantic_type]), [
    ['count', 'Count', 'type/BigInteger', 'type/Quantity'],
    ['count_2', 'Count of Discount', 'type/BigInteger', 'type/Quantity'],
    ['sum', 'Sum of Total', 'type/Float', null],
    ['avg', 'Average of Quantity', 'type/Float', 'type/Quantity'],
    ['min', 'Min of Total', 'type/Float', null],
    ['max', 'Max of Created At', 'type/DateTime', 'type/CreationTimestamp'],
    ['count_3', 'Distinct values of User ID', 'type/BigInteger', 'type/Quantity'],
    ['sum_2', 'Sum of Subtotal', 'type/Float', null],
  ]);
  assert.deepEqual(c.cols[0], {
    name: 'count', display_name: 'Count', base_type: 'type/BigInteger', effective_type: 'type/BigInteger',
    semantic_type: 'type/Quantity', source: 'aggregation', field_ref: ['aggregation', 0],
  });
  assert.deepEqual(c.cols[7]!.field_ref, ['aggregation', 7]);
  const named = compileStructuredQuery(structured({
    'source-table': T('ORDERS'), aggregation: [['aggregation-options', ['sum', o('TAX')], { name: 'tax', 'display-name': 'Tax paid' }]],
  }));
  assert.deepEqual([named.cols[0]!.name, named.cols[0]!.display_name], ['tax', 'Tax paid']);
  assert.deepEqual(all(db, named.sql), [[17.25]]);
});

test('mbql: breakouts group and sort ascending unless ordered; explicit order-by comes first', () => {
  const o = (f: string): unknown[] => ref('ORDERS', f);
  const byUser = compileStructuredQuery(structured({ 'source-table': T('ORDERS'), aggregation: [['count'], ['sum', o('TOTAL')]], breakout: [o('USER_ID')] }));
  assert.match(byUser.sql, /GROUP BY "ORDERS"\."USER_ID" ORDER BY "ORDERS"\."USER_ID" ASC$/);
  assert.deepEqual(all(db, byUser.sql), [[1, 2, 115], [2, 2, 210.25], [3, 2, 36.25]]);
  assert.deepEqual(byUser.cols.map((x) => [x.name, x.source]), [['USER_ID', 'breakout'], ['count', 'aggregation'], ['sum', 'aggregation']]);
  assert.deepEqual(byUser.cols[0]!.field_ref, ['field', F('ORDERS', 'USER_ID'), null]);
  const bySum = structured({
    'source-table': T('ORDERS'), aggregation: [['sum', o('TOTAL')]], breakout: [o('PRODUCT_ID'), o('USER_ID')],
    'order-by': [['desc', ['aggregation', 0]], ['desc', o('USER_ID')]], limit: 3,
  });
  const c = compileStructuredQuery(bySum);
  assert.match(c.sql, /ORDER BY SUM\("ORDERS"\."TOTAL"\) DESC, "ORDERS"\."USER_ID" DESC, "ORDERS"\."PRODUCT_ID" ASC LIMIT \?$/);
  assert.deepEqual(all(db, c.sql, c.params), [[3, 2, 126.25], [2, 2, 84], [2, 1, 84]]);
  // Breakout only: distinct values, no aggregation (the 2,000-row constraint applies).
  const vendors = compileStructuredQuery(structured({ 'source-table': T('PRODUCTS'), breakout: [ref('PRODUCTS', 'VENDOR')] }));
  assert.equal(vendors.aggregated, false);
  assert.deepEqual(all(db, vendors.sql), [[null], ['Acme'], ['Bolt'], ['Crate']]);
  throwsQuery(() => compileStructuredQuery(structured({
    'source-table': T('ORDERS'), aggregation: [['count']], breakout: [o('USER_ID')], 'order-by': [['asc', o('TOTAL')]],
  })), 'invalid-query', /only be ordered by its breakouts or aggregations/);
});

test('mbql: temporal breakouts bucket date-times like Metabase', () => {
  const at = (unit: string): unknown[] => ['field', F('ORDERS', 'CREATED_AT'), { 'temporal-unit': unit }];
  const byMonth = compileStructuredQuery(structured({ 'source-table': T('ORDERS'), aggregation: [['count']], breakout: [at('month')] }));
  assert.deepEqual(all(db, byMonth.sql), [
    ['2024-01-01T00:00:00Z', 2], ['2024-02-01T00:00:00Z', 1], ['2024-04-01T00:00:00Z', 1],
    ['2024-12-01T00:00:00Z', 1], ['2025-03-01T00:00:00Z', 1],
  ]);
  assert.deepEqual(byMonth.cols[0]!.field_ref, ['field', F('ORDERS', 'CREATED_AT'), { 'temporal-unit': 'month' }]);
  assert.equal(byMonth.cols[0]!.unit, 'month');
  assert.equal(byMonth.cols[0]!.display_name, 'Created At: Month');
  const q = (unit: string): unknown[][] => run(structured({ 'source-table': T('ORDERS'), aggregation: [['count']], breakout: [at(unit)] }));
  assert.deepEqual(q('year'), [['2024-01-01T00:00:00Z', 5], ['2025-01-01T00:00:00Z', 1]]);
  assert.deepEqual(q('quarter'), [['2024-01-01T00:00:00Z', 3], ['2024-04-01T00:00:00Z', 1], ['2024-10-01T00:00:00Z', 1], ['2025-01-01T00:00:00Z', 1]]);
  // 2024-01-15 (Mon) and 2024-01-20 (Sat) share the week of Sunday 2024-01-14.
  assert.deepEqual(q('week').slice(0, 2), [['2024-01-14T00:00:00Z', 2], ['2024-02-04T00:00:00Z', 1]]);
  assert.deepEqual(q('day')[0], ['2024-01-15T00:00:00Z', 1]);
  assert.deepEqual(q('hour')[0], ['2024-01-15T08:00:00Z', 1]);
  const desc = run(structured({ 'source-table': T('ORDERS'), aggregation: [['count']], breakout: [at('year')], 'order-by': [['desc', at('year')]] }));
  assert.deepEqual(desc, [['2025-01-01T00:00:00Z', 1], ['2024-01-01T00:00:00Z', 5]]);
  // Two buckets of one column get distinct names.
  const two = compileStructuredQuery(structured({ 'source-table': T('ORDERS'), aggregation: [['count']], breakout: [at('year'), at('month')] }));
  assert.deepEqual(two.cols.map((x) => x.name), ['CREATED_AT', 'CREATED_AT_2', 'count']);
});

test('mbql: dashboard filters (extraFilters) are ANDed with the query; null values are ignored', () => {
  const q = structured({ 'source-table': T('PRODUCTS'), fields: [ref('PRODUCTS', 'ID')], filter: ['>', ref('PRODUCTS', 'PRICE'), 10] });
  assert.deepEqual(run(q, [{ fieldId: F('PRODUCTS', 'CATEGORY'), parameterType: 'string/=', value: ['Widget', 'Gadget'] }]), [[2], [3], [6]]);
  assert.deepEqual(run(q, [
    { fieldId: F('PRODUCTS', 'CATEGORY'), parameterType: 'string/=', value: ['Widget', 'Gadget'] },
    { fieldId: F('PRODUCTS', 'VENDOR'), parameterType: 'category', value: 'Bolt' },
  ]), [[3]]);
  assert.deepEqual(run(q, [{ fieldId: F('PRODUCTS', 'CATEGORY'), parameterType: 'string/=', value: null }]), [[1], [2], [3], [6]]);
  assert.deepEqual(run(q, [{ fieldId: F('PRODUCTS', 'CREATED_AT'), parameterType: 'date/all-options', value: '2024-02-01~2024-03-31' }]), [[2], [3]]);
  const aggregated = structured({ 'source-table': T('ORDERS'), aggregation: [['sum', ref('ORDERS', 'TOTAL')]] });
  assert.deepEqual(run(aggregated, [{ fieldId: F('ORDERS', 'USER_ID'), parameterType: 'id', value: [1] }]), [[115]]);
  throwsQuery(() => compileStructuredQuery(q, [{ fieldId: F('ORDERS', 'TOTAL'), parameterType: 'number/=', value: 1 }]),
    'invalid-query', /not in the source table PRODUCTS; joins are not supported/);
  throwsQuery(() => compileStructuredQuery(q, [{ fieldId: F('PRODUCTS', 'PRICE'), parameterType: 'number/=', value: 'cheap' }]),
    'invalid-parameter', /expected a number, got "cheap"/);
});

test('mbql: fields of other tables (no joins) fail with invalid-query', () => {
  const q = structured({ 'source-table': T('ORDERS'), filter: ['=', ref('PRODUCTS', 'CATEGORY'), 'Widget'] });
  throwsQuery(() => compileStructuredQuery(q), 'invalid-query', /PRODUCTS\.CATEGORY.*not in the source table ORDERS/);
  throwsQuery(() => compileStructuredQuery(structured({ 'source-table': T('ORDERS'), aggregation: [['sum', ref('PRODUCTS', 'PRICE')]] })),
    'invalid-query', /joins are not supported/);
  throwsQuery(() => compileStructuredQuery(structured({ 'source-table': T('ORDERS'), fields: [ref('PEOPLE', 'NAME')] })),
    'invalid-query', /joins are not supported/);
});

test('mbql: seeded structured cards agree with hand-written SQL on the Sample Database', () => {
  const card = (id: number): StructuredQuery => normalizeDatasetQuery(CARDS.find((c) => c.id === id)!.query) as StructuredQuery;
  assert.deepEqual(run(card(1), [], sample), [[18760]]);
  assert.deepEqual(run(card(3), [], sample), all(sample, 'SELECT CATEGORY, AVG(PRICE) FROM PRODUCTS GROUP BY CATEGORY ORDER BY CATEGORY'));
  assert.deepEqual(run(card(14), [], sample),
    all(sample, "SELECT ID, TITLE, CATEGORY, PRICE FROM PRODUCTS WHERE CATEGORY = 'Gizmo' AND PRICE > 50 ORDER BY PRICE DESC LIMIT 20"));
  assert.deepEqual(run(card(3), [{ fieldId: F('PRODUCTS', 'CATEGORY'), parameterType: 'string/=', value: ['Widget'] }], sample),
    all(sample, "SELECT CATEGORY, AVG(PRICE) FROM PRODUCTS WHERE CATEGORY = 'Widget' GROUP BY CATEGORY"));
  const byMonth = structured({
    'source-table': T('ORDERS'), aggregation: [['count']],
    breakout: [['field', F('ORDERS', 'CREATED_AT'), { 'temporal-unit': 'month' }]],
  });
  assert.deepEqual(run(byMonth, [], sample),
    all(sample, "SELECT substr(CREATED_AT, 1, 7) || '-01T00:00:00Z', COUNT(*) FROM ORDERS GROUP BY 1 ORDER BY 1"));
});
