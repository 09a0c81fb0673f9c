/**
 * The shapes the emulator serves (API-CONTRACT.md §4.1–§4.13), checked against the contract and
 * against the key names of real responses Metabase recorded (fixtures/recorded), plus the group
 * permissions of §7: who sees which collection, card and dashboard.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { asRecord, emulator, groupKeys, raw, type Emulator } from '../../helpers/emulator.js';

const recorded = JSON.parse(readFileSync(new URL('../../fixtures/metabase/recorded/cypress_sample_instance_data.json', import.meta.url), 'utf8')) as Record<string, Record<string, unknown>[]>;

/** Keys of a recorded object that the emulator's object lacks, less the ones the contract says were renamed. */
const missingKeys = (recordedObject: Record<string, unknown>, served: Record<string, unknown>, renamed: string[] = []): string[] =>
  Object.keys(recordedObject).filter((k) => !(k in served) && !renamed.includes(k));

describe('emulator content and permissions', () => {
  let e: Emulator;
  let admin: string;
  let analyst: string;
  let sales: string;
  let support: string;
  let allUsers: string;
  before(async () => {
    e = await emulator();
    ({ admin, analyst, sales, support, allUsers } = groupKeys(e));
  });
  after(() => e.close());

  const get = async (key: string, path: string): Promise<unknown> => {
    const res = await raw(e, 'GET', path, { key });
    assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 200)}`);
    assert.ok(res.headers.get('x-metabase-version'), 'successful responses carry x-metabase-version');
    return res.json;
  };

  test('recorded key names: cards, dashboards, users, databases and collections have every key Metabase sent', async () => {
    const card = asRecord(await get(admin, '/api/card/1'));
    // v0.49 replaced `dataset` with `type` (API-CONTRACT.md, version notes).
    assert.deepEqual(missingKeys(recorded['questions']![0]!, card, ['dataset']), []);
    assert.ok(['question', 'model', 'metric'].includes(String(card['type'])));
    const dashboards = (await get(admin, '/api/dashboard')) as Record<string, unknown>[];
    assert.deepEqual(missingKeys(recorded['dashboards']![0]!, dashboards[0]!), []);
    assert.equal(dashboards[0]!['dashcards'], undefined, 'dashboard lists come without dashcards');
    const me = asRecord(await get(admin, '/api/user/current'));
    assert.deepEqual(missingKeys(recorded['users']![0]!, me), []);
    const dbs = asRecord(await get(admin, '/api/database'));
    assert.deepEqual(missingKeys(recorded['databases']![0]!, (dbs['data'] as Record<string, unknown>[])[0]!), []);
    const collections = (await get(admin, '/api/collection')) as Record<string, unknown>[];
    // `color` belongs to old personal collections; the contract's v0.57+ collection fields do not have it.
    for (const c of recorded['collections']!) assert.deepEqual(missingKeys(c, collections[c['id'] === 'root' ? 0 : 1]!, ['color']), [], String(c['name']));
  });

  test('a card: MBQL 5 by default, legacy with legacy-mbql=true, parameters mirroring its template tags', async () => {
    const card = asRecord(await get(analyst, '/api/card/2'));
    assert.equal(card['query_type'], 'native');
    const q = asRecord(card['dataset_query']);
    assert.equal(q['lib/type'], 'mbql/query');
    assert.equal(q['database'], 1);
    const stage = asRecord((q['stages'] as unknown[])[0]);
    assert.equal(stage['lib/type'], 'mbql.stage/native');
    assert.match(String(stage['native']), /\{\{category\}\}/);
    const tag = asRecord(asRecord(stage['template-tags'])['category']);
    assert.equal(tag['name'], 'category');
    const [param] = card['parameters'] as Record<string, unknown>[];
    assert.equal(param!['id'], tag['id'], 'card.parameters[].id equals its template tag id');
    assert.deepEqual(param!['target'], ['variable', ['template-tag', 'category']]);

    const legacy = asRecord(asRecord(await get(analyst, '/api/card/2?legacy-mbql=true'))['dataset_query']);
    assert.equal(legacy['type'], 'native');
    assert.equal(asRecord(legacy['native'])['query'], stage['native']);

    const structured = asRecord(asRecord(await get(analyst, '/api/card/3?legacy-mbql=true'))['dataset_query']);
    assert.equal(structured['type'], 'query');
    assert.equal(asRecord(structured['query'])['source-table'], 8);
    const mbql5 = asRecord(asRecord(await get(analyst, '/api/card/3'))['dataset_query']);
    assert.equal(asRecord((mbql5['stages'] as unknown[])[0])['lib/type'], 'mbql.stage/mbql');
  });

  test('cards by entity_id, and at least 12 cards of all three types and both query kinds', async () => {
    const card = asRecord(await get(analyst, '/api/card/7'));
    const byEntity = asRecord(await get(analyst, `/api/card/${String(card['entity_id'])}`));
    assert.equal(byEntity['id'], 7);
    const cards = (await get(admin, '/api/card')) as Record<string, unknown>[];
    assert.ok(cards.length >= 12);
    assert.deepEqual([...new Set(cards.map((c) => c['type']))].sort(), ['metric', 'model', 'question']);
    assert.deepEqual([...new Set(cards.map((c) => c['query_type']))].sort(), ['native', 'query']);
    const types = new Set(cards.flatMap((c) => (c['parameters'] as Record<string, unknown>[]).map((p) => p['type'])));
    assert.ok(types.size >= 4, `parameter types: ${[...types].join(', ')}`);
    assert.ok(cards.every((c) => c['archived'] === false), 'f=all leaves archived cards out');
    const archived = (await get(admin, '/api/card?f=archived')) as Record<string, unknown>[];
    assert.ok(archived.length >= 1 && archived.every((c) => c['archived'] === true));
    const onTable = (await get(admin, '/api/card?f=table&model_id=8')) as Record<string, unknown>[];
    assert.ok(onTable.length >= 2 && onTable.every((c) => c['table_id'] === 8));
  });

  test('collections: readable ones only, root first, restricted branch hidden, personal collections private', async () => {
    const names = async (key: string): Promise<unknown[]> => ((await get(key, '/api/collection')) as Record<string, unknown>[]).map((c) => c['name']);
    const forAdmin = await names(admin);
    assert.equal(forAdmin[0], 'Our analytics');
    assert.ok(forAdmin.includes('Finance') && forAdmin.includes('Payroll'));
    const forSupport = await names(support);
    assert.equal(forSupport[0], 'Our analytics');
    assert.ok(forSupport.includes('Support') && !forSupport.includes('Finance') && !forSupport.includes('Sales'));
    assert.ok(!forSupport.some((n) => String(n).includes('Personal Collection')), 'API-key users own no personal collection');
    assert.equal((await raw(e, 'GET', '/api/collection/5', { key: analyst })).status, 403);
    assert.equal((await raw(e, 'GET', '/api/collection/99', { key: analyst })).status, 404);
    const regional = asRecord(await get(sales, '/api/collection/3'));
    assert.equal(regional['location'], '/2/');
    assert.deepEqual((regional['effective_ancestors'] as Record<string, unknown>[]).map((a) => a['id']), ['root', 2]);
    const root = asRecord(await get(sales, '/api/collection/root'));
    assert.equal(root['id'], 'root');
    assert.equal(root['can_write'], false);
  });

  test('collection items: envelope, item models per card type, sub-collections with here/below', async () => {
    const items = asRecord(await get(sales, '/api/collection/2/items'));
    const data = items['data'] as Record<string, unknown>[];
    const models = Object.fromEntries(data.map((i) => [i['name'], i['model']]));
    assert.equal(models['Customers'], 'dataset', 'a model is listed as "dataset"');
    assert.equal(models['Total revenue'], 'metric');
    assert.equal(models['Products in a category'], 'card');
    assert.equal(models['Sales overview'], 'dashboard');
    const regional = data.find((i) => i['model'] === 'collection')!;
    assert.equal(regional['name'], 'Regional');
    assert.deepEqual(regional['here'], ['card']);
    const onlyDashboards = asRecord(await get(sales, '/api/collection/2/items?models=dashboard'));
    assert.ok((onlyDashboards['data'] as Record<string, unknown>[]).every((i) => i['model'] === 'dashboard'));
    assert.deepEqual(onlyDashboards['models'], ['dashboard']);
    const root = asRecord(await get(analyst, '/api/collection/root/items?models=collection'));
    const first = (root['data'] as Record<string, unknown>[])[0]!;
    assert.equal(first['authority_level'], 'official', 'official collections sort first');
    assert.equal((await raw(e, 'GET', '/api/collection/5/items', { key: sales })).status, 403);
    const trash = asRecord(await get(admin, '/api/collection/trash/items'));
    assert.ok((trash['data'] as Record<string, unknown>[]).every((i) => i['archived'] === true) && Number(trash['total']) >= 2);
  });

  test('collection tree: nested children, readable nodes only', async () => {
    const tree = (await get(sales, '/api/collection/tree')) as Record<string, unknown>[];
    const salesNode = tree.find((n) => n['name'] === 'Sales')!;
    assert.deepEqual((salesNode['children'] as Record<string, unknown>[]).map((c) => c['name']), ['Regional']);
    assert.ok(!tree.some((n) => n['name'] === 'Finance'));
    const shallow = (await get(sales, '/api/collection/tree?shallow=true')) as Record<string, unknown>[];
    assert.ok(shallow.every((n) => (n['children'] as unknown[]).length === 0));
  });

  test('a dashboard: tabs, parameters, dashcards with mappings, text cards and series', async () => {
    const d = asRecord(await get(sales, '/api/dashboard/1'));
    assert.deepEqual((d['tabs'] as Record<string, unknown>[]).map((t) => t['name']), ['Overview', 'Details']);
    assert.equal((d['parameters'] as unknown[]).length, 3);
    const dashcards = d['dashcards'] as Record<string, unknown>[];
    const text = dashcards.find((dc) => dc['card_id'] === null)!;
    assert.equal(asRecord(text['card'])['display'], 'text');
    assert.match(String(asRecord(text['visualization_settings'])['text']), /Notes/);
    const withSeries = dashcards.find((dc) => (dc['series'] as unknown[]).length > 0)!;
    assert.equal(asRecord((withSeries['series'] as unknown[])[0])['id'], 14);
    const mapped = dashcards.find((dc) => dc['card_id'] === 2)!;
    assert.deepEqual(mapped['parameter_mappings'], [{ parameter_id: '6f1c2d3e', card_id: 2, target: ['variable', ['template-tag', 'category']] }]);
    assert.notEqual(mapped['id'], mapped['card_id'], 'dashcard ids and card ids differ');
    assert.equal(asRecord(mapped['card'])['name'], 'Products in a category', 'readable cards come whole');
  });

  test('unreadable cards on a readable dashboard keep their place, cut down to {id}', async () => {
    const d = asRecord(await get(support, '/api/dashboard/3'));
    const cards = Object.fromEntries((d['dashcards'] as Record<string, unknown>[]).filter((dc) => dc['card_id'] !== null).map((dc) => [dc['card_id'], dc['card']]));
    assert.deepEqual(cards[12], { id: 12 }, 'Finance card');
    assert.deepEqual(cards[8], { id: 8 }, 'Sales card');
    assert.equal(asRecord(cards[1])['name'], 'Orders, Count');
    const forAdmin = asRecord(await get(admin, '/api/dashboard/3'));
    assert.ok((forAdmin['dashcards'] as Record<string, unknown>[]).every((dc) => dc['card_id'] === null || asRecord(dc['card'])['name']));
    assert.equal((await raw(e, 'GET', '/api/dashboard/4', { key: support })).status, 403);
    assert.equal((await raw(e, 'GET', '/api/dashboard/404', { key: support })).status, 404);
  });

  test('databases: {data,total} envelope; metadata with tables and fields; blocked access sees names only', async () => {
    const list = asRecord(await get(analyst, '/api/database'));
    assert.equal(list['total'], 1);
    const db = (list['data'] as Record<string, unknown>[])[0]!;
    assert.equal(db['name'], 'Sample Database');
    assert.equal(db['native_permissions'], 'write');
    const forSupport = asRecord(await get(support, '/api/database'));
    assert.equal((forSupport['data'] as Record<string, unknown>[])[0]!['native_permissions'], 'none');
    const withTables = asRecord(await get(analyst, '/api/database?include=tables'));
    assert.equal(((withTables['data'] as Record<string, unknown>[])[0]!['tables'] as unknown[]).length, 8);
    const meta = asRecord(await get(analyst, '/api/database/1/metadata'));
    const tables = meta['tables'] as Record<string, unknown>[];
    assert.deepEqual(tables.map((t) => t['name']).sort(), ['ACCOUNTS', 'ANALYTIC_EVENTS', 'FEEDBACK', 'INVOICES', 'ORDERS', 'PEOPLE', 'PRODUCTS', 'REVIEWS']);
    const orders = tables.find((t) => t['name'] === 'ORDERS')!;
    assert.equal(orders['schema'], 'PUBLIC');
    const userId = (orders['fields'] as Record<string, unknown>[]).find((f) => f['name'] === 'USER_ID')!;
    assert.equal(userId['semantic_type'], 'type/FK');
    const people = tables.find((t) => t['name'] === 'PEOPLE')!;
    assert.equal(userId['fk_target_field_id'], (people['fields'] as Record<string, unknown>[]).find((f) => f['name'] === 'ID')!['id']);
    const blocked = asRecord(await get(allUsers, '/api/database/1/metadata'));
    assert.deepEqual(Object.keys(blocked).sort(), ['id', 'name', 'tables']);
    assert.equal((await raw(e, 'GET', '/api/database/2/metadata', { key: analyst })).status, 404);
  });

  test('search: envelope, readable items only, ids with exactly one model', async () => {
    const res = asRecord(await get(support, '/api/search?q=revenue'));
    for (const k of ['data', 'total', 'limit', 'offset', 'models', 'available_models', 'table_db_id']) assert.ok(k in res, k);
    const names = (res['data'] as Record<string, unknown>[]).map((r) => r['name']);
    assert.ok(!names.includes('Total revenue'), 'Sales cards are not readable by Support');
    const forSales = asRecord(await get(sales, '/api/search?q=revenue&models=metric'));
    assert.deepEqual((forSales['data'] as Record<string, unknown>[]).map((r) => r['name']), ['Total revenue']);
    const byIds = asRecord(await get(admin, '/api/search?models=card&ids=2&ids=4'));
    assert.deepEqual((byIds['data'] as Record<string, unknown>[]).map((r) => r['id']).sort(), [2, 4]);
    const paged = asRecord(await get(admin, '/api/search?limit=3&offset=0'));
    assert.equal((paged['data'] as unknown[]).length, 3);
    assert.ok(Number(paged['total']) > 3);
  });

  test('search-only models: segments, actions and indexed entities, with Metabase\'s fields, to whoever may see them', async () => {
    const rows = async (key: string, query = ''): Promise<Record<string, unknown>[]> =>
      (asRecord(await get(key, `/api/search${query}`))['data'] as Record<string, unknown>[]);
    const all = asRecord(await get(admin, '/api/search'));
    for (const m of ['segment', 'action', 'indexed-entity']) assert.ok((all['available_models'] as string[]).includes(m), m);

    const [segment] = await rows(admin, '?models=segment&q=large');
    const { created_at: createdAt, updated_at: updatedAt, last_edited_at: editedAt, table_description: tableDescription, ...fields } = segment!;
    for (const v of [createdAt, updatedAt, editedAt]) assert.match(String(v), /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(typeof tableDescription, 'string');
    assert.deepEqual(fields, {
      id: 1, model: 'segment', name: 'Large orders', description: 'Orders with a total of $100 or more.', archived: false,
      collection: { id: null, name: null, authority_level: null, type: null }, collection_position: null,
      database_id: 1, table_id: 5, table_name: 'ORDERS', table_schema: 'PUBLIC', moderated_status: null, dashboard: null,
      creator_id: 1, creator_common_name: 'Ada Admin', last_editor_id: 1, last_editor_common_name: 'Ada Admin', scores: [],
    });

    const actions = await rows(admin, '?models=action');
    const shipped = actions.find((a) => a['name'] === 'Mark order as shipped')!;
    assert.equal(shipped['model'], 'action');
    assert.ok(Number.isInteger(shipped['id']));
    assert.equal(shipped['model_id'], 6, 'on the Customers model');
    assert.equal(shipped['model_name'], 'Customers');
    assert.equal(asRecord(shipped['collection'])['id'], 2, "in the model's collection");
    assert.equal(shipped['database_id'], 1);

    const entities = await rows(admin, '?models=indexed-entity');
    assert.ok(entities.length >= 1);
    for (const x of entities) {
      assert.equal(x['model'], 'indexed-entity');
      assert.ok(Number.isInteger(x['id']), 'the row\'s primary key');
      assert.equal(x['model_id'], 7);
      assert.equal(asRecord(x['collection'])['id'], 1);
      assert.equal(x['archived'], null, 'indexed entities have no archived flag');
      const res = await raw(e, 'POST', '/api/dataset', { key: admin, body: { database: 1, type: 'native', native: { query: `SELECT TITLE FROM PRODUCTS WHERE ID = ${Number(x['id'])}` } } });
      assert.deepEqual(asRecord(asRecord(res.json)['data'])['rows'], [[x['name']]], 'named by the indexed value of that row');
    }
    assert.deepEqual((await rows(admin, '?models=segment&ids=2')).map((r) => r['name']), ['Five-star reviews']);
    assert.deepEqual(new Set((await rows(admin, '?models=segment&models=action')).map((r) => r['model'])), new Set(['segment', 'action']));

    // Who sees what: segments with the Sample Database's data, actions and entities with their model's collection.
    const seen = async (key: string): Promise<string[]> =>
      (await rows(key, '?models=segment&models=action&models=indexed-entity&limit=100')).map((r) => `${String(r['model'])}:${String(r['id'])}`).sort();
    const entityIds = entities.map((x) => `indexed-entity:${String(x['id'])}`);
    assert.deepEqual(await seen(allUsers), [], 'blocked data, and neither model\'s collection');
    assert.deepEqual(await seen(support), ['action:2', ...entityIds, 'segment:1', 'segment:2'].sort(), 'Examples, not Sales');
    assert.deepEqual(await seen(sales), ['action:1', 'action:2', ...entityIds, 'segment:1', 'segment:2'].sort());
    const noSegments = asRecord(await get(allUsers, '/api/search'));
    assert.ok(!(noSegments['available_models'] as string[]).some((m) => ['segment', 'action', 'indexed-entity'].includes(m)));

    assert.deepEqual((await rows(sales, '?collection=2&models=action&models=segment')).map((r) => r['name']), ['Mark order as shipped'], 'segments live outside collections');
    assert.deepEqual(await rows(admin, '?archived=true&models=segment&models=action&models=indexed-entity'), []);
    assert.deepEqual(await rows(admin, '?table_db_id=2&models=segment&models=action&models=indexed-entity'), []);
  });

  test('users: a paged envelope for administrators; the Trash collection', async () => {
    const users = asRecord(await get(admin, '/api/user?limit=2'));
    assert.equal(users['total'], 6);
    assert.equal((users['data'] as unknown[]).length, 2);
    assert.equal(users['limit'], 2);
    assert.equal((await raw(e, 'GET', '/api/user', { key: sales })).status, 403);
    const trash = asRecord(await get(sales, '/api/collection/trash'));
    assert.equal(trash['type'], 'trash');
  });

  test('groups: administrators see the six groups sorted by name; scoped keys get 403', async () => {
    const groups = (await get(admin, '/api/permissions/group')) as Record<string, unknown>[];
    assert.deepEqual(groups.map((g) => g['name']), ['Administrators', 'Agents', 'All Users', 'Analysts', 'Sales', 'Support']);
    assert.equal(groups.find((g) => g['name'] === 'All Users')!['id'], 1);
    assert.equal(groups.find((g) => g['name'] === 'Administrators')!['id'], 2);
    assert.equal((await raw(e, 'GET', '/api/permissions/group', { key: analyst })).status, 403);
    const graph = asRecord(await get(admin, '/api/permissions/graph'));
    assert.equal(asRecord(asRecord(asRecord(graph['groups'])['3'])['1'])['create-queries'], 'query-builder-and-native');
    const members = asRecord(await get(admin, '/api/permissions/group/4'));
    assert.ok((members['members'] as unknown[]).length >= 2, 'a person and the group\'s API key');
  });

  test('cards to dashboards in one call, with unreadable dashboards marked', async () => {
    const res = await raw(e, 'POST', '/api/cards/dashboards', { key: support, body: { card_ids: [12, 11] } });
    assert.equal(res.status, 200);
    const [twelve, eleven] = res.json as Record<string, unknown>[];
    assert.deepEqual(twelve!['dashboards'], [{ id: 3, name: 'Executive summary' }, { error: 'unreadable-dashboard' }]);
    assert.deepEqual(eleven!['dashboards'], [{ id: 2, name: 'Support desk' }]);
    assert.equal((await raw(e, 'POST', '/api/cards/dashboards', { key: support, body: { card_ids: 'x' } })).status, 400);
  });
});
