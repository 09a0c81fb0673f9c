/**
 * Two gateway instances (production processes) on one Redis, then on a three-master Redis Cluster:
 * what one instance fetched the other serves without calling Metabase, identical runs on both make
 * one Metabase run, a run kept by one is paged on the other, and limits are counted across both.
 * With Redis stopped, requests are served from Metabase, limits fall back to each instance, and a
 * role that fails closed (the agent role, by default) is refused until Redis returns.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { emulator, type Emulator } from '../../helpers/emulator.js';
import { eventually } from '../../helpers/eventually.js';
import { startIdp, type Idp } from '../../helpers/idp.js';
import { PRODUCTION_POLICY, startProduction, type Production } from '../../helpers/production.js';
import { startRedis, startRedisCluster, testPrefix, type OwnCluster, type OwnRedis } from '../../helpers/redis.js';

const RUN = 'POST /api/card/:card-id/query';

/** Analysts keep results for 5 minutes; sales keeps none; agents have a request limit and fail closed (their default). */
const POLICY = PRODUCTION_POLICY
  .replace('roles:\n', 'rateLimitTiers:\n  agents: { requestsPerMinute: 100 }\n  people: { requestsPerMinute: 6, runsPerMinute: 100 }\nroles:\n')
  .replace('    canRunNativeSql: true\n', '    canRunNativeSql: true\n    resultCache: { ttlSeconds: 300 }\n')
  .replace('    collections: [root, { subtree: 2 }]\n', '    collections: [root, { subtree: 2 }]\n    rateLimitTier: people\n')
  .replace('    vettedOnly: true\n', '    vettedOnly: true\n    rateLimitTier: agents\n');

interface Body<T> {
  data?: T;
  errors?: { message: string; extensions: Record<string, unknown> }[];
}

async function ask<T>(gw: Production, token: string, query: string, variables?: Record<string, unknown>): Promise<{ status: number; body: Body<T> }> {
  const res = await gw.post({ query, variables }, token);
  return { status: res.status, body: JSON.parse(res.text) as Body<T> };
}

let mb: Emulator;
let idp: Idp;
before(async () => {
  assert.match(POLICY, /resultCache/);
  assert.match(POLICY, /rateLimitTier: people/);
  assert.match(POLICY, /rateLimitTier: agents/);
  mb = await emulator();
  idp = await startIdp();
});
after(async () => {
  await idp.close();
  await mb.close();
});

/** The checks both deployments pass: caches, shared runs, kept runs and limits across two instances. */
function sharedAcrossInstances(instances: () => [Production, Production]): void {
  test('what one instance fetched, the other serves: metadata, and results of a role that keeps them (audited as gateway-cache)', async () => {
    const [a, b] = instances();
    const ana = await idp.userToken('ana', { groups: ['analysts'] });
    const query = '{ dashboard(id: 1) { name cards { run { rowCount from cached } } } }';
    mb.requests.reset();
    const first = await ask<{ dashboard: { cards: { run: { from: string } | null }[] } }>(a, ana, query);
    assert.equal(first.body.errors, undefined);
    const calls = mb.requests.count();
    assert.ok(calls >= 6, `instance a called Metabase (${calls} calls)`);
    // Kept entries are written just after the answer: the other instance sees them at once or a moment later.
    await eventually(async () => {
      mb.requests.reset();
      const second = await ask<{ dashboard: { cards: { run: { from: string } | null }[] } }>(b, ana, query);
      return mb.requests.count() === 0 && second.body.data!.dashboard.cards.every((c) => c.run === null || c.run.from === 'GATEWAY_CACHE');
    }, 'instance b answers from what instance a kept', { withinMs: 5_000, everyMs: 50 });
    // The record is written when the request ends: complete lines only.
    await eventually(async () => {
      const lines = (await readFile(join(b.dir, 'audit.log'), 'utf8')).split('\n').slice(0, -1);
      const runs = lines.length ? (JSON.parse(lines.at(-1)!) as { runs?: { from: string; cached: boolean }[] }).runs ?? [] : [];
      return runs.length >= 5 && runs.every((r) => r.from === 'gateway-cache' && r.cached);
    }, 'the audit record says the runs came from the cache', { withinMs: 5_000, everyMs: 50 });
  });

  test('100 identical runs at once, 50 on each instance, make one Metabase run', async () => {
    const [a, b] = instances();
    // Sales keeps no results: only runs shared in flight can save calls.
    const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => idp.userToken(`sam-${i}`, { groups: ['sales'] })));
    const query = '{ question(id: 4) { run { rowCount from } } }';
    await ask(a, tokens[0]!, '{ question(id: 4) { name } }');
    await ask(b, tokens[0]!, '{ question(id: 4) { name } }');
    mb.requests.reset();
    mb.knobs.runLatencyMs = 3_000;
    try {
      const lead = ask<{ question: { run: { from: string } } }>(a, tokens[0]!, query);
      await mb.requests.until(() => mb.requests.delayed === 1);
      const rest = await Promise.all(tokens.slice(1).map((t, i) => ask<{ question: { run: { rowCount: number; from: string } } }>(i % 2 ? a : b, t, query)));
      const first = await lead;
      assert.equal(first.body.errors, undefined);
      for (const r of rest) assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      assert.deepEqual(new Set(rest.map((r) => r.body.data!.question.run.from)), new Set(['SHARED']));
    } finally {
      mb.knobs.runLatencyMs = 0;
    }
    assert.equal(mb.requests.count(RUN), 1, 'one Metabase run for 100 callers on two instances');
  });

  test('a run kept by one instance is paged on the other, for its viewer only', async () => {
    const [a, b] = instances();
    const ana = await idp.userToken('ana', { groups: ['analysts'] });
    const ran = await ask<{ question: { run: { id: string; rowCount: number; rows: unknown[][] } } }>(a, ana, '{ question(id: 17) { run { id rowCount rows } } }');
    assert.equal(ran.body.errors, undefined);
    const { id, rows } = ran.body.data!.question.run;
    const page = 'query($id: ID!, $after: String) { queryRun(id: $id) { rowPage(first: 1500, after: $after) { rows endCursor hasNextPage } } }';
    type Page = { queryRun: { rowPage: { rows: unknown[][]; endCursor: string; hasNextPage: boolean } } };
    const one = await ask<Page>(b, ana, page, { id });
    assert.equal(one.body.errors, undefined, JSON.stringify(one.body.errors));
    const two = await ask<Page>(b, ana, page, { id, after: one.body.data!.queryRun.rowPage.endCursor });
    assert.equal(two.body.data!.queryRun.rowPage.hasNextPage, false);
    assert.deepEqual([...one.body.data!.queryRun.rowPage.rows, ...two.body.data!.queryRun.rowPage.rows], rows);
    const other = await idp.userToken('alex', { groups: ['analysts'] });
    assert.deepEqual((await ask(b, other, page, { id })).body.errors?.map((e) => e.extensions['code']), ['NOT_FOUND']);
  });

  test('a caller\'s request limit is counted across both instances', async () => {
    const [a, b] = instances();
    const token = await idp.userToken(`sal-${Date.now()}`, { groups: ['sales'] });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await ask(i % 2 ? b : a, token, '{ viewer { role } }')).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429], 'six a minute in all');
  });
}

describe('two instances on one Redis', () => {
  let redis: OwnRedis;
  let a: Production;
  let b: Production;
  before(async () => {
    redis = await startRedis();
    // A generous deadline: these tests are about what is shared, on a machine that may be busy; the
    // 50 ms default (a late command is a miss) is tested in store.test.ts.
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: testPrefix(), REDIS_TIMEOUT_MS: '1000' };
    [a, b] = await Promise.all([
      startProduction({ emulator: mb, idp, policy: POLICY, env }),
      startProduction({ emulator: mb, idp, policy: POLICY, env, auditFile: true }),
    ]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  sharedAcrossInstances(() => [a, b]);

  test('Redis stops: requests are served from Metabase, the agent role (fails closed) is refused; Redis returns: all as before', async () => {
    const ana = await idp.userToken('ana-outage', { groups: ['analysts'] });
    const agent = await idp.agentToken();
    const vettedOnly = await ask(a, agent, '{ viewer { role } }');
    assert.deepEqual([vettedOnly.status, vettedOnly.body.errors?.[0]?.extensions['code']], [400, 'PERSISTED_QUERY_REQUIRED'], 'with Redis up, the agent gets as far as its role allows');

    await redis.stop();
    mb.requests.reset();
    // Nothing can be read from the store now: a run not made before goes to Metabase; a repeat is served
    // from the copy this instance keeps itself (fresh entries stay usable through an outage).
    const query = '{ question(id: 14) { name run { rowCount from } } }';
    const froms: string[] = [];
    for (let i = 0; i < 2; i++) {
      const served = await ask<{ question: { run: { from: string } } }>(a, ana, query);
      assert.equal(served.status, 200);
      assert.equal(served.body.errors, undefined, JSON.stringify(served.body.errors));
      froms.push(served.body.data!.question.run.from);
    }
    assert.deepEqual(froms, ['METABASE', 'GATEWAY_CACHE']);
    assert.equal(mb.requests.count(RUN), 1);
    const elsewhere = await ask<{ question: { run: { from: string } } }>(b, ana, query);
    assert.equal(elsewhere.body.data!.question.run.from, 'METABASE', 'the other instance cannot read it: it runs its own');
    const refused = await ask(a, agent, '{ viewer { role } }');
    assert.equal(refused.status, 429);
    assert.deepEqual([refused.body.errors?.[0]?.extensions['code'], refused.body.errors?.[0]?.extensions['reason']], ['RATE_LIMITED', 'limits-unavailable']);
    assert.ok((await ask(b, await idp.userToken('sal-outage', { groups: ['sales'] }), '{ viewer { role } }')).status === 200, 'a role that falls back to local limits is served');
    assert.ok(await a.healthy() && await b.healthy(), 'both instances stay up');

    await redis.start();
    for (const gw of [a, b]) {
      await eventually(async () => ((await (await fetch(`${gw.base}/readyz`)).json()) as { store: string }).store === 'ok', 'the instance reconnects to Redis by itself', { withinMs: 10_000, everyMs: 50 });
    }
    const back = await ask(a, agent, '{ viewer { role } }');
    assert.deepEqual([back.status, back.body.errors?.[0]?.extensions['code']], [400, 'PERSISTED_QUERY_REQUIRED'], 'the agent role is limited by the shared count again');
    assert.equal(a.entry.output().match(/store\.degraded/g)?.length, 1, 'the outage is logged once');
  });
});

describe('two instances on a three-master Redis Cluster', () => {
  let cluster: OwnCluster;
  let a: Production;
  let b: Production;
  before(async () => {
    cluster = await startRedisCluster();
    const env = { REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','), REDIS_KEY_PREFIX: testPrefix(), REDIS_TIMEOUT_MS: '1000' };
    [a, b] = await Promise.all([
      startProduction({ emulator: mb, idp, policy: POLICY, env }),
      startProduction({ emulator: mb, idp, policy: POLICY, env, auditFile: true }),
    ]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await cluster?.stop();
  });

  sharedAcrossInstances(() => [a, b]);
});
