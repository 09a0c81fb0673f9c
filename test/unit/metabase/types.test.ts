/** Reading Metabase's JSON: the three dataset_query shapes, real recorded responses, and bad shapes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readDatasetQuery } from '../../../src/metabase/dataset-query.js';
import { Reader, ShapeError } from '../../../src/metabase/decode.js';
import { readCard, readCollection, readCurrentUser, readDashboard, readDatabase, readQueryResult } from '../../../src/metabase/types.js';

const recorded = JSON.parse(readFileSync(new URL('../../fixtures/metabase/recorded/cypress_sample_instance_data.json', import.meta.url), 'utf8')) as Record<string, unknown[]>;

const tags = { category: { id: 'abc', name: 'category', 'display-name': 'Category', type: 'text', required: true, default: 'Gizmo' } };

test('dataset_query: MBQL 5, legacy native and legacy MBQL read alike', () => {
  const mbql5Native = readDatasetQuery({ 'lib/type': 'mbql/query', database: 1, stages: [{ 'lib/type': 'mbql.stage/native', native: 'SELECT {{category}}', 'template-tags': tags }] });
  const legacyNative = readDatasetQuery({ type: 'native', database: 1, native: { query: 'SELECT {{category}}', 'template-tags': tags } });
  assert.deepEqual(mbql5Native, legacyNative);
  assert.deepEqual(legacyNative, {
    language: 'native', databaseId: 1, sql: 'SELECT {{category}}',
    templateTags: [{ id: 'abc', name: 'category', displayName: 'Category', type: 'text', required: true, default: 'Gizmo', widgetType: null, fieldId: null }],
  });
  const mbql5 = readDatasetQuery({ 'lib/type': 'mbql/query', database: 1, stages: [{ 'lib/type': 'mbql.stage/mbql', 'source-table': 5, aggregation: [['count', { 'lib/uuid': 'x' }]] }] });
  const legacy = readDatasetQuery({ type: 'query', database: 1, query: { 'source-table': 5, aggregation: [['count']] } });
  assert.deepEqual(mbql5, legacy);
  assert.deepEqual(legacy, { language: 'structured', databaseId: 1, sourceTableId: 5 });
});

test('dataset_query: field-filter tags in both field-ref forms; empty and unknown shapes are opaque', () => {
  const dim = (dimension: unknown) => readDatasetQuery({ type: 'native', database: 1, native: { query: 'x', 'template-tags': { s: { name: 's', type: 'dimension', dimension, 'widget-type': 'string/=' } } } });
  for (const ref of [['field', 12, null], ['field', { 'lib/uuid': 'u' }, 12]]) {
    const q = dim(ref);
    assert.ok(q.language === 'native');
    assert.equal(q.templateTags[0]!.fieldId, 12);
    assert.equal(q.templateTags[0]!.widgetType, 'string/=');
  }
  assert.deepEqual(readDatasetQuery({}), { language: 'unknown', databaseId: null });
  assert.deepEqual(readDatasetQuery(null), { language: 'unknown', databaseId: null });
  assert.deepEqual(readDatasetQuery({ 'lib/type': 'mbql/query', database: 2, stages: [{ 'lib/type': 'mbql.stage/future' }] }), { language: 'unknown', databaseId: 2 });
});

test('real v0.47 responses read: cards with `dataset` instead of `type`, users, databases, collections', () => {
  const cards = recorded['questions']!.map((c) => readCard(Reader.of(c, 'card')));
  assert.equal(cards.length, 3);
  for (const card of cards) {
    assert.ok(['question', 'model'].includes(card.type));
    assert.equal(card.query.language, 'structured');
    assert.equal(typeof card.name, 'string');
  }
  const users = recorded['users']!.map((u) => readCurrentUser(Reader.of(u, 'user')));
  assert.ok(users.every((u) => u.groupIds.includes(1)));
  assert.ok(users.some((u) => u.groupIds.includes(2) && u.isSuperuser));
  const db = readDatabase(Reader.of(recorded['databases']![0], 'database'));
  assert.equal(db.name, 'Sample Database');
  assert.equal(db.engine, 'h2');
  const collections = recorded['collections']!.map((c) => readCollection(Reader.of(c, 'collection')));
  assert.equal(collections[0]!.id, 'root');
  const dashboard = readDashboard(Reader.of(recorded['dashboards']![0], 'dashboard'));
  assert.deepEqual(dashboard.dashcards, [], 'dashboard lists come without cards');
});

test('unknown keys are ignored; optional keys may be missing', () => {
  const card = readCard(Reader.of({ id: 1, name: 'Minimal', brand_new_key: { deep: true } }, 'card'));
  assert.equal(card.type, 'question');
  assert.equal(card.description, null);
  assert.deepEqual(card.parameters, []);
  assert.equal(card.resultColumns, null);
  assert.deepEqual(card.query, { language: 'unknown', databaseId: null });
});

test('a shape that cannot be read is UPSTREAM_UNAVAILABLE; the field it names is for the log, not the client', () => {
  const detail = (pattern: RegExp) => (err: unknown) => {
    assert.ok(err instanceof ShapeError);
    assert.equal(err.extensions['code'], 'UPSTREAM_UNAVAILABLE');
    assert.equal(err.extensions['reason'], 'bad-response');
    assert.equal(err.message, 'Metabase sent an answer the gateway could not read.');
    assert.match(err.detail ?? '', pattern);
    return true;
  };
  assert.throws(() => readCard(Reader.of({ id: '1', name: 'x' }, 'card')), detail(/card\.id should be an integer, received string/));
  assert.throws(() => readQueryResult(Reader.of({ status: 'completed', row_count: 1, data: { rows: [1], cols: [] } }, 'result')), detail(/result\.data\.rows\[0\] should be an array/));
  assert.throws(() => Reader.of([], 'card'), detail(/card should be an object, received an array/));
});

test('a query result: `cached` is a timestamp on hits, rows_truncated becomes truncatedAt', () => {
  const r = readQueryResult(Reader.of({
    status: 'completed', row_count: 1, running_time: 5, started_at: 's', cached: '2026-03-05T08:00:00Z', context: 'question',
    data: { rows: [[1]], cols: [{ name: 'N', display_name: 'N', base_type: 'type/Integer', extra: 1 }], rows_truncated: 2000 },
  }, 'result'));
  assert.equal(r.cached, true);
  assert.equal(r.truncatedAt, 2000);
  assert.deepEqual(r.columns, [{ name: 'N', displayName: 'N', baseType: 'type/Integer', effectiveType: null, semanticType: null }]);
});
