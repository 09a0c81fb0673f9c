/**
 * Authorization end to end: a real OIDC provider issues the tokens, the emulator is Metabase with its
 * group permissions, and the gateway runs on a policy written for the test. A matrix of roles by
 * operations; data compared with what Metabase gives each group directly; token attacks; the JWKS cache.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { SignJWT, base64url } from 'jose';
import { explainToken } from '../../../src/explain.js';
import { createTokenVerifier } from '../../../src/identity/verifier.js';
import type { Card, Dashboard } from '../../../src/metabase/types.js';
import { credentialOf, emulator, groupKeys, type Emulator } from '../../helpers/emulator.js';
import { keyClient, loginClient } from '../../helpers/metabase.js';
import { AUDIENCE, startIdp, type Idp } from '../../helpers/idp.js';
import { startAuthzStack, type AuthzStack } from '../../helpers/authz.js';
import { startEntryPoint } from '../../helpers/entry.js';

const policyFor = (supportEmail: string): string => `
claims:
  groups: [groups, realm_access.roles]
  clientKind:
    rules:
      - { kind: agent, clientIds: [reporting-agent] }
roles:
  - name: analyst
    match: { groups: [analysts], clientKinds: [human] }
    metabase: { apiKey: { file: analysts.key } }
    collections: all
    canViewSql: true
    canRunNativeSql: true
  - name: sales
    match: { groups: [sales, analysts], clientKinds: [human] }
    metabase: { apiKey: { env: SALES_KEY } }
    collections: [root, { subtree: 2 }]
    maxRows: 5
  - name: support
    match: { groups: [support] }
    metabase: { login: { username: ${supportEmail}, password: { env: SUPPORT_PASSWORD } } }
    collections: [1, 4]
  - name: agent
    match: { clientKinds: [agent] }
    metabase: { apiKey: { env: AGENTS_KEY } }
    collections: [{ subtree: 7 }]
`;

/** Each role's policy collections, written out independently of the gateway's code. */
const IN_POLICY: Record<string, (collectionId: number | null) => boolean> = {
  analyst: () => true,
  sales: (c) => c === null || c === 2 || c === 3,
  support: (c) => c === 1 || c === 4,
  agent: (c) => c === 7,
};

describe('authorization with a real OIDC provider', () => {
  let mb: Emulator;
  let idp: Idp;
  let stack: AuthzStack;
  const tokens: Record<string, string> = {};

  before(async () => {
    mb = await emulator();
    idp = await startIdp();
    const keys = groupKeys(mb);
    const support = credentialOf(mb, 'Support');
    stack = await startAuthzStack({
      emulator: mb, issuer: idp.issuer, audience: AUDIENCE, policy: policyFor(support.email),
      env: { SALES_KEY: keys.sales, AGENTS_KEY: keys.agents, SUPPORT_PASSWORD: support.password },
      files: { 'analysts.key': `${keys.analyst}\n` },
    });
    tokens['analyst'] = await idp.userToken('ana', { groups: ['analysts'], email: 'ana@example.test' });
    tokens['sales'] = await idp.userToken('sam', { groups: ['sales'] });
    tokens['support'] = await idp.userToken('sue', { realm_access: { roles: ['support'] } });
    tokens['agent'] = await idp.agentToken();
    tokens['contractor'] = await idp.userToken('cora', { groups: ['contractors'] });
  });
  after(async () => {
    await stack.close();
    await idp.close();
    await mb.close();
  });

  const data = async (role: string, query: string, headers: Record<string, string> = {}) => {
    const res = await stack.post(query, tokens[role], headers);
    assert.equal(res.status, 200, res.text);
    return res.body;
  };
  const forbidden = (body: Awaited<ReturnType<typeof data>>, reason: string, path?: string) => {
    assert.ok(body.errors?.length, 'an error');
    for (const e of body.errors!) {
      assert.equal(e.extensions.code, 'FORBIDDEN', e.message);
      assert.equal(e.extensions.reason, reason, e.message);
      if (path) assert.equal(e.path?.join('.'), path);
    }
  };

  test('each role sees exactly what Metabase shows its group, narrowed to its policy collections, through its own credential', async () => {
    const keys = groupKeys(mb);
    const support = credentialOf(mb, 'Support');
    const direct = {
      analyst: keyClient(mb, 'Analysts'), sales: keyClient(mb, 'Sales'), agent: keyClient(mb, 'Agents'), support: loginClient(mb, 'Support'),
    } as const;
    const seen: Record<string, string[]> = {};
    try {
      for (const role of ['analyst', 'sales', 'support', 'agent'] as const) {
        const cards: Card[] = await direct[role].listCards();
        const dashboards: Dashboard[] = await direct[role].listDashboards();
        const expectedCards = cards.filter((c) => IN_POLICY[role]!(c.collectionId)).map((c) => String(c.id)).sort();
        const expectedDashboards = dashboards.filter((d) => IN_POLICY[role]!(d.collectionId)).map((d) => String(d.id)).sort();
        mb.requests.reset();
        const body = await data(role, '{ viewer { role } questions(first: 100) { nodes { id } } dashboards(first: 100) { nodes { id } } }');
        assert.equal(body.errors, undefined, JSON.stringify(body.errors));
        const d = body.data as { viewer: { role: string }; questions: { nodes: { id: string }[] }; dashboards: { nodes: { id: string }[] } };
        assert.equal(d.viewer.role, role);
        assert.deepEqual(d.questions.nodes.map((n) => n.id).sort(), expectedCards, `${role}'s questions`);
        assert.deepEqual(d.dashboards.nodes.map((n) => n.id).sort(), expectedDashboards, `${role}'s dashboards`);
        assert.ok(expectedCards.length > 0, `${role} sees some questions`);
        seen[role] = expectedCards;
        const users = new Set(mb.requests.log.filter((l) => l.route !== 'POST /api/session').map((l) => l.user));
        assert.equal(users.size, 1, `${role}'s calls all went out with one credential: ${[...users].join(', ')}`);
        if (role === 'support') {
          assert.deepEqual([...users], [support.email], 'the service account\'s login');
          assert.ok(mb.requests.count('POST /api/session') <= 1, 'one login at most');
        }
      }
      assert.notDeepEqual(seen['sales'], seen['support'], 'two roles, two Metabase groups, two answers');
      // Nothing was shared between roles: the same query as sales after support still reflects sales' group.
      const again = (await data('sales', '{ questions(first: 100) { nodes { id } } }')).data as { questions: { nodes: { id: string }[] } };
      assert.deepEqual(again.questions.nodes.map((n) => n.id).sort(), seen['sales']);
      assert.ok(keys.sales !== keys.support);
    } finally {
      await Promise.all(Object.values(direct).map((c) => c.close()));
    }
  });

  test('where the role\'s Metabase group lacks a permission, Metabase\'s denial passes through as FORBIDDEN (reason metabase)', async () => {
    const body = await data('sales', '{ dashboard(id: 2) { id } }');
    forbidden(body, 'metabase', 'dashboard');
    assert.equal(body.errors![0]!.message, 'Your role\'s Metabase group may not read or run this.');
    assert.equal(body.errors![0]!.extensions['upstreamStatus'], 403);
    const line = stack.log.find((l) => l.event === 'graphql.error' && l['path'] === 'dashboard' && l['code'] === 'FORBIDDEN');
    assert.match(String(line?.['detail']), /GET \/api\/dashboard\/2 answered 403: You don't have permissions to do that\./, 'Metabase\'s words are in the log');
  });

  test('SQL: only canViewSql roles see a question\'s SQL, only canRunNativeSql roles run their own', async () => {
    const analyst = await data('analyst', '{ question(id: 4) { name nativeSql } }');
    assert.match((analyst.data as { question: { nativeSql: string } }).question.nativeSql, /SELECT/i);
    const sales = await data('sales', '{ question(id: 4) { name nativeSql } }');
    assert.deepEqual(sales.data, { question: { name: 'Orders since a date', nativeSql: null } });
    forbidden(sales, 'sql-hidden', 'question.nativeSql');
    const sql = 'mutation { runNativeQuery(databaseId: 1, sql: "SELECT COUNT(*) FROM PEOPLE") { rows } }';
    assert.deepEqual((await data('analyst', sql)).data, { runNativeQuery: { rows: [[2500]] } });
    const refused = await data('sales', sql);
    assert.deepEqual(refused.data, { runNativeQuery: null });
    forbidden(refused, 'native-sql', 'runNativeQuery');
    assert.equal(mb.requests.log.filter((l) => l.route === 'POST /api/dataset' && l.user !== undefined).length >= 1, true);
  });

  test('maxRows caps every run of the role, whatever the caller asks', async () => {
    const body = await data('sales', '{ question(id: 4) { run(maxRows: 1000) { rowCount truncated } } q: question(id: 4) { run { rowCount } } }');
    assert.deepEqual(body.data, { question: { run: { rowCount: 5, truncated: true } }, q: { run: { rowCount: 5 } } });
    const fewer = await data('sales', 'mutation { runQuestion(id: 4, maxRows: 2) { rowCount } }');
    assert.deepEqual(fewer.data, { runQuestion: { rowCount: 2 } });
    const analyst = await data('analyst', 'mutation { runQuestion(id: 4) { rowCount } }');
    assert.ok((analyst.data as { runQuestion: { rowCount: number } }).runQuestion.rowCount > 5);
  });

  test('collection restrictions hold on every object in a collection, even where Metabase would allow it', async () => {
    // The Sales group may read Examples (1) in Metabase and Support may read the root collection;
    // their roles' policies do not include them.
    for (const [role, query, path] of [
      ['support', '{ dashboard(id: 3) { id name } }', 'dashboard'],
      ['sales', '{ question(id: 3) { id name } }', 'question'],
      ['sales', '{ collection(id: 1) { id name } }', 'collection'],
      ['sales', 'mutation { runQuestion(id: 3) { rowCount } }', 'runQuestion'],
      ['sales', 'mutation { runDashboardCard(dashboardId: 3, dashboardCardId: 33) { rowCount } }', 'runDashboardCard'],
      ['support', 'mutation { runDashboardCard(dashboardId: 3, dashboardCardId: 31) { rowCount } }', 'runDashboardCard'],
    ] as const) {
      const body = await data(role, query);
      assert.equal(body.errors?.length, 1, `${query}: one error, at the root field`);
      forbidden(body, 'collection', path);
    }
    const dashboard = await data('sales', '{ dashboard(id: 1) { cards { id restricted question { id } run { rowCount } } } }');
    const cards = (dashboard.data as { dashboard: { cards: { id: string; restricted: boolean; question: { id: string } | null; run: unknown }[] } }).dashboard.cards;
    const examples = cards.find((c) => c.restricted)!;
    assert.ok(examples, 'the card whose question lives in Examples is restricted for sales');
    assert.equal(examples.question, null);
    assert.ok(cards.some((c) => !c.restricted && c.question !== null), 'the others are readable');
    forbidden({ errors: dashboard.errors!.filter((e) => e.path?.includes(cards.indexOf(examples))) }, 'collection');
    const root = await data('sales', '{ collection(id: "root") { children { id } questions { collection { id } } dashboards { id } } collections { id } search(text: "a", first: 50) { kind id collectionId } }');
    assert.equal(root.errors, undefined, JSON.stringify(root.errors));
    const r = root.data as { collection: { children: { id: string }[] }; collections: { id: string }[]; search: { kind: string; id: string; collectionId: string | null }[] };
    assert.deepEqual(r.collection.children.map((c) => c.id), ['2']);
    assert.deepEqual(r.collections.map((c) => c.id).sort(), ['2', '3', 'root']);
    assert.ok(r.search.length > 0);
    for (const hit of r.search) {
      if (hit.kind === 'DATABASE' || hit.kind === 'TABLE') continue;
      const where = hit.kind === 'COLLECTION' ? hit.id : hit.collectionId;
      assert.ok(where === null || where === 'root' || ['2', '3'].includes(where), `search hit ${hit.kind} ${hit.id} in ${where}`);
    }
  });

  test('an agent (client credentials) acts in the agent role, from its OAuth client, on the Agent toolkit only', async () => {
    const body = await data('agent', '{ viewer { subject clientId clientKind role groups } questions(first: 100) { nodes { collection { id } } } }');
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const d = body.data as { viewer: Record<string, unknown>; questions: { nodes: { collection: { id: string } }[] } };
    assert.deepEqual(d.viewer, { subject: 'reporting-agent', clientId: 'reporting-agent', clientKind: 'agent', role: 'agent', groups: [] });
    assert.ok(d.questions.nodes.length > 0 && d.questions.nodes.every((n) => n.collection.id === '7'));
  });

  test('a caller no role fits: viewer explains, everything else is FORBIDDEN; X-Gateway-Role chooses among fitting roles only', async () => {
    const none = await data('contractor', '{ viewer { groups groupSources { claim values } role noRoleReason } questions { totalCount } m: databases { id } }');
    const v = (none.data as { viewer: { groups: string[]; groupSources: unknown; role: null; noRoleReason: string } }).viewer;
    assert.deepEqual(v.groupSources, [{ claim: 'groups', values: ['contractors'] }, { claim: 'realm_access.roles', values: [] }]);
    assert.equal(v.role, null);
    assert.match(v.noRoleReason, /^No gateway role fits your token\. Your token carries the groups contractors \(read from groups, realm_access\.roles\) and client kind human; ask your administrator/);
    assert.ok(!/analysts|sales needs/.test(v.noRoleReason), 'without explainDenials, other roles\' groups are not listed');
    assert.deepEqual(none.data, { viewer: none.data!['viewer'], questions: null, m: null });
    forbidden(none, 'no-role');
    assert.equal(none.errors!.length, 2);
    const asSales = await data('analyst', '{ viewer { role availableRoles } question(id: 4) { nativeSql } }', { 'x-gateway-role': 'sales' });
    assert.deepEqual((asSales.data as { viewer: unknown }).viewer, { role: 'sales', availableRoles: ['analyst', 'sales'] });
    forbidden(asSales, 'sql-hidden');
    const notAllowed = await stack.post('{ viewer { role } }', tokens['sales'], { 'x-gateway-role': 'analyst' });
    assert.equal(notAllowed.status, 403);
    assert.equal(notAllowed.body.errors![0]!.extensions.reason, 'role-not-allowed');
  });

  test('token attacks are UNAUTHENTICATED with a reason, leak nothing, and are logged without the token', async () => {
    const good = tokens['analyst']!;
    const [h, p] = good.split('.');
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p!))) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'mallory', aud: AUDIENCE, iss: idp.issuer, groups: ['analysts'], iat: now, exp: now + 600 };
    const { generateKeyPair } = await import('jose');
    const stranger = (await generateKeyPair('RS256')).privateKey;
    const attacks: [string, string | undefined, string][] = [
      ['no token', undefined, 'missing'],
      ['garbage', 'garbage', 'malformed'],
      ['alg none', `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify(claims))}.`, 'algorithm'],
      ['HS256 keyed with the RSA public key', await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(idp.publicPem)), 'algorithm'],
      ['expired', await idp.sign({ ...claims, iat: now - 7200, exp: now - 3600 }), 'expired'],
      ['not yet valid', await idp.sign({ ...claims, nbf: now + 3600 }), 'not-yet-valid'],
      ['wrong issuer', await idp.sign({ ...claims, iss: 'https://evil.example.test' }), 'issuer'],
      ['wrong audience', await idp.sign({ ...claims, aud: 'https://other.test' }), 'audience'],
      ['unknown kid', await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k-unknown' }).sign(stranger), 'unknown-key'],
      ['tampered payload', `${h}.${base64url.encode(JSON.stringify({ ...payload, groups: ['admins'], sub: 'mallory' }))}.${good.split('.')[2]}`, 'signature'],
      ['a 40 KB token', `${h}.${'A'.repeat(40 * 1024)}.${good.split('.')[2]}`, 'too-large'],
      ['an unknown critical header extension', await idp.sign(claims, { crit: ['x-gateway-test'], 'x-gateway-test': true }), 'crit'],
      ['no subject', await idp.sign({ ...claims, sub: undefined }), 'subject'],
    ];
    for (const [name, token, reason] of attacks) {
      const before = stack.log.length;
      const res = await stack.post('{ viewer { subject role } }', token);
      assert.equal(res.status, 401, `${name}: ${res.text.slice(0, 200)}`);
      assert.equal(res.body.errors![0]!.extensions.code, 'UNAUTHENTICATED', name);
      assert.equal(res.body.errors![0]!.extensions.reason, reason, `${name}: ${res.body.errors![0]!.message}`);
      assert.equal(res.body.data, undefined, `${name}: no data`);
      if (token) {
        for (const part of token.split('.').filter((s) => s.length > 8)) assert.ok(!res.text.includes(part), `${name}: the answer echoes no part of the token`);
      }
      const logged = stack.log.slice(before).filter((l) => l.event === 'auth.refused');
      assert.equal(logged.length, 1, `${name}: logged once`);
      assert.equal(logged[0]!['reason'], reason);
    }
    const everything = stack.rawLog.join('\n');
    for (const [name, token] of attacks) {
      for (const part of (token ?? '').split('.').filter((s) => s.length > 8)) assert.ok(!everything.includes(part), `${name}: no log line holds any part of the token`);
    }
    for (const t of Object.values(tokens)) assert.ok(!everything.includes(t.split('.')[2]!), 'no log line holds a real token');

    // Two Authorization headers (a valid one, then garbage) are not served as the first: the request is malformed.
    const twice = await rawPost(stack.url, ['content-type: application/json', `authorization: Bearer ${good}`, 'authorization: Bearer garbage'], '{"query":"{ viewer { role } }"}');
    assert.equal(twice.status, 400, twice.text);
    const refusal = JSON.parse(twice.text) as { errors: { message: string; extensions: { code: string; reason: string } }[] };
    assert.deepEqual([refusal.errors[0]!.extensions.code, refusal.errors[0]!.extensions.reason], ['UNAUTHENTICATED', 'malformed']);
    assert.match(refusal.errors[0]!.message, /exactly one Authorization header/);
    assert.match(twice.authenticate ?? '', /error="invalid_request"/);
    const secrets = [...Object.values(groupKeys(mb)), credentialOf(mb, 'Support').password];
    for (const secret of secrets) assert.ok(!everything.includes(secret), 'no log line holds a Metabase key or password');
  });

  test('explain prints how a token is read, and why it is refused', async () => {
    const policy = stack.policy.current.policy;
    const ok = await explainToken(tokens['analyst']!, policy, stack.policy.current.issuers, stack.tokens);
    assert.equal(ok.verified, true);
    const text = ok.lines.join('\n');
    assert.match(text, /Verification: ok/);
    assert.match(text, /groups: analysts/);
    assert.match(text, /fits {2}analyst: group analysts \(the default role\)/);
    assert.match(text, /fits {2}sales: group analysts/);
    assert.match(text, /X-Gateway-Role header: sales/);
    assert.ok(!text.includes(tokens['analyst']!.split('.')[2]!), 'the signature is never printed');
    const expired = await idp.sign({ sub: 'x', aud: AUDIENCE, iss: idp.issuer, exp: Math.floor(Date.now() / 1000) - 60, groups: ['nobody'] });
    const bad = await explainToken(expired, policy, stack.policy.current.issuers, stack.tokens);
    assert.equal(bad.verified, false);
    assert.match(bad.lines.join('\n'), /REFUSED, UNAUTHENTICATED \(reason: expired\)/);
    assert.match(bad.lines.join('\n'), /No role fits/);
    const noSubject = await explainToken(await idp.sign({ aud: AUDIENCE, iss: idp.issuer, exp: Math.floor(Date.now() / 1000) + 60, groups: ['analysts'] }), policy, stack.policy.current.issuers, stack.tokens);
    assert.equal(noSubject.verified, false, 'a token the server refuses for its subject is not reported as verified');
    assert.match(noSubject.lines.join('\n'), /reason: subject/);

    // The command itself, as an operator runs it: the server's settings, the token on standard input.
    const run = (token: string) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'explain', '-'], {
        env: { ...process.env, METABASE_URL: mb.url, OIDC_ISSUER: idp.issuer, OIDC_AUDIENCE: AUDIENCE, POLICY_FILE: stack.policyFile },
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => resolve({ code, out }));
      child.stdin.end(`Bearer ${token}\n`);
    });
    const cli = await run(tokens['support']!);
    assert.equal(cli.code, 0, cli.out);
    assert.match(cli.out, /realm_access\.roles: support/);
    assert.match(cli.out, /fits {2}support: group support \(the default role\)/);
    const refused = await run(expired);
    assert.equal(refused.code, 2, refused.out);
    assert.match(refused.out, /reason: expired/);
    assert.ok(!cli.out.includes(tokens['support']!.split('.')[2]!));
  });

  test('production mode: the real entry point on this policy, Metabase and IdP serves each role and drains on SIGTERM', async () => {
    const keys = groupKeys(mb);
    const gateway = await startEntryPoint({
      METABASE_URL: mb.url, OIDC_ISSUER: idp.issuer, OIDC_AUDIENCE: AUDIENCE, POLICY_FILE: stack.policyFile,
      SALES_KEY: keys.sales, AGENTS_KEY: keys.agents, SUPPORT_PASSWORD: credentialOf(mb, 'Support').password, LOG_LEVEL: 'info',
    });
    try {
      const url = gateway.url;
      for (const role of ['analyst', 'sales', 'support', 'agent']) {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[role]}` }, body: JSON.stringify({ query: '{ viewer { role } questions(first: 1) { totalCount } }' }) });
        const body = (await res.json()) as { data: { viewer: { role: string }; questions: { totalCount: number } } };
        assert.equal(body.data.viewer.role, role);
        assert.ok(body.data.questions.totalCount > 0);
      }
      assert.deepEqual(await gateway.stop(), { code: 0, signal: null });
      const out = gateway.output();
      assert.match(out, /"event":"graphql.request"/, 'the audit trail is on standard output by default');
      for (const secret of [...Object.values(keys), credentialOf(mb, 'Support').password]) assert.ok(!out.includes(secret), 'no secret in the output');
      for (const t of Object.values(tokens)) assert.ok(!out.includes(t.split('.')[2]!), 'no token in the output');
    } finally {
      gateway.kill();
    }
  });

  // Last: it stops the IdP.
  test('JWKS: unknown kids refresh once per cooldown; with the IdP down, cached keys keep working', async () => {
    const verify = createTokenVerifier({ issuer: idp.issuer, audience: AUDIENCE, keyRefreshCooldownMs: 60_000 });
    await verify(tokens['analyst']!);
    const fetchesAfterFirst = idp.jwksFetches;
    const { generateKeyPair } = await import('jose');
    const stranger = (await generateKeyPair('RS256')).privateKey;
    const flood = await Promise.all(Array.from({ length: 25 }, (_, i) =>
      new SignJWT({ sub: 'm', aud: AUDIENCE, iss: idp.issuer }).setExpirationTime('5m').setProtectedHeader({ alg: 'RS256', kid: `k-${i}` }).sign(stranger)));
    const results = await Promise.allSettled(flood.map((t) => verify(t)));
    assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as { extensions: { reason: string } }).extensions.reason === 'unknown-key'));
    assert.ok(idp.jwksFetches - fetchesAfterFirst <= 1, `at most one refresh for 25 unknown kids (saw ${idp.jwksFetches - fetchesAfterFirst})`);
    const fetchesAfterFlood = idp.jwksFetches;
    await Promise.allSettled(flood.map((t) => verify(t)));
    assert.equal(idp.jwksFetches, fetchesAfterFlood, 'none within the cooldown');

    const stale = createTokenVerifier({ issuer: idp.issuer, audience: AUDIENCE, keyMaxAgeMs: 1, keyRefreshCooldownMs: 60_000 });
    await stale(tokens['analyst']!);
    const issuerUrl = idp.issuer;
    await idp.close();
    assert.deepEqual((await verify(tokens['sales']!)).groups, ['sales'], 'the cached key still verifies');
    const fetchesBefore = stale.keys.fetches;
    for (let i = 0; i < 10; i++) await stale(tokens['sales']!);
    assert.equal(stale.keys.fetches - fetchesBefore, 0, 'stale keys are refreshed at most once per cooldown while the IdP is down, not per request');
    const never = createTokenVerifier({ issuer: issuerUrl, audience: AUDIENCE });
    for (let i = 0; i < 10; i++) {
      await assert.rejects(never(tokens['sales']!), (err: { extensions: { code: string } }) => err.extensions.code === 'UPSTREAM_UNAVAILABLE');
    }
    assert.equal(never.keys.fetches, 1, 'with no keys yet, attempts are spaced out, not one per request');
    const res = await stack.post('{ viewer { role } }', tokens['support']);
    assert.deepEqual(res.body.data, { viewer: { role: 'support' } }, 'the gateway keeps serving with its cached keys');
  });
});

/** One HTTP/1.1 request written by hand: the only way to send a header twice. */
async function rawPost(url: string, headerLines: string[], body: string): Promise<{ status: number; text: string; authenticate: string | undefined }> {
  const { hostname, port, pathname } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.write([`POST ${pathname} HTTP/1.1`, `host: ${hostname}:${port}`, `content-length: ${Buffer.byteLength(body)}`, 'connection: close', ...headerLines, '', body].join('\r\n'));
  let raw = '';
  for await (const chunk of socket) raw += (chunk as Buffer).toString();
  const [head, ...rest] = raw.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head!)![1]);
  const authenticate = /^www-authenticate: (.*)$/im.exec(head!)?.[1];
  return { status, text: rest.join('\r\n\r\n'), authenticate };
}
