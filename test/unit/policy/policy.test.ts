import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyFile, parsePolicy, PolicyError } from '../../../src/policy/policy.js';
import { DEMO_POLICY_FILE } from '../../../src/demo.js';

const problemsOf = (text: string, source = '/etc/gateway/policy.yaml'): string[] => {
  try {
    parsePolicy(text, source);
  } catch (err) {
    assert.ok(err instanceof PolicyError);
    assert.ok(err.message.includes(source), 'the message names the file');
    return [...err.problems];
  }
  return assert.fail('expected the policy to be refused');
};

test('a full policy reads with defaults filled in, frozen', () => {
  const p = parsePolicy(`
roles:
  - name: analyst
    match: { groups: [analysts] }
    metabase: { apiKey: { env: KEY } }
    collections: all
  - name: svc
    match: { clientKinds: [service, agent] }
    metabase: { login: { username: svc@example.test, password: { file: secrets/svc } } }
    collections: [root, 3, { subtree: 5 }]
    canViewSql: true
    maxRows: 50
`, '/etc/gateway/policy.yaml');
  assert.deepEqual(p.claims.groups, ['groups']);
  assert.deepEqual(p.claims.clientId, ['azp', 'client_id']);
  assert.equal(p.claims.clientKind.default, 'human');
  const [analyst, svc] = p.roles;
  assert.deepEqual([analyst!.maxRows, analyst!.canViewSql, analyst!.canRunNativeSql, analyst!.vettedOnly, analyst!.clientKinds], [2000, false, false, false, null]);
  assert.deepEqual(analyst!.collections, { all: true });
  assert.deepEqual(svc!.collections, { all: false, ids: [3], subtrees: [5], root: true });
  assert.deepEqual(svc!.metabase, { kind: 'login', username: 'svc@example.test', password: { file: '/etc/gateway/secrets/svc' } }, 'relative files resolve against the policy\'s directory');
  assert.ok(Object.isFrozen(p) && Object.isFrozen(p.roles[1]!.collections));
});

test('JSON policies read the same', () => {
  const p = parsePolicy(JSON.stringify({ roles: [{ name: 'a', match: { groups: ['g'] }, metabase: { apiKey: { env: 'K' } }, collections: 'all' }] }), 'policy.json');
  assert.equal(p.roles[0]!.name, 'a');
});

test('every problem is reported at once, by path, with what was expected', () => {
  const problems = problemsOf(`
version: 2
claims:
  groups: []
  clientKind: { default: robot, rules: [{ kind: agent }] }
rateLimitTiers: { standard: { requestsPerMinute: 0 } }
roles:
  - name: 9lives
    match: {}
    metabase: { apiKey: { env: K }, login: { username: u, password: { env: P } } }
    collections: [1, { subtree: x }, "finance"]
    maxRows: 20000
    canViewSql: "yes"
    rateLimitTier: gold
    colour: blue
  - name: ok
    match: { groups: [g] }
    metabase: { apiKey: { file: "" } }
    collections: everything
  - name: ok
    match: { clientKinds: [human] }
    metabase: { apiKey: { env: "not a name" } }
    collections: all
`);
  const expected = [
    'version: expected an integer from 1 to 1, received 2',
    'claims.groups: expected at least one claim path',
    'claims.clientKind.default: expected one of human, agent, service, received "robot"',
    'claims.clientKind.rules[0]: expected exactly one of clientIds',
    'rateLimitTiers.standard.requestsPerMinute: expected an integer from 1 to 1000000, received 0',
    'roles[0].name: expected a role name',
    'roles[0].match: expected groups and/or clientKinds',
    'roles[0].metabase: expected exactly one of apiKey',
    'roles[0].collections[1].subtree: expected an integer',
    'roles[0].collections[2]: expected a collection id, {subtree: id} or "root", received "finance"',
    'roles[0].maxRows: expected an integer from 1 to 10000, received 20000',
    'roles[0].canViewSql: expected true or false, received "yes"',
    'roles[0].rateLimitTier: expected one of standard, received "gold"',
    'roles[0].colour: unknown key',
    'roles[1].metabase.apiKey.file: expected a file path, received a string (not shown)',
    'roles[1].collections: expected "all", or a list of collection ids',
    'roles[2].name: expected a name not used by an earlier role ("ok" is)',
    'roles[2].metabase.apiKey.env: expected an environment variable name (letters, digits and _), received a string (not shown)',
  ];
  for (const fragment of expected) assert.ok(problems.some((p) => p.startsWith(fragment)), `missing "${fragment}" in:\n${problems.join('\n')}`);
});

test('a secret pasted into the policy is refused without being echoed', () => {
  const secret = `mb_${'s'.repeat(40)}`;
  const problems = problemsOf(`
roles:
  - name: a
    match: { groups: [g] }
    metabase: { apiKey: "${secret}" }
    collections: all
  - name: b
    match: { groups: [g] }
    metabase: { login: { username: u, password: "hunter2-long-password" } }
    collections: all
`);
  assert.deepEqual(problems, [
    'roles[0].metabase.apiKey: expected {env: VARIABLE} or {file: path}; the secret itself never goes in the policy file, received a string (not shown)',
    'roles[1].metabase.login.password: expected {env: VARIABLE} or {file: path}; the secret itself never goes in the policy file, received a string (not shown)',
  ]);
});

test('a secret pasted where its variable or file should be named is refused without being echoed', () => {
  const key = `mb_${'Ab9'.repeat(14)}`;
  const base64 = 'q8XnR2vT7yLpK4mWz9BcD1eFgH3jS6uA0oIxVt5NQ=';
  const hex = 'a3f9c2e7b1d84f6a9c0e5b7d2f8a1c3e';
  const policy = `
roles:
  - { name: a, match: { groups: [g] }, metabase: { apiKey: { env: ${key} } }, collections: all }
  - { name: b, match: { groups: [g] }, metabase: { apiKey: { file: "${base64}" } }, collections: all }
  - { name: c, match: { groups: [g] }, metabase: { login: { username: u, password: { env: ${hex} } } }, collections: all }
  - { name: d, match: { groups: [g] }, metabase: { apiKey: { env: METABASE_KEY_ANALYSTS_2026 } }, collections: all }
  - { name: e, match: { groups: [g] }, metabase: { apiKey: { file: keys/analysts.key } }, collections: all }
`;
  const problems = problemsOf(policy);
  assert.deepEqual(problems.map((p) => p.split(':')[0]), ['roles[0].metabase.apiKey.env', 'roles[1].metabase.apiKey.file', 'roles[2].metabase.login.password.env'], 'variable names and paths are not mistaken for secrets');
  for (const p of problems) assert.match(p, /looks like the secret itself.*received a string \(not shown\)$/);
  const text = problems.join('\n');
  for (const secret of [key, base64, hex]) assert.ok(!text.includes(secret), 'never echoed');
});

test('syntax errors name the line; a missing file names the file', async () => {
  assert.match(problemsOf('roles:\n  - name: a\n   bad: [')[0]!, /^YAML syntax at line \d+/);
  assert.match(problemsOf('{"roles": [}', 'p.json')[0]!, /^JSON syntax at line 1/);
  assert.deepEqual(problemsOf('', 'empty.yaml'), ['(top level): expected an object, received null', 'roles: expected a list, received nothing']);
  await assert.rejects(loadPolicyFile('/nonexistent/policy.yaml'), (err: unknown) => err instanceof PolicyError && /cannot be read \(ENOENT\)/.test(err.message));
});

test('the demo policy is valid and uses every feature', async () => {
  const p = await loadPolicyFile(DEMO_POLICY_FILE);
  assert.ok(p.claims.groups.length > 1, 'several group claim paths');
  assert.deepEqual(new Set(p.claims.clientKind.rules.map((r) => Object.keys(r).find((k) => k !== 'kind'))), new Set(['clientIds', 'scope']));
  assert.ok(p.roles.some((r) => r.metabase.kind === 'login') && p.roles.some((r) => r.metabase.kind === 'api-key'));
  assert.ok(p.roles.some((r) => r.collections.all) && p.roles.some((r) => !r.collections.all && r.collections.subtrees.length && r.collections.root));
  assert.ok(p.roles.some((r) => !r.collections.all && r.collections.ids.length));
  assert.ok(p.roles.some((r) => r.canViewSql && r.canRunNativeSql) && p.roles.some((r) => r.vettedOnly && r.clientKinds?.includes('agent')));
  assert.ok(p.roles.some((r) => r.groups?.length && r.groups.length > 1), 'a role several groups fit (for X-Gateway-Role)');
  assert.equal(new Set(p.roles.map((r) => r.rateLimitTier)).size, 2);
  assert.ok(p.roles.some((r) => r.resultCache.ttlMs > 0), 'a role that keeps results');
  assert.ok(Object.values(p.rateLimitTiers).some((t) => t.runsPerMinute && t.concurrentRuns), 'run limits');
  assert.equal(p.cache.metadata.collections.ttlMs, 300_000, 'a kind kept longer');
  assert.deepEqual(p.roles.find((r) => r.vettedOnly)!.rateLimitFallback, 'refuse');
  assert.ok(p.roles.some((r) => r.vettedOnly && r.operations?.length), 'a vetted-only role limited to some operations');
  assert.ok(p.roles.some((r) => r.grantable.some((g) => g.dashboards.length && g.collections.length)), 'just-in-time access');
  assert.equal(p.accessRequests.pendingMinutes, 1440);
});

test('grantable targets and access requests: read with their defaults; every bad value named', () => {
  const base = `
roles:
  - name: sales
    match: { groups: [sales] }
    metabase: { apiKey: { env: SALES_KEY } }
    collections: [root]
  - name: owner
    match: { groups: [owners] }
    metabase: { apiKey: { env: OWNER_KEY } }
    collections: all
    grantable:
      - dashboards: [2]
        questions: [10, 11]
        collections: [4, { subtree: 5 }]
        to: [sales, /org/**]
        approvers: [owner]
        maxMinutes: 120
`;
  const p = parsePolicy(base, '/etc/gateway/policy.yaml');
  assert.deepEqual(p.roles[1]!.grantable, [{ dashboards: [2], questions: [10, 11], collections: [4], subtrees: [5], to: ['sales', '/org/**'], approvers: ['owner'], maxMinutes: 120 }]);
  assert.deepEqual(p.roles[0]!.grantable, []);
  assert.deepEqual(p.accessRequests, { pendingMinutes: 1440, webhook: null });
  const hooked = parsePolicy(`accessRequests:\n  pendingMinutes: 30\n  webhook: { url: https://hooks.example.com/x, secret: { file: hook.key } }\n${base}`, '/etc/gateway/policy.yaml');
  assert.deepEqual(hooked.accessRequests, { pendingMinutes: 30, webhook: { url: 'https://hooks.example.com/x', secret: { file: '/etc/gateway/hook.key' } } });

  const problems = problemsOf(`
accessRequests:
  pendingMinutes: 0
  webhook: { url: http://hooks.example.com/x, secret: { env: xoxb-1234567890-abcdefghijKLMNOP } }
roles:
  - name: agent
    match: { clientKinds: [agent] }
    metabase: { apiKey: { env: AGENT_KEY } }
    collections: all
    vettedOnly: true
  - name: owner
    match: { groups: [owners] }
    metabase: { apiKey: { env: OWNER_KEY } }
    collections: all
    grantable:
      - dashboards: [0]
        collections: [root]
        approvers: [nobody, agent]
        maxMinutes: 50000
        to: []
      - to: [sales]
        approvers: [owner]
        maxMinutes: 10
      - { dashboards: [1], to: [sales], approvers: [nobody, agent, owner], maxMinutes: 10, reviewers: [owner] }
`);
  for (const expected of [
    /grantable\[0\]\.dashboards\[0\]: expected an integer from 1/,
    /grantable\[0\]\.collections\[0\]: expected a collection id or \{subtree: id\} \(the root collection cannot be granted\)/,
    /grantable\[0\]\.to: expected a non-empty list of strings/,
    /grantable\[0\]\.maxMinutes: expected an integer from 1 to 43200, received 50000/,
    /grantable\[1\]: expected at least one of dashboards, questions or collections to grant/,
    /grantable\[2\]\.reviewers: unknown key/,
    /accessRequests\.pendingMinutes: expected an integer from 1 to 43200, received 0/,
    /accessRequests\.webhook\.url: expected the webhook's URL \(https; http only to 127\.0\.0\.1, ::1 or localhost\)/,
    /accessRequests\.webhook\.secret\.env: .*looks like the secret itself/,
    // Approvers are roles of the policy that can send the approving mutations.
    /^roles\[1\]\.grantable\[2\]\.approvers\[0\]: expected a role of this policy \(agent, owner\), received "nobody"$/,
    /^roles\[1\]\.grantable\[2\]\.approvers\[1\]: expected a role that may send the approving mutations; role agent is vettedOnly, so it never could, received "agent"$/,
  ]) assert.ok(problems.some((line) => expected.test(line)), `${expected} among:\n${problems.join('\n')}`);
  assert.ok(!problems.join('\n').includes('xoxb-1234567890'), 'the pasted secret is not echoed');
});

test('cache, results and run limits: defaults, and every bad value reported', () => {
  const base = 'roles: [{ name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }]';
  const p = parsePolicy(base, 'p.yaml');
  for (const kind of ['cards', 'dashboards', 'collections', 'databases'] as const) assert.deepEqual(p.cache.metadata[kind], { ttlMs: 60_000, staleMs: 60_000 });
  assert.deepEqual(p.roles[0]!.resultCache, { ttlMs: 0, nativeSql: false }, 'results are not kept unless a role says so');
  assert.equal(p.roles[0]!.rateLimitFallback, 'local');
  const agents = parsePolicy(base.replace('match: { groups: [g] }', 'match: { clientKinds: [agent] }'), 'p.yaml');
  assert.equal(agents.roles[0]!.rateLimitFallback, 'refuse', 'agents fail closed by default');
  const set = parsePolicy(`
cache: { metadata: { ttlSeconds: 0, staleSeconds: 5, dashboards: 30 } }
rateLimitTiers: { t: { runsPerMinute: 10, concurrentRuns: 2 } }
roles: [{ name: r, match: { clientKinds: [agent] }, metabase: { apiKey: { env: K } }, collections: all, rateLimitTier: t, rateLimitFallback: local, resultCache: { ttlSeconds: 120, nativeSql: true } }]
`, 'p.yaml');
  assert.deepEqual(set.cache.metadata.cards, { ttlMs: 0, staleMs: 5_000 });
  assert.deepEqual(set.cache.metadata.dashboards, { ttlMs: 30_000, staleMs: 5_000 });
  assert.deepEqual(set.rateLimitTiers['t'], { requestsPerMinute: null, runsPerMinute: 10, concurrentRuns: 2 });
  assert.deepEqual([set.roles[0]!.rateLimitFallback, set.roles[0]!.resultCache], ['local', { ttlMs: 120_000, nativeSql: true }]);

  assert.deepEqual(problemsOf(`
cache: { metadata: { ttlSeconds: -1, cards: forever, questions: 5 } }
rateLimitTiers: { empty: {}, bad: { concurrentRuns: 0, runsPerMinute: 1.5 } }
roles: [{ name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all, rateLimitFallback: maybe, resultCache: { ttlSeconds: 86401, native: true } }]
`), [
    'rateLimitTiers.empty: expected at least one of requestsPerMinute, runsPerMinute, concurrentRuns, received {}',
    'rateLimitTiers.bad.runsPerMinute: expected an integer from 1 to 1000000, received 1.5',
    'rateLimitTiers.bad.concurrentRuns: expected an integer from 1 to 10000, received 0',
    'cache.metadata.questions: unknown key; expected one of ttlSeconds, staleSeconds, cards, dashboards, collections, databases',
    'cache.metadata.ttlSeconds: expected an integer from 0 to 86400, received -1',
    'cache.metadata.cards: expected an integer from 0 to 86400, received "forever"',
    'roles[0].resultCache.native: unknown key; expected one of ttlSeconds, nativeSql',
    'roles[0].resultCache.ttlSeconds: expected an integer from 0 to 86400, received 86401',
    'roles[0].rateLimitFallback: expected one of local, refuse, received "maybe"',
  ]);
});

test('a policy file round-trip through disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'policy-'));
  try {
    const file = join(dir, 'policy.yaml');
    await writeFile(file, await readFile(DEMO_POLICY_FILE, 'utf8'));
    assert.equal((await loadPolicyFile(file)).source, file);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('limits: the policy\'s apply to every role, a role\'s own override them; each is checked against its ceiling', async () => {
  const { DEFAULT_LIMITS } = await import('../../../src/config/limits.js');
  const p = parsePolicy(`
limits: { cost: 8000, depth: 12 }
roles:
  - { name: a, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }
  - { name: b, match: { groups: [h] }, metabase: { apiKey: { env: K } }, collections: all, limits: { depth: 6, runs: 5 } }
  - { name: bot, match: { clientKinds: [agent] }, metabase: { apiKey: { env: K } }, collections: all }
`, 'p.yaml');
  assert.deepEqual(p.limits, { ...DEFAULT_LIMITS, cost: 8000, depth: 12 });
  assert.deepEqual(p.roles[0]!.limits, p.limits);
  assert.deepEqual(p.roles[1]!.limits, { ...DEFAULT_LIMITS, cost: 8000, depth: 6, runs: 5 });
  assert.deepEqual(p.roles.map((r) => r.canIntrospect), [true, true, false], 'on for people, off for a role that serves only agents');
  const problems = problemsOf(`
limits: { depth: 100, fragments: 0, speed: 3 }
roles:
  - { name: a, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all, limits: { upstreamBytes: -1 } }
`);
  assert.deepEqual(problems.sort(), [
    'limits.depth: expected an integer from 1 to 64, received 100',
    'limits.fragments: expected an integer from 1 to 1000, received 0',
    `limits.speed: unknown key; expected one of ${Object.keys(DEFAULT_LIMITS).join(', ')}`,
    'roles[0].limits.upstreamBytes: expected an integer from 1 to 1099511627776, received -1',
  ].sort());
});

test('vettedOnly: true, false or log; operations only on a vetted-only role, and only vetted operations at start', async () => {
  const role = (extra: string) => `roles: [{ name: r, match: { clientKinds: [agent] }, metabase: { apiKey: { env: K } }, collections: all${extra} }]`;
  const logged = parsePolicy(role(', vettedOnly: log, operations: [AgentSearch]'), 'p.yaml').roles[0]!;
  assert.deepEqual([logged.vettedOnly, logged.vettedOnlyMode, logged.operations], [true, 'log', ['AgentSearch']]);
  const enforced = parsePolicy(role(', vettedOnly: true'), 'p.yaml').roles[0]!;
  assert.deepEqual([enforced.vettedOnly, enforced.vettedOnlyMode, enforced.operations], [true, 'enforce', null]);
  assert.deepEqual(problemsOf(role(', vettedOnly: sometimes')), ['roles[0].vettedOnly: expected true, false or log, received "sometimes"']);
  assert.deepEqual(problemsOf(role(', operations: [AgentSearch]')), ['roles[0].operations: expected no operations list on a role that is not vettedOnly (it may send any operation), received ["AgentSearch"]']);
  assert.deepEqual(problemsOf(role(', vettedOnly: true, operations: []')), ['roles[0].operations: expected a non-empty list of strings, received []']);

  const { PolicyStore } = await import('../../../src/policy/store.js');
  const { createMetabasePool } = await import('../../../src/metabase/client.js');
  const { pino } = await import('pino');
  const pool = createMetabasePool();
  const open = (policyText: string) => PolicyStore.open({
    policy: parsePolicy(policyText, 'p.yaml'), env: { K: 'mb_0123456789abcdef' }, logger: pino({ level: 'silent' }), drainGraceMs: 0,
    metabase: { baseUrl: 'http://metabase.invalid', timeoutMs: 1_000, maxConcurrent: 1, dispatcher: pool }, vettedOperations: new Set(['AgentSearch', 'AgentReadRun']),
    defaultIssuer: { name: 'default', issuer: 'https://idp.example.test', audiences: ['gateway'], audienceClaim: 'aud', algorithms: ['RS256'], allowIdTokens: false, overage: null },
  });
  try {
    await assert.rejects(open(role(', vettedOnly: true, operations: [AgentSearch, AgentSerach]')), /role r: operations: AgentSerach is not a vetted operation \(the vetted operations: AgentReadRun, AgentSearch\)/);
    await (await open(role(', vettedOnly: true, operations: [AgentSearch]'))).close();
  } finally {
    await pool.close();
  }
});

test('toolResultBytes and riskFlags: bounded numbers, known flags, safe defaults', () => {
  const role = (extra: string) => `roles: [{ name: r, match: { clientKinds: [agent] }, metabase: { apiKey: { env: K } }, collections: all${extra} }]`;
  const plain = parsePolicy(role(''), 'p.yaml').roles[0]!;
  assert.deepEqual([plain.toolResultBytes, plain.riskFlags], [32_768, { refuse: [], distinctQuestionsPerMinute: 20, rowCapCutsPerMinute: 5 }]);
  const set = parsePolicy(role(', toolResultBytes: 4096, riskFlags: { refuse: [sql-shaped-value, question-burst], distinctQuestionsPerMinute: 3 }'), 'p.yaml').roles[0]!;
  assert.deepEqual([set.toolResultBytes, set.riskFlags], [4_096, { refuse: ['sql-shaped-value', 'question-burst'], distinctQuestionsPerMinute: 3, rowCapCutsPerMinute: 5 }]);
  assert.deepEqual(problemsOf(role(', toolResultBytes: 10')), ['roles[0].toolResultBytes: expected an integer from 1024 to 1048576, received 10']);
  assert.deepEqual(problemsOf(role(', riskFlags: { refuse: [sql-ish] }')), ['roles[0].riskFlags.refuse[0]: expected one of question-burst, row-cap-repeated, sql-shaped-value, prompt-shaped-value, received "sql-ish"']);
  assert.deepEqual(problemsOf(role(', riskFlags: { burst: 3 }')), ['roles[0].riskFlags.burst: unknown key; expected one of refuse, distinctQuestionsPerMinute, rowCapCutsPerMinute']);
});
