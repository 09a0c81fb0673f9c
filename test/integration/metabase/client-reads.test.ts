/** The Metabase client's reads, run against the emulator: one test per endpoint, plus its error paths. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetabaseClient } from '../../../src/metabase/client.js';
import { emulator, type Emulator } from '../../helpers/emulator.js';
import { groupClients, rejectsWith } from '../../helpers/metabase.js';

describe('Metabase client: reads', () => {
  let e: Emulator;
  let admin: MetabaseClient;
  let analyst: MetabaseClient;
  let sales: MetabaseClient;
  let support: MetabaseClient;
  before(async () => {
    e = await emulator();
    ({ admin, analyst, sales, support } = groupClients(e));
  });
  after(async () => {
    await Promise.all([admin, analyst, sales, support].map((c) => c.close()));
    await e.close();
  });

  test('health', async () => {
    assert.deepEqual(await support.health(), { status: 'ok' });
  });

  test('current user: the key\'s synthetic user in All Users and its group', async () => {
    const me = await sales.currentUser();
    assert.equal(me.firstName, 'Sales key');
    assert.deepEqual(me.groupIds, [1, 4]);
    assert.equal(me.isSuperuser, false);
    assert.equal((await admin.currentUser()).isSuperuser, true);
  });

  test('cards: lists only readable cards; reads a native card in MBQL 5 and legacy alike', async () => {
    const supportCards = await support.listCards();
    assert.ok(supportCards.every((c) => c.collectionId === null || c.collectionId === 1 || c.collectionId === 4));
    assert.ok(supportCards.some((c) => c.name === 'Low-rated reviews'));
    for (const legacyMbql of [false, true]) {
      const card = await analyst.getCard(2, { legacyMbql });
      assert.equal(card.type, 'question');
      assert.equal(card.query.language, 'native');
      assert.ok(card.query.language === 'native' && /\{\{category\}\}/.test(card.query.sql));
      assert.deepEqual(card.query.language === 'native' && card.query.templateTags.map((t) => [t.name, t.type, t.required, t.default]), [['category', 'text', true, 'Gizmo']]);
      assert.equal(card.parameters[0]!.slug, 'category');
      assert.equal(card.databaseId, 1);
    }
    const model = await analyst.getCard(6);
    assert.equal(model.type, 'model');
    assert.deepEqual(model.query, { language: 'structured', databaseId: 1, sourceTableId: 3 });
    const metric = await sales.getCard(8, { legacyMbql: true });
    assert.equal(metric.type, 'metric');
    assert.equal(metric.query.language, 'structured');
    const fieldFilter = await sales.getCard(5);
    assert.ok(fieldFilter.query.language === 'native');
    const tag = fieldFilter.query.language === 'native' ? fieldFilter.query.templateTags[0]! : undefined;
    assert.equal(tag?.widgetType, 'string/=');
    assert.equal(typeof tag?.fieldId, 'number');
  });

  test('cards: by entity id; NOT_FOUND and FORBIDDEN carry Metabase\'s message as log-only detail', async () => {
    const card = await analyst.getCard(7);
    assert.equal((await analyst.getCard(card.entityId!)).id, 7);
    const missing = await rejectsWith(analyst.getCard(9999), 'NOT_FOUND', { detail: /GET \/api\/card\/9999 answered 404: Not found\./ });
    assert.equal(missing.extensions['upstreamStatus'], 404);
    await rejectsWith(support.getCard(12), 'FORBIDDEN', { detail: /You don't have permissions to do that\./ });
    await rejectsWith(analyst.getCard('not-an-id'), 'BAD_USER_INPUT', { detail: /id/ });
  });

  test('dashboards: list without cards; one with tabs, text cards, series, mappings and restricted cards', async () => {
    const list = await sales.listDashboards();
    assert.ok(list.some((d) => d.name === 'Sales overview'));
    assert.ok(list.every((d) => d.dashcards.length === 0));
    const d = await sales.getDashboard(1);
    assert.deepEqual(d.tabs.map((t) => t.name), ['Overview', 'Details']);
    assert.deepEqual(d.parameters.map((p) => p.slug), ['category', 'since', 'state']);
    const text = d.dashcards.find((dc) => dc.cardId === null)!;
    assert.match(text.text ?? '', /## Notes/);
    assert.equal(text.card, null);
    const withSeries = d.dashcards.find((dc) => dc.series.length > 0)!;
    assert.equal(withSeries.series[0]!.id, 14);
    assert.deepEqual(d.dashcards.find((dc) => dc.cardId === 2)!.parameterMappings, [{ parameterId: '6f1c2d3e', cardId: 2, target: ['variable', ['template-tag', 'category']] }]);
    const exec = await support.getDashboard(3);
    const finance = exec.dashcards.find((dc) => dc.cardId === 12)!;
    assert.deepEqual(finance.card, { id: 12, restricted: true });
    assert.equal((exec.dashcards.find((dc) => dc.cardId === 1)!.card as { name: string }).name, 'Orders, Count');
    await rejectsWith(support.getDashboard(4), 'FORBIDDEN');
    await rejectsWith(support.getDashboard(999), 'NOT_FOUND');
  });

  test('collections: list, root, one, items with paging, tree', async () => {
    const all = await sales.listCollections();
    assert.equal(all[0]!.id, 'root');
    assert.ok(all.some((c) => c.name === 'Regional' && c.location === '/2/'));
    const root = await sales.getCollection('root');
    assert.equal(root.name, 'Our analytics');
    assert.equal((await sales.getCollection(3)).name, 'Regional');
    await rejectsWith(sales.getCollection(5), 'FORBIDDEN');
    const page = await sales.getCollectionItems(2, { models: ['card', 'dataset', 'metric'], limit: 2, offset: 0 });
    assert.equal(page.data.length, 2);
    assert.ok(page.total > 2);
    assert.equal(page.limit, 2);
    const next = await sales.getCollectionItems(2, { models: ['card', 'dataset', 'metric'], limit: 2, offset: 2 });
    assert.equal(new Set([...page.data, ...next.data].map((i) => i.id)).size, page.data.length + next.data.length, 'pages do not overlap');
    const rootItems = await sales.getCollectionItems('root');
    assert.ok(rootItems.data.some((i) => i.model === 'collection' && i.name === 'Sales'));
    const tree = await sales.getCollectionTree();
    assert.deepEqual(tree.find((n) => n.name === 'Sales')!.children.map((c) => c.name), ['Regional']);
    await rejectsWith(sales.getCollectionItems(2, { limit: -1 }), 'BAD_USER_INPUT', { detail: /Error parsing paging parameters/ });
  });

  test('databases: list, one, metadata with tables and fields', async () => {
    const dbs = await analyst.listDatabases({ includeTables: true });
    assert.equal(dbs.total, 1);
    assert.equal(dbs.data[0]!.tables.length, 8);
    const db = await support.getDatabase(1);
    assert.equal(db.nativePermissions, 'none');
    const meta = await analyst.getDatabaseMetadata(1);
    const orders = meta.tables.find((t) => t.name === 'ORDERS')!;
    assert.equal(orders.fields.length, 9);
    assert.equal(orders.fields.find((f) => f.name === 'TOTAL')!.baseType, 'type/Float');
    await rejectsWith(analyst.getDatabaseMetadata(7), 'NOT_FOUND');
  });

  test('search: text, one model by ids, paging; several models with ids is refused before any call', async () => {
    const found = await sales.search({ q: 'orders' });
    assert.ok(found.data.some((r) => r.name === 'Orders since a date' && r.model === 'card'));
    const byIds = await admin.search({ models: ['card'], ids: [2, 4] });
    assert.deepEqual(byIds.data.map((r) => r.id).sort(), [2, 4]);
    const paged = await admin.search({ limit: 2, offset: 0 });
    assert.equal(paged.data.length, 2);
    const before = e.requests.count();
    await rejectsWith(admin.search({ models: ['card', 'dashboard'], ids: [1] }), 'BAD_USER_INPUT', { message: /exactly one model/ });
    assert.equal(e.requests.count(), before, 'no upstream call was made');
  });

  test('groups: administrators only', async () => {
    const groups = await admin.listGroups();
    assert.deepEqual(groups.map((g) => g.name), ['Administrators', 'Agents', 'All Users', 'Analysts', 'Sales', 'Support']);
    await rejectsWith(analyst.listGroups(), 'FORBIDDEN');
  });

  test('cards to dashboards in one call', async () => {
    const [twelve] = await support.cardDashboards([12]);
    assert.deepEqual(twelve, { cardId: 12, dashboards: [{ id: 3, name: 'Executive summary' }, { error: 'unreadable-dashboard' }] });
  });
});
