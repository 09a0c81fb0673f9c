/**
 * The shared cache of one instance (the in-process store, as `npm start` runs without Redis):
 * metadata kept per credential, results kept for roles that say so, identical runs in flight shared,
 * runs kept for their viewer and paged, and the run limits of a tier. Upstream calls are counted by
 * the emulator, per route and per Metabase user.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_POLICY_FILE } from '../../../src/demo.js';
import { startStack, type DemoStack } from '../../helpers/gateway.js';
import { credentialOf, raw } from '../../helpers/emulator.js';
import { eventually } from '../../helpers/eventually.js';

const RUN = 'POST /api/card/:card-id/query';

/** The demo policy with results kept for analysts, and a tier limiting support's runs. */
async function policyFile(dir: string): Promise<string> {
  let policy = await readFile(DEMO_POLICY_FILE, 'utf8');
  policy = policy.replace('rateLimitTiers:\n', 'rateLimitTiers:\n  runs: { runsPerMinute: 3, concurrentRuns: 1 }\n');
  policy = policy.replace('    maxRows: 2000\n    rateLimitTier: standard\n', '    maxRows: 2000\n    rateLimitTier: standard\n    resultCache: { ttlSeconds: 300 }\n');
  policy = policy.replace('    maxRows: 200\n    rateLimitTier: standard\n', '    maxRows: 200\n    rateLimitTier: runs\n');
  assert.match(policy, /resultCache: \{ ttlSeconds: 300 \}/);
  assert.match(policy, /rateLimitTier: runs/);
  const file = join(dir, 'policy.yaml');
  await writeFile(file, policy);
  return file;
}

interface Body<T = Record<string, unknown>> {
  data?: T;
  errors?: { message: string; path?: (string | number)[]; extensions: Record<string, unknown> }[];
}

describe('the shared cache, in one instance', () => {
  let stack: DemoStack;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gateway-cache-'));
    stack = await startStack({ POLICY_FILE: await policyFile(dir), POLICY_WATCH_INTERVAL_MS: '50' });
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = async <T = Record<string, unknown>>(token: string, query: string, variables?: Record<string, unknown>): Promise<Body<T>> => {
    const res = await fetch(`${stack.gatewayUrl}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as Body<T>;
  };
  const mb = () => stack.emulator.requests;
  const usersOf = (route: string): (string | undefined)[] => mb().log.filter((l) => l.route === route).map((l) => l.user);

  test('metadata is kept per credential: a repeat makes no call; another role\'s credential fetches its own', async () => {
    const query = '{ dashboard(id: 1) { name cards { question { name } } } }';
    mb().reset();
    const first = await post(stack.tokens.analyst, query);
    assert.equal(first.errors, undefined);
    assert.equal(mb().count('GET /api/dashboard/:id'), 1);
    const again = await post(stack.tokens.analyst, query);
    assert.deepEqual(again, first, 'the same answer');
    assert.equal(mb().count('GET /api/dashboard/:id'), 1, 'from the cache: no second call');

    // Sales uses another Metabase key: nothing the analysts' key fetched is served to it.
    const sales = await post(stack.tokens.sales, query);
    assert.equal(sales.errors, undefined);
    assert.equal(mb().count('GET /api/dashboard/:id'), 2, 'sales\'s credential made its own call');
    const users = usersOf('GET /api/dashboard/:id');
    assert.equal(new Set(users).size, 2, `two Metabase users made the calls: ${users.join(', ')}`);
  });

  test('parameter values are kept per credential like metadata: a repeat makes no call; another search or another key does', async () => {
    const query = 'query($p: String!, $s: String) { dashboard(id: 1) { parameterValues(parameter: $p, search: $s) { values { value } hasMore } } }';
    const route = 'GET /api/dashboard/:id/params/:param-key/values';
    mb().reset();
    const first = await post(stack.tokens.analyst, query, { p: 'state' });
    assert.equal(first.errors, undefined, JSON.stringify(first.errors));
    assert.equal(mb().count(route), 1);
    assert.deepEqual(await post(stack.tokens.analyst, query, { p: 'state' }), first, 'the same answer');
    assert.deepEqual(await post(stack.tokens.analyst, query, { p: 'b7e8f9a0' }), first, 'by id, the same entry');
    assert.equal(mb().count(route), 1, 'from the cache: no second call');
    await post(stack.tokens.analyst, query, { p: 'state', s: 'a' });
    assert.equal(mb().count('GET /api/dashboard/:id/params/:param-key/search/:query'), 1, 'a search is its own entry');
    const sales = await post(stack.tokens.sales, query, { p: 'state' });
    assert.equal(sales.errors, undefined, JSON.stringify(sales.errors));
    assert.equal(mb().count(route), 2, 'sales\'s credential made its own call');
    assert.equal(new Set(usersOf(route)).size, 2);
  });

  test('results are kept for a role that says so: cached, from GATEWAY_CACHE, for any viewer of the credential; other roles run their own', async () => {
    const query = '{ question(id: 3) { run { id rowCount cached from rows } } }';
    mb().reset();
    const first = await post<{ question: { run: { id: string; cached: boolean; from: string; rows: unknown[] } } }>(stack.tokens.analyst, query);
    assert.equal(first.errors, undefined);
    assert.equal(first.data!.question.run.from, 'METABASE');
    assert.equal(first.data!.question.run.cached, false);
    // Another analyst (another viewer, the same role and credential) gets the kept result.
    const other = await stack.issuer.issue('alex', { groups: ['analysts'], name: 'Alex Analyst' });
    const second = await post<{ question: { run: { id: string; cached: boolean; from: string; rows: unknown[] } } }>(other, query);
    assert.equal(second.errors, undefined);
    assert.equal(second.data!.question.run.from, 'GATEWAY_CACHE');
    assert.equal(second.data!.question.run.cached, true);
    assert.deepEqual(second.data!.question.run.rows, first.data!.question.run.rows);
    assert.notEqual(second.data!.question.run.id, first.data!.question.run.id, 'each run has its own id');
    assert.equal(mb().count(RUN), 1, 'one Metabase run for both');

    // Support keeps no results, and has its own credential: it runs its own.
    mb().reset();
    const support = await post<{ question: { run: { from: string } } }>(stack.tokens.support, '{ question(id: 10) { run { from } } }');
    assert.equal(support.errors, undefined);
    await post(stack.tokens.support, '{ question(id: 10) { run { from } } }');
    assert.equal(mb().count(RUN), 2, 'a role without resultCache runs every time');
  });

  test('ad-hoc SQL results are not kept unless the role says nativeSql', async () => {
    const query = '{ r: runNativeQuery(databaseId: 1, sql: "SELECT COUNT(*) AS N FROM PRODUCTS") { from cached } }';
    mb().reset();
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${stack.gatewayUrl}/graphql`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.tokens.analyst}` },
        body: JSON.stringify({ query: query.replace('{ r:', 'mutation { r:') }),
      });
      const body = (await res.json()) as Body<{ r: { from: string } }>;
      assert.equal(body.errors, undefined);
      assert.equal(body.data!.r.from, 'METABASE');
    }
    assert.equal(mb().count('POST /api/dataset'), 2);
  });

  test('100 identical runs at once make one Metabase run; each caller gets the rows', async () => {
    // Support keeps no results: only the sharing of runs in flight can save calls here.
    const query = '{ question(id: 10) { run { rowCount from rows } } }';
    await post(stack.tokens.support, '{ question(id: 10) { name } }');
    const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => stack.issuer.issue(`sue-${i}`, { groups: ['support'], name: `Support ${i}` })));
    mb().reset();
    stack.emulator.knobs.runLatencyMs = 3_000;
    try {
      const first = post<{ question: { run: { from: string } } }>(tokens[0]!, query);
      // The first run is held by Metabase; the other 99 arrive while it is.
      await mb().until(() => mb().delayed === 1);
      const rest = await Promise.all(tokens.slice(1).map((t) => post<{ question: { run: { rowCount: number; from: string; rows: unknown[] } } }>(t, query)));
      const lead = await first;
      assert.equal(lead.errors, undefined);
      assert.equal(lead.data!.question.run.from, 'METABASE');
      for (const r of rest) {
        assert.equal(r.errors, undefined);
        assert.equal(r.data!.question.run.from, 'SHARED');
      }
      assert.equal(new Set(rest.map((r) => JSON.stringify(r.data!.question.run.rows))).size, 1);
    } finally {
      stack.emulator.knobs.runLatencyMs = 0;
    }
    assert.equal(mb().count(RUN), 1, 'one Metabase run for 100 callers');
  });

  test('a 2,000-row run is kept for its viewer and read again in pages; anyone else gets NOT_FOUND', async () => {
    const ran = await post<{ question: { run: { id: string; rowCount: number; storedUntil: string; rows: unknown[][] } } }>(
      stack.tokens.analyst, '{ question(id: 17) { run { id rowCount storedUntil rows } } }');
    assert.equal(ran.errors, undefined);
    const run = ran.data!.question.run;
    assert.equal(run.rowCount, 2000);
    assert.equal(run.rows.length, 2000);
    assert.ok(Date.parse(run.storedUntil) > Date.now(), `kept until ${run.storedUntil}`);

    mb().reset();
    const pageQuery = 'query Page($id: ID!, $after: String) { queryRun(id: $id) { id rowCount rowPage(first: 600, after: $after) { rows startRow endCursor hasNextPage } } }';
    type PageBody = { queryRun: { rowCount: number; rowPage: { rows: unknown[][]; startRow: number; endCursor: string | null; hasNextPage: boolean } } };
    const rows: unknown[][] = [];
    const starts: number[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const body: Body<PageBody> = await post<PageBody>(stack.tokens.analyst, pageQuery, { id: run.id, after });
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      const p = body.data!.queryRun.rowPage;
      rows.push(...p.rows);
      starts.push(p.startRow);
      after = p.endCursor;
      if (!p.hasNextPage) break;
    }
    assert.deepEqual(starts, [0, 600, 1200, 1800]);
    assert.deepEqual(rows, run.rows, 'the pages hold the run\'s rows, in order');
    assert.equal(mb().count(), 0, 'paging reads the kept run, not Metabase');

    // `rows(first, after)` pages the same way.
    const sliced = await post<{ queryRun: { rows: unknown[][] } }>(stack.tokens.analyst, 'query($id: ID!) { queryRun(id: $id) { rows(first: 2) } }', { id: run.id });
    assert.deepEqual(sliced.data!.queryRun.rows, run.rows.slice(0, 2));

    // Another analyst, the same viewer in another role, and a cursor of another run: refused.
    const other = await stack.issuer.issue('alex', { groups: ['analysts'], name: 'Alex Analyst' });
    const byOther = await post(other, 'query($id: ID!) { queryRun(id: $id) { rowCount } }', { id: run.id });
    assert.deepEqual(byOther.errors?.map((e) => e.extensions['code']), ['NOT_FOUND']);
    const res = await fetch(`${stack.gatewayUrl}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.tokens.analyst}`, 'x-gateway-role': 'sales' },
      body: JSON.stringify({ query: 'query($id: ID!) { queryRun(id: $id) { rowCount } }', variables: { id: run.id } }),
    });
    const asSales = (await res.json()) as Body;
    assert.deepEqual(asSales.errors?.map((e) => e.extensions['code']), ['NOT_FOUND'], 'kept for the role it ran in');
    const foreign = Buffer.from('r:00000000-0000-4000-8000-000000000000:5').toString('base64url');
    const badCursor = await post(stack.tokens.analyst, pageQuery, { id: run.id, after: foreign });
    assert.deepEqual(badCursor.errors?.map((e) => [e.extensions['code'], e.extensions['argument']]), [['BAD_USER_INPUT', 'after']]);
    const badId = await post(stack.tokens.analyst, '{ queryRun(id: "../../etc") { rowCount } }');
    assert.deepEqual(badId.errors?.map((e) => e.extensions['code']), ['BAD_USER_INPUT']);
    const tooMany = await post(stack.tokens.analyst, pageQuery.replace('first: 600', 'first: 10001'), { id: run.id });
    assert.deepEqual(tooMany.errors?.map((e) => e.extensions['code']), ['BAD_USER_INPUT']);
  });

  test('a tier\'s run limits: runs per minute and runs at once, each refused run RATE_LIMITED with retryAfterMs, the rest of the request served', async () => {
    const token = await stack.issuer.issue('sid', { groups: ['support'], name: 'Sid Support' });
    // Three runs a minute, one at a time: a dashboard of two cards runs them one after the other.
    mb().reset();
    const board = await post<{ dashboard: { name: string; cards: { run: { rowCount: number } | null }[] } }>(token, '{ dashboard(id: 2) { name cards { run { rowCount } } } }');
    // Its three question cards start together: one holds the caller's only slot, two are refused.
    assert.equal(board.data!.dashboard.name, 'Support desk', 'the rest of the request is served');
    assert.equal(board.data!.dashboard.cards.filter((c) => c.run !== null).length, 1);
    assert.deepEqual(board.errors?.map((e) => [e.path!.at(-1), e.extensions['code'], e.extensions['reason'], e.extensions['retryAfterMs']]), [
      ['run', 'RATE_LIMITED', 'concurrent-runs', 1000], ['run', 'RATE_LIMITED', 'concurrent-runs', 1000],
    ]);
    assert.match(board.errors![0]!.message, /^You have 1 query running already \(rate limit tier runs\); retry in 1 s\.$/);
    assert.equal(mb().count(RUN) + mb().count('POST /api/dashboard/:dashboard-id/dashcard/:dashcard-id/card/:card-id/query'), 1, 'refused runs never reach Metabase');

    // Spend the rest of the minute's three runs, one request at a time.
    const statuses: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await post<{ question: { run: { rowCount: number } | null } }>(token, '{ question(id: 10) { run { rowCount } } }');
      statuses.push(r.errors ? String(r.errors[0]!.extensions['reason']) : 'ran');
    }
    assert.equal(statuses.at(-1), 'run-rate', `after three runs in the minute, the next is refused: ${statuses.join(', ')}`);
    const refused = await post(token, '{ question(id: 10) { run { rowCount } } }');
    const e = refused.errors![0]!;
    assert.equal(e.extensions['code'], 'RATE_LIMITED');
    assert.ok((e.extensions['retryAfterMs'] as number) > 0 && (e.extensions['retryAfterMs'] as number) <= 60_000);
    assert.match(e.message, /more than 3 queries a minute/);
    // Another support user has their own allowance.
    const other = await post(stack.tokens.support, '{ question(id: 10) { run { rowCount } } }');
    assert.equal(other.errors, undefined);
  });

  test('a new credential is a new cache scope: a policy reload that changes a role\'s key, and a key rotated in its file', async () => {
    const query = '{ dashboard(id: 1) { name } }';
    const policy = join(dir, 'policy.yaml');
    const calls = (): number => mb().count('GET /api/dashboard/:id');
    const reloadedPast = (version: number) => eventually(() => stack.policy.current.version > version, 'the policy reloads', { withinMs: 5_000, everyMs: 20 });
    await post(stack.tokens.sales, query);
    mb().reset();
    assert.equal((await post(stack.tokens.sales, query)).errors, undefined);
    assert.equal(calls(), 0, 'kept under the sales key');

    // A key of its own for the Sales group, made as an operator would, read from a file.
    const admin = credentialOf(stack.emulator, 'Administrators').apiKey;
    const created = await raw(stack.emulator, 'POST', '/api/api-key', { key: admin, body: { name: 'sales-cache-scope', group_id: 4 } });
    const { id, unmasked_key: first } = created.json as { id: number; unmasked_key: string };
    const keyFile = join(dir, 'sales.key');
    await writeFile(keyFile, first);
    let version = stack.policy.current.version;
    const text = await readFile(policy, 'utf8');
    await writeFile(policy, text.replace('apiKey: { env: DEMO_METABASE_KEY_SALES }', `apiKey: { file: ${JSON.stringify(keyFile)} }`));
    await reloadedPast(version);
    assert.equal((await post(stack.tokens.sales, query)).errors, undefined);
    assert.equal(calls(), 1, 'the new key starts afresh');
    await post(stack.tokens.sales, query);
    assert.equal(calls(), 1, 'and keeps its own');

    const rotated = await raw(stack.emulator, 'PUT', `/api/api-key/${id}/regenerate`, { key: admin });
    version = stack.policy.current.version;
    await writeFile(keyFile, (rotated.json as { unmasked_key: string }).unmasked_key);
    await reloadedPast(version);
    assert.equal((await post(stack.tokens.sales, query)).errors, undefined);
    assert.equal(calls(), 2, 'the rotated key starts afresh too');
    assert.ok(mb().log.every((l) => l.status !== 401), 'no call met the old key');
    const restoring = stack.policy.current.version;
    await writeFile(policy, text);
    await reloadedPast(restoring);
  });

  test('a kept run is checked again when read: a role narrowed since (collections, native SQL) reads no more of it', async () => {
    const policy = join(dir, 'policy.yaml');
    const text = await readFile(policy, 'utf8');
    const question = await post<{ question: { run: { id: string } } }>(stack.tokens.analyst, '{ question(id: 17) { run(maxRows: 5) { id } } }');
    const res = await fetch(`${stack.gatewayUrl}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.tokens.analyst}` },
      body: JSON.stringify({ query: 'mutation { runNativeQuery(databaseId: 1, sql: "SELECT 1 AS ONE") { id } }' }),
    });
    const native = (await res.json()) as Body<{ runNativeQuery: { id: string } }>;
    const read = (id: string) => post<{ queryRun: { rowCount: number } }>(stack.tokens.analyst, 'query($id: ID!) { queryRun(id: $id) { rowCount } }', { id });
    assert.equal((await read(question.data!.question.run.id)).data?.queryRun.rowCount, 5);
    assert.equal((await read(native.data!.runNativeQuery.id)).data?.queryRun.rowCount, 1);

    const narrowed = text.replace(/(- name: analyst[\s\S]*?)collections: all\n    canViewSql: true\n    canRunNativeSql: true\n/, '$1collections: [root, { subtree: 2 }]\n    canViewSql: true\n    canRunNativeSql: false\n');
    assert.notEqual(narrowed, text);
    const version = stack.policy.current.version;
    await writeFile(policy, narrowed);
    try {
      const analyst = () => stack.policy.current.policy.roles.find((r) => r.name === 'analyst')!;
      await eventually(() => stack.policy.current.version > version && !analyst().canRunNativeSql, 'the narrowed policy is in force', { withinMs: 5_000, everyMs: 20 });
      for (const id of [question.data!.question.run.id, native.data!.runNativeQuery.id]) {
        assert.deepEqual((await read(id)).errors?.map((e) => e.extensions['code']), ['NOT_FOUND'], 'question 17 lives in collection 1; ad-hoc SQL is no longer allowed');
      }
    } finally {
      const v2 = stack.policy.current.version;
      await writeFile(policy, text);
      await eventually(() => stack.policy.current.version > v2 && stack.policy.current.policy.roles.some((r) => r.name === 'analyst' && r.canRunNativeSql), 'the policy is restored', { withinMs: 5_000, everyMs: 20 });
    }
  });
});
