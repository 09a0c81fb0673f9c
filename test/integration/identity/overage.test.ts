/**
 * The Entra ID overage resolver against a real HTTP stand-in for Microsoft Graph and its token
 * endpoint: one lookup per user however many requests and however late they come, a cap on calls in
 * flight whatever the number of users, bounds on the cache by users and by group ids, a bounded
 * answer size, and a bounded wait.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { UpstreamUnavailableError } from '../../../src/errors/index.js';
import { OverageResolver } from '../../../src/identity/overage.js';
import type { OverageGraph } from '../../../src/policy/policy.js';
import { startStub } from '../../helpers/stub-server.js';

const oid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

interface Graph {
  readonly url: string;
  /** getMemberGroups calls answered or held, by user. */
  readonly calls: string[];
  /** The most getMemberGroups calls in flight at once. */
  peak: number;
  /** While set, getMemberGroups calls wait for it. */
  hold: Promise<void> | undefined;
  /** Called once per getMemberGroups call that arrived (tests wait for a count). */
  arrived: (() => void) | undefined;
  answer: (user: string, res: ServerResponse) => void;
  close(): Promise<void>;
}

async function startGraph(): Promise<Graph> {
  let inFlight = 0;
  const graph: Graph = {
    url: '', calls: [], peak: 0, hold: undefined, arrived: undefined,
    answer: (user, res) => res.end(JSON.stringify({ value: [`group-of-${user}`] })),
    close: async () => undefined,
  };
  const server = await startStub(async (req, body, res) => {
    const form = new URLSearchParams(body);
    res.setHeader('content-type', 'application/json');
    if (req.url === '/token') {
      res.statusCode = form.get('client_secret') === 'graph-secret-for-tests' ? 200 : 401;
      res.end(JSON.stringify({ access_token: 'app-token', expires_in: 3600 }));
      return;
    }
    const user = /^\/v1\.0\/users\/([0-9a-f-]+)\/getMemberGroups$/.exec(req.url ?? '')?.[1];
    if (!user || req.headers.authorization !== 'Bearer app-token') {
      res.statusCode = 404;
      res.end('{}');
      return;
    }
    graph.calls.push(user);
    inFlight += 1;
    graph.peak = Math.max(graph.peak, inFlight);
    graph.arrived?.();
    await graph.hold;
    inFlight -= 1;
    graph.answer(user, res);
  });
  return Object.assign(graph, server);
}

/** A latch that opens when `count` getMemberGroups calls have arrived. */
function arrivals(graph: Graph, count: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    graph.arrived = () => {
      seen += 1;
      if (seen >= count) resolve();
    };
  });
}

describe('Entra ID overage through Microsoft Graph', () => {
  let graph: Graph;
  let config: OverageGraph;
  const env = { GRAPH_SECRET: 'graph-secret-for-tests' };

  before(async () => {
    graph = await startGraph();
    config = { graphUrl: graph.url, tokenUrl: `${graph.url}/token`, clientId: 'gateway', clientSecret: { env: 'GRAPH_SECRET' } };
  });
  after(() => graph.close());

  const reset = (): void => {
    graph.calls.length = 0;
    graph.peak = 0;
    graph.hold = undefined;
    graph.arrived = undefined;
    graph.answer = (user, res) => res.end(JSON.stringify({ value: [`group-of-${user}`] }));
  };

  test('twenty users at once: at most the cap of calls in flight, and every user answered', async () => {
    reset();
    const resolver = new OverageResolver(config, { env, concurrency: 3 });
    let release!: () => void;
    graph.hold = new Promise((r) => (release = r));
    const three = arrivals(graph, 3);
    const exp = Math.floor(Date.now() / 1000) + 600;
    const lookups = Array.from({ length: 20 }, (_, i) => resolver.groupsOf(oid(i), exp));
    await three;
    assert.equal(graph.calls.length, 3, 'the fourth call waits for a slot');
    release();
    const answers = await Promise.all(lookups);
    assert.deepEqual(answers.map((a) => a[0]), Array.from({ length: 20 }, (_, i) => `group-of-${oid(i)}`));
    assert.equal(graph.peak, 3);
    assert.equal(graph.calls.length, 20);
  });

  test('a lookup still running serves the same user\'s later requests, even past the token\'s expiry', async () => {
    reset();
    let now = 1_000_000_000_000;
    const resolver = new OverageResolver(config, { env, now: () => now });
    let release!: () => void;
    graph.hold = new Promise((r) => (release = r));
    const first = arrivals(graph, 1);
    const a = resolver.groupsOf(oid(1), now / 1000 + 2);
    await first;
    now += 3_600_000 * 2; // far past the token's expiry and the longest lifetime
    const b = resolver.groupsOf(oid(1), now / 1000 + 2);
    release();
    assert.deepEqual(await a, await b);
    assert.equal(graph.calls.length, 1, 'one lookup for both requests');
  });

  test('groups are kept at least a minute, even for a token about to expire, and at most until its expiry after that', async () => {
    reset();
    let now = 1_000_000_000_000;
    const resolver = new OverageResolver(config, { env, now: () => now });
    await resolver.groupsOf(oid(2), now / 1000 + 1);
    now += 30_000;
    await resolver.groupsOf(oid(2), now / 1000 + 1);
    assert.equal(graph.calls.length, 1, 'kept for the first minute');
    now += 31_000;
    await resolver.groupsOf(oid(2), now / 1000 + 600);
    assert.equal(graph.calls.length, 2, 'looked up again after a minute');
    now += 599_000;
    await resolver.groupsOf(oid(2), now / 1000 + 600);
    assert.equal(graph.calls.length, 2, 'the new answer is kept until that token expires');
    now += 2_000;
    await resolver.groupsOf(oid(2), now / 1000 + 600);
    assert.equal(graph.calls.length, 3);
  });

  test('the cache is bounded by group ids held as well as by users: the oldest users go first', async () => {
    reset();
    graph.answer = (user, res) => res.end(JSON.stringify({ value: Array.from({ length: 6 }, (_, i) => `${user}-${i}`) }));
    const resolver = new OverageResolver(config, { env, maxGroupIds: 10, maxEntries: 100 });
    const exp = Math.floor(Date.now() / 1000) + 600;
    await resolver.groupsOf(oid(3), exp);
    assert.equal(resolver.heldGroupIds, 6);
    await resolver.groupsOf(oid(4), exp);
    assert.equal(resolver.users, 1, 'twelve ids exceed ten: the first user was dropped');
    assert.equal(resolver.heldGroupIds, 6);
    await resolver.groupsOf(oid(4), exp);
    assert.equal(graph.calls.length, 2, 'the user kept is served from the cache');
    await resolver.groupsOf(oid(3), exp);
    assert.equal(graph.calls.length, 3, 'the user dropped is looked up again');

    const byUsers = new OverageResolver(config, { env, maxEntries: 2 });
    for (const n of [5, 6, 7]) await byUsers.groupsOf(oid(n), exp);
    assert.equal(byUsers.users, 2);
  });

  test('answers are bounded: too long a body is refused, and at most 20,000 short strings are kept', async () => {
    reset();
    graph.answer = (user, res) => res.end(user === oid(8) ? JSON.stringify({ value: ['x'.repeat(5 * 1024 * 1024)] }) : JSON.stringify({ value: [...Array.from({ length: 25_000 }, (_, i) => `g${i}`), 'y'.repeat(65), 42] }));
    const resolver = new OverageResolver(config, { env });
    const exp = Math.floor(Date.now() / 1000) + 600;
    await assert.rejects(resolver.groupsOf(oid(8), exp), (err: unknown) => {
      assert.ok(err instanceof UpstreamUnavailableError);
      assert.equal(err.extensions['reason'], 'groups-overage');
      assert.doesNotMatch(err.message, /x{10}/);
      return true;
    });
    const groups = await resolver.groupsOf(oid(9), exp);
    assert.equal(groups.length, 20_000);
    assert.ok(groups.every((g) => /^g\d+$/.test(g)));
  });

  test('while Graph answers no one, a lookup queued behind a held one still ends within its deadline, as the gateway\'s own error', async () => {
    reset();
    const resolver = new OverageResolver(config, { env, concurrency: 1, timeoutMs: 300 });
    let release!: () => void;
    graph.hold = new Promise((r) => (release = r));
    const first = arrivals(graph, 1);
    const exp = Math.floor(Date.now() / 1000) + 600;
    const held = resolver.groupsOf(oid(10), exp);
    await first;
    await assert.rejects(resolver.groupsOf(oid(11), exp), (err: unknown) => err instanceof UpstreamUnavailableError && err.extensions['reason'] === 'groups-overage');
    await assert.rejects(held, UpstreamUnavailableError, 'the held call timed out too');
    release();
    assert.equal(graph.calls[0], oid(10));
  });

  test('a secret the gateway cannot read fails the lookup without calling Graph', async () => {
    reset();
    const resolver = new OverageResolver(config, { env: {} });
    await assert.rejects(resolver.groupsOf(oid(12), Math.floor(Date.now() / 1000) + 600));
    assert.equal(graph.calls.length, 0);
  });
});
