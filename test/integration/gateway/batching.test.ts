/**
 * Upstream calls per request, counted by the emulator: loaders dedupe, batch and prime each other,
 * so the cost of a request follows the graph asked for, not the number of objects in it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { DashboardWithRunsDocument, QuestionsDocument } from '../../../schema/generated/graphql.js';
import { gql, startStack, type DemoStack } from '../../helpers/gateway.js';

const RUNS = 'POST /api/dashboard/:dashboard-id/dashcard/:dashcard-id/card/:card-id/query';

/** Upstream calls other than query runs. */
const nonRunCalls = (counts: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).filter(([k]) => !k.endsWith('/query')));

describe('batching and deduplication', () => {
  let stack: DemoStack;
  before(async () => {
    stack = await startStack({ QUESTIONS_LIST_THRESHOLD: '5', DASHBOARD_RUN_CONCURRENCY: '2', CACHE: 'off' });
  });
  after(() => stack.close());

  test('a dashboard with its cards, their collections and databases: 3 calls besides the runs', async () => {
    stack.emulator.requests.reset();
    const res = await gql(stack, 'analyst', DashboardWithRunsDocument, { id: '1' });
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    const cards = res.data!.dashboard!.cards.filter((c) => c.question);
    assert.ok(cards.length >= 4 && cards.every((c) => c.question!.collection && c.question!.database));
    assert.deepEqual(nonRunCalls(stack.emulator.requests.snapshot()), {
      'GET /api/collection': 1, 'GET /api/dashboard/:id': 1, 'GET /api/database': 1,
    });
    assert.equal(stack.emulator.requests.count(RUNS), cards.length, 'one run per question card');
  });

  test('any object asked for twice in one request is fetched once', async () => {
    const twice = parse(`query { a: question(id: 2) { name collection { name } } b: question(id: 2) { name database { name } }
      c: dashboard(id: 1) { name } d: dashboard(id: 1) { tabs { name } } e: collection(id: 2) { name } f: collections { id } }`) as TypedDocumentNode<unknown, unknown>;
    stack.emulator.requests.reset();
    const res = await gql(stack, 'analyst', twice, {});
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.deepEqual(stack.emulator.requests.snapshot(), {
      'GET /api/card/:id': 1, 'GET /api/collection': 1, 'GET /api/dashboard/:id': 1, 'GET /api/database': 1,
    });
  });

  test('questions embedded in a loaded dashboard prime the card loader', async () => {
    // Mutations run in order, so the second one finds question 2 already loaded with dashboard 1.
    const doc = parse(`mutation { a: runDashboardCard(dashboardId: 1, dashboardCardId: 22) { rowCount }
      b: runQuestion(id: 2) { rowCount } }`) as TypedDocumentNode<unknown, unknown>;
    stack.emulator.requests.reset();
    const res = await gql(stack, 'analyst', doc, {});
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.equal(stack.emulator.requests.count('GET /api/dashboard/:id'), 1);
    assert.equal(stack.emulator.requests.count('GET /api/card/:id'), 0);
  });

  test('questions(ids): one call per id up to the threshold, one list call above it', async () => {
    stack.emulator.requests.reset();
    const few = await gql(stack, 'analyst', QuestionsDocument, { ids: ['1', '2', '3', '4'] });
    assert.equal(few.data!.questions!.edges.length, 4);
    assert.equal(stack.emulator.requests.count('GET /api/card/:id'), 4);
    assert.equal(stack.emulator.requests.count('GET /api/card'), 0);
    stack.emulator.requests.reset();
    const many = await gql(stack, 'analyst', QuestionsDocument, { ids: ['1', '2', '3', '4', '5', '6', '7'] });
    assert.equal(many.data!.questions!.edges.length, 7);
    assert.equal(stack.emulator.requests.count('GET /api/card'), 1);
    assert.equal(stack.emulator.requests.count('GET /api/card/:id'), 0);
  });

  test('a dashboard\'s card runs go out concurrently, up to the cap', async () => {
    stack.emulator.knobs.latencyMs = 80;
    try {
      const doc = parse('query { dashboard(id: 1) { cards { run { rowCount } } } }') as TypedDocumentNode<unknown, unknown>;
      stack.emulator.requests.reset();
      const res = await gql(stack, 'analyst', doc, {});
      assert.equal(res.errors, undefined);
      const runs = stack.emulator.requests.count(RUNS);
      assert.ok(runs >= 5);
      assert.equal(stack.emulator.requests.peakInFlight, 2, 'DASHBOARD_RUN_CONCURRENCY=2, and the runs overlapped');
    } finally {
      stack.emulator.knobs.latencyMs = 0;
    }
  });

  test('identical runs in one request share one upstream call', async () => {
    const doc = parse('query { a: question(id: 2) { run { rowCount } } b: question(id: 2) { run { rowCount } } c: question(id: 2) { run(maxRows: 1) { rowCount } } }') as TypedDocumentNode<unknown, unknown>;
    stack.emulator.requests.reset();
    await gql(stack, 'analyst', doc, {});
    assert.equal(stack.emulator.requests.count('POST /api/card/:card-id/query'), 1);
  });
});

describe('dashboard runs with the default settings', () => {
  let stack: DemoStack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  test('a dashboard\'s card runs all start together: Metabase\'s peak in flight is the card count', async () => {
    // Each run is held long enough for the others to arrive if they were sent together; runs sent in waves would peak lower.
    stack.emulator.knobs.runLatencyMs = 300;
    try {
      stack.emulator.requests.reset();
      const res = await gql(stack, 'analyst', parse('query { dashboard(id: 1) { cards { run { rowCount } } } }') as TypedDocumentNode<unknown, unknown>, {});
      assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      assert.equal(stack.emulator.requests.count(RUNS), 5);
      assert.equal(stack.emulator.requests.peakInFlight, 5, 'the five question cards\' runs were in flight at once');
    } finally {
      stack.emulator.knobs.runLatencyMs = 0;
    }
  });
});
