/** The graph end to end: the demo stack (emulator, local issuer, gateway) queried with typed operations. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AgentSuggestFilterValuesDocument, AgentSuggestParameterValuesDocument, CollectionDocument, CollectionsDocument, DashboardWithRunsDocument, DashboardsDocument, DatabaseDocument, DatabasesDocument,
  QuestionDocument, QuestionRunDocument, QuestionsDocument, RunDashboardCardDocument, RunNativeQueryDocument, RunQuestionDocument,
  SearchDocument, ViewerDocument, type RunQuestionMutationVariables,
} from '../../../schema/generated/graphql.js';
import { codes, gql, startStack, type DemoStack } from '../../helpers/gateway.js';

describe('the graph', () => {
  let stack: DemoStack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  test('the README query: a dashboard with every card\'s result, real sample rows', async () => {
    const res = await gql(stack, 'analyst', DashboardWithRunsDocument, { id: '1' });
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    const d = res.data!.dashboard!;
    assert.equal(d.name, 'Sales overview');
    assert.deepEqual(d.tabs.map((t) => t.name), ['Overview', 'Details']);
    assert.equal(d.collection?.name, 'Sales');
    const products = d.cards.find((c) => c.question?.name === 'Products in a category')!;
    assert.equal(products.run!.status, 'COMPLETED');
    assert.ok(products.run!.rowCount > 0);
    assert.deepEqual(products.run!.columns.map((c) => c.name), ['TITLE', 'PRICE']);
    assert.equal((products.run!.rows as unknown[][])[0]!.length, 2);
    const text = d.cards.find((c) => c.text !== null)!;
    assert.match(text.text!, /Notes/);
    assert.equal(text.question, null);
    assert.equal(text.run, null, 'text cards have no run');
    const withSeries = d.cards.find((c) => c.series.length > 0)!;
    assert.equal(withSeries.series[0]!.name, 'Gizmos over $50');
    assert.deepEqual(products.parameterMappings, [{ parameterId: '6f1c2d3e', questionId: '2', target: ['variable', ['template-tag', 'category']] }]);
  });

  test('dashboard parameters by slug reach mapped cards only', async () => {
    const res = await gql(stack, 'analyst', DashboardWithRunsDocument, { id: '1', parameters: [{ slug: 'category', value: ['Gizmo'] }] });
    const byCategory = res.data!.dashboard!.cards.find((c) => c.question?.name === 'Average price by category')!;
    assert.deepEqual((byCategory.run!.rows as unknown[][]).map((r) => r[0]), ['Gizmo']);
  });

  test('restricted cards: null question, restricted flag, and a FORBIDDEN run error for that card only', async () => {
    const res = await gql(stack, 'support', DashboardWithRunsDocument, { id: '3' });
    const finance = res.data!.dashboard!.cards.find((c) => c.restricted && c.id === '36')!;
    assert.equal(finance.question, null);
    assert.equal(finance.run, null);
    assert.ok(res.errors!.some((e) => e.extensions?.code === 'FORBIDDEN' && e.path?.includes('run')));
    const orders = res.data!.dashboard!.cards.find((c) => c.question?.name === 'Orders, Count')!;
    assert.deepEqual(orders.run!.rows, [[18760]]);
  });

  test('a question: kind, language, SQL, parameters, collection, database, creator', async () => {
    const q = (await gql(stack, 'analyst', QuestionDocument, { id: '2' })).data!.question!;
    assert.equal(q.kind, 'QUESTION');
    assert.equal(q.queryLanguage, 'NATIVE');
    assert.match(q.nativeSql!, /\{\{category\}\}/);
    assert.deepEqual(q.parameters.map((p) => [p.slug, p.type, p.required, p.default]), [['category', 'category', true, 'Gizmo']]);
    assert.equal(q.collection?.name, 'Sales');
    assert.equal(q.database?.name, 'Sample Database');
    assert.equal(q.creator?.name, 'Ada Admin');
    const model = (await gql(stack, 'analyst', QuestionDocument, { id: '6' })).data!.question!;
    assert.equal(model.kind, 'MODEL');
    assert.equal(model.queryLanguage, 'STRUCTURED');
    assert.equal(model.nativeSql, null);
  });

  test('runs: parameters by id or slug, maxRows, truncation, failures as FAILED runs', async () => {
    const widget = (await gql(stack, 'analyst', QuestionRunDocument, { id: '2', parameters: [{ slug: 'category', value: 'Widget' }], maxRows: 5 })).data!.question!.run!;
    assert.equal(widget.status, 'COMPLETED');
    assert.equal(widget.rowCount, 5);
    assert.equal(widget.truncated, true);
    const byId = (await gql(stack, 'analyst', QuestionRunDocument, { id: '2', parameters: [{ id: '7d3c9f10-5b2a-4e61-9f0c-2a4b6c8d0e12', value: 'Widget' }] })).data!.question!.run!;
    assert.ok(byId.rowCount > 5);
    assert.equal(byId.truncated, false);
    const capped = (await gql(stack, 'analyst', QuestionRunDocument, { id: '17' })).data!.question!.run!;
    assert.equal(capped.rowCount, 2000);
    assert.equal(capped.truncated, true);
    const failed = (await gql(stack, 'analyst', RunNativeQueryDocument, { databaseId: '1', sql: 'SELECT NOPE FROM PRODUCTS' })).data!.runNativeQuery!;
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.error?.code, 'QUERY_FAILED');
    assert.equal(failed.error?.errorType, 'invalid-query');
  });

  test('parameter values are checked before any upstream call', async () => {
    stack.emulator.requests.reset();
    const cases: [RunQuestionMutationVariables, RegExp][] = [
      [{ id: '11', parameters: [{ slug: 'colour', value: 'x' }] }, /Unknown parameter "colour" for question 11; expected one of: product_id/],
      [{ id: '11', parameters: [] }, /Parameter "product_id" of question 11 is required: it expects a number/],
      [{ id: '11', parameters: [{ slug: 'product_id', value: 'seven' }] }, /expects a number or a list of numbers, received a string of 5 characters\./],
      [{ id: '11', parameters: [{ slug: 'product_id', id: 'x', value: 1 }] }, /exactly one of `id` or `slug`/],
    ];
    for (const [variables, message] of cases) {
      const res = await gql(stack, 'support', RunQuestionDocument, variables);
      assert.deepEqual(codes(res), ['BAD_USER_INPUT'], JSON.stringify(res.errors));
      assert.match(res.errors![0]!.message, message);
    }
    assert.equal(stack.emulator.requests.count('POST /api/card/:card-id/query'), 0, 'no run went upstream');
  });

  test('mutations: run a question, a dashboard card, ad-hoc SQL with bound variables', async () => {
    const q = (await gql(stack, 'support', RunQuestionDocument, { id: '11', parameters: [{ slug: 'product_id', value: 7 }] })).data!.runQuestion!;
    assert.equal(q.status, 'COMPLETED');
    const dc = (await gql(stack, 'analyst', RunDashboardCardDocument, { dashboardId: '1', dashboardCardId: '24', parameters: [{ slug: 'category', value: 'Widget' }] })).data!.runDashboardCard!;
    assert.deepEqual((dc.rows as unknown[][]).map((r) => r[0]), ['Widget']);
    const sql = await gql(stack, 'analyst', RunNativeQueryDocument, {
      databaseId: '1', sql: 'SELECT COUNT(*) AS N FROM PRODUCTS WHERE CATEGORY = {{c}}',
      parameters: [{ name: 'c', type: 'TEXT', value: "Gizmo' OR '1'='1" }],
    });
    assert.deepEqual(sql.data!.runNativeQuery!.rows, [[0]], 'bound literally');
    const denied = await gql(stack, 'support', RunNativeQueryDocument, { databaseId: '1', sql: 'SELECT 1' });
    assert.deepEqual(codes(denied), ['FORBIDDEN'], 'Support\'s Metabase group cannot run ad-hoc SQL');
  });

  test('questions: filters and cursor paging', async () => {
    const first = (await gql(stack, 'analyst', QuestionsDocument, { first: 3 })).data!.questions!;
    assert.equal(first.edges.length, 3);
    assert.equal(first.pageInfo.hasNextPage, true);
    const next = (await gql(stack, 'analyst', QuestionsDocument, { first: 3, after: first.pageInfo.endCursor })).data!.questions!;
    assert.equal(next.totalCount, first.totalCount);
    assert.ok(!next.edges.some((e) => first.edges.some((f) => f.node.id === e.node.id)));
    const models = (await gql(stack, 'analyst', QuestionsDocument, { kind: 'MODEL' })).data!.questions!;
    assert.ok(models.edges.length >= 2 && models.edges.every((e) => e.node.kind === 'MODEL'));
    const inSales = (await gql(stack, 'analyst', QuestionsDocument, { collectionId: '2', search: 'SINCE' })).data!.questions!;
    assert.deepEqual(inSales.edges.map((e) => e.node.id), ['4']);
    const byIds = (await gql(stack, 'analyst', QuestionsDocument, { ids: ['3', '2'] })).data!.questions!;
    assert.deepEqual(byIds.edges.map((e) => e.node.id), ['3', '2'], 'in the order asked');
    const bad = await gql(stack, 'analyst', QuestionsDocument, { after: 'not-a-cursor' });
    assert.deepEqual(codes(bad), ['BAD_USER_INPUT']);
  });

  test('dashboards, collections, databases, search, viewer', async () => {
    const dashboards = (await gql(stack, 'analyst', DashboardsDocument, { collectionId: 'root' })).data!.dashboards!;
    assert.deepEqual(dashboards.nodes.map((d) => d.name), ['Executive summary']);
    const root = (await gql(stack, 'sales', CollectionDocument, { id: 'root' })).data!.collection!;
    assert.equal(root.name, 'Our analytics');
    assert.ok(root.children.some((c) => c.name === 'Sales'));
    assert.ok(root.questions.some((q) => q.name === 'Orders, Count'));
    const regional = (await gql(stack, 'sales', CollectionDocument, { id: '3' })).data!.collection!;
    assert.equal(regional.parent?.id, '2');
    const all = (await gql(stack, 'support', CollectionsDocument)).data!.collections!;
    assert.ok(!all.some((c) => c.name === 'Finance'));
    const hidden = await gql(stack, 'analyst', CollectionDocument, { id: '5' });
    assert.deepEqual(codes(hidden), ['NOT_FOUND'], 'Metabase does not show the Analysts group Finance');
    const outside = await gql(stack, 'support', CollectionDocument, { id: '5' });
    assert.deepEqual(codes(outside), ['FORBIDDEN'], 'support\'s policy names its collections; Finance is not one');
    const db = (await gql(stack, 'analyst', DatabaseDocument, { id: '1' })).data!.database!;
    assert.equal(db.nativeQueriesAllowed, true);
    assert.equal(db.tables.length, 8);
    const orders = db.tables.find((t) => t.name === 'ORDERS')!;
    assert.ok(orders.fields.find((f) => f.name === 'USER_ID')!.foreignKeyTargetId);
    assert.deepEqual((await gql(stack, 'support', DatabasesDocument)).data!.databases!.map((d) => d.name), ['Sample Database']);
    const found = (await gql(stack, 'sales', SearchDocument, { text: 'revenue', kinds: ['METRIC'] })).data!.search!;
    assert.deepEqual(found.map((r) => [r.kind, r.name]), [['METRIC', 'Total revenue']]);
    const viewer = (await gql(stack, 'support', ViewerDocument)).data!.viewer;
    assert.deepEqual(viewer, {
      subject: 'sue', email: 'sue@example.test', name: 'Sue Support', groups: ['support'], clientId: null, clientKind: 'human',
      role: 'support', availableRoles: ['support'], noRoleReason: null,
    }, 'the support role comes from Keycloak\'s realm roles');
    const agent = await gql(stack, 'agent', ViewerDocument);
    assert.equal(agent.status, 400);
    assert.deepEqual(codes(agent), ['PERSISTED_QUERY_REQUIRED'], 'the demo\'s agent role is vetted-only: it runs vetted operations by id, not documents');
    assert.equal(agent.errors![0]!.extensions!['reason'], 'vetted-only');
  });

  test('ids that are not ids are BAD_USER_INPUT; unknown ones NOT_FOUND; nulls where Metabase denies', async () => {
    for (const id of ['abc', '0', '-1', '1.5', '99999999999999999999']) {
      const res = await gql(stack, 'analyst', QuestionDocument, { id });
      assert.deepEqual(codes(res), ['BAD_USER_INPUT'], id);
      assert.equal(res.data?.question, null);
    }
    assert.deepEqual(codes(await gql(stack, 'analyst', QuestionDocument, { id: '9999' })), ['NOT_FOUND']);
    const denied = await gql(stack, 'support', QuestionDocument, { id: '12' });
    assert.deepEqual(codes(denied), ['FORBIDDEN']);
    assert.equal(denied.data?.question, null);
  });

  test('parameter values: a filter\'s values through the role\'s key, by slug or id, searched and bounded; a bad parameter is named; reach is the role\'s', async () => {
    const values = async (as: 'analyst' | 'support' | 'sales', parameter: string, extra: { search?: string; first?: number } = {}) =>
      gql(stack, as, AgentSuggestFilterValuesDocument, { dashboardId: '1', parameter, ...extra });
    const states = (await values('analyst', 'state', { first: 100 })).data!.dashboard!.parameterValues;
    assert.equal(states.values.length, 17);
    assert.equal(states.hasMore, false);
    assert.deepEqual(states.values.map((v) => v.value), [...states.values.map((v) => v.value)].sort());
    const five = (await values('analyst', 'b7e8f9a0', { first: 5 })).data!.dashboard!.parameterValues;
    assert.deepEqual([five.values.length, five.hasMore], [5, true], 'by id, cut to `first`, and said so');
    assert.deepEqual((await values('analyst', 'category', { search: 'GIZ' })).data!.dashboard!.parameterValues.values, [{ value: 'Gizmo', label: null }]);
    assert.deepEqual((await values('analyst', 'since')).data!.dashboard!.parameterValues, { values: [], hasMore: false }, 'a date variable has no list');
    // A search of `..` would be resolved away as a path segment (another Metabase URL): it is refused, and nothing is called.
    stack.emulator.requests.reset();
    const dots = await values('analyst', 'category', { search: '..' });
    assert.deepEqual(codes(dots), ['BAD_USER_INPUT']);
    assert.equal(stack.emulator.requests.log.filter((l) => l.route.includes('/params/')).length, 0);
    assert.deepEqual((await values('analyst', 'category', { search: 'a.b' })).data!.dashboard!.parameterValues.values, [], 'other dots are a search like any');

    const unknown = await values('analyst', 'colour');
    assert.deepEqual(codes(unknown), ['BAD_USER_INPUT']);
    assert.match(unknown.errors![0]!.message, /one of Dashboard 1's parameters \(category, since, state\)/);
    for (const first of [0, 1_001]) assert.deepEqual(codes(await values('analyst', 'state', { first })), ['BAD_USER_INPUT']);
    assert.deepEqual(codes(await values('analyst', 'state', { search: 'x'.repeat(501) })), ['BAD_USER_INPUT']);
    assert.deepEqual(codes(await values('support', 'state')), ['FORBIDDEN'], 'support may not read the Sales dashboard');
    // Sales reads dashboard 1, but its category filter also draws on questions in Examples, outside sales's reach.
    const hidden = await values('sales', 'category');
    assert.deepEqual([codes(hidden), hidden.errors?.[0]?.extensions?.['reason']], [['FORBIDDEN'], 'collection']);
    assert.equal((await values('sales', 'state')).data!.dashboard!.parameterValues.values.length, 17, 'the state filter draws on Regional only');

    const text = await gql(stack, 'analyst', AgentSuggestParameterValuesDocument, { questionId: '2', parameter: 'category' });
    assert.deepEqual(text.data!.question!.parameterValues, { values: [], hasMore: false }, 'a text variable has no list');
    const field = await gql(stack, 'analyst', AgentSuggestParameterValuesDocument, { questionId: '16', parameter: 'category' });
    assert.deepEqual(field.data!.question!.parameterValues.values.map((v) => v.value), ['Doohickey', 'Gadget', 'Gizmo', 'Widget']);
  });
});
