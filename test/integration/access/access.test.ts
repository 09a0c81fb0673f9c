/**
 * Just-in-time access end to end: two gateway instances on one Redis, tokens from a real OpenID
 * provider for a requester, an approver, a bystander and others, the emulator as Metabase, a local
 * HTTP server as the approvers' webhook, and the audit trail read back. Time is the tests' own
 * clock (the gateway's `access.clock`), so expiry is shown without waiting.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { EventEmitter, once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { RedisAccessStore } from '../../../src/access/records.js';
import { createAuditLog, type AuditLog } from '../../../src/audit/audit.js';
import { startEmulator } from '../../../src/emulator/server.js';
import { groupKeys, type Emulator } from '../../helpers/emulator.js';
import { AUDIENCE, startIdp, type Idp } from '../../helpers/idp.js';
import { startAuthzStack, type AuthzStack, type GqlBody } from '../../helpers/authz.js';
import { twoInstanceStores } from '../../helpers/redis.js';
import { latch, type Latch } from '../../helpers/latch.js';

const policy = (hookUrl: string): string => `
claims:
  groups: [groups]
accessRequests:
  pendingMinutes: 60
  webhook:
    url: ${hookUrl}
    secret: { env: ACCESS_HOOK_SECRET }
roles:
  - name: sales
    match: { groups: [sales] }
    metabase: { apiKey: { env: SALES_KEY } }
    collections: [root, { subtree: 2 }]
  - name: data-owner
    match: { groups: [data-owners] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
  - name: support-lead
    match: { groups: [support-leads] }
    metabase: { apiKey: { env: SUPPORT_KEY } }
    collections: [root, 4]
    grantable:
      - collections: [4]
        to: [sales]
        approvers: [support-lead]
        maxMinutes: 30
      # Question 12 (Finance) is outside what this role reads: never offered.
      - questions: [12]
        to: [sales]
        approvers: [support-lead]
        maxMinutes: 30
  - name: sales-lead
    match: { groups: [sales-leads] }
    metabase: { apiKey: { env: SALES_KEY } }
    collections: [{ subtree: 2 }]
    grantable:
      - dashboards: [1]
        to: [support-leads]
        approvers: [data-owner]
        maxMinutes: 60
  - name: analyst
    match: { groups: [analysts] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
    grantable:
      - dashboards: [2]
        questions: [10]
        to: [sales]
        approvers: [data-owner]
        maxMinutes: 240
      - collections: [1]
        to: [sales]
        approvers: [data-owner]
        maxMinutes: 60
`;

const subjectOf = (party: unknown): string | undefined => (party as { subject?: string } | null)?.subject;

interface Hook { readonly body: string; readonly headers: Record<string, string | string[] | undefined> }

describe('just-in-time access', () => {
  let mb: Emulator;
  let idp: Idp;
  let one: AuthzStack;
  let two: AuthzStack;
  let hookServer: Server;
  const hooks: Hook[] = [];
  let nextHook: Latch<Hook> = latch<Hook>();
  /** The next delivery is held until the test settles this latch, then answered 503. */
  let holdNextHook: { arrived: Latch<void>; release: Latch<void> } | null = null;
  const secret = randomBytes(32).toString('base64url');
  const audit: Record<string, unknown>[] = [];
  let offsetMs = 0;
  const clock = (): number => Date.now() + offsetMs;
  const tokens: Record<string, string> = {};
  const stores = twoInstanceStores();

  const written = new EventEmitter();
  const auditLog = (): AuditLog => createAuditLog({
    format: 'operation', redactVariables: [], file: null,
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) audit.push(JSON.parse(line) as Record<string, unknown>);
        written.emit('line');
        done();
      },
    }),
  });
  /** The first audit line (written or to come) that matches. */
  const auditLine = async (match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    const signal = AbortSignal.timeout(10_000);
    for (;;) {
      const found = audit.find(match);
      if (found) return found;
      await once(written, 'line', { signal });
    }
  };

  before(async () => {
    mb = await startEmulator({ port: 0 });
    idp = await startIdp();
    hookServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const held = holdNextHook;
        if (held) {
          holdNextHook = null;
          held.arrived.resolve();
          void held.release.promise.then(() => res.writeHead(503).end());
          return;
        }
        const hook = { body: Buffer.concat(chunks).toString('utf8'), headers: req.headers };
        hooks.push(hook);
        res.writeHead(200).end('ok');
        const waiting = nextHook;
        nextHook = latch<Hook>();
        waiting.resolve(hook);
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
    const keys = groupKeys(mb);
    const env = { SALES_KEY: keys.sales, ANALYSTS_KEY: keys.analyst, SUPPORT_KEY: keys.support, ACCESS_HOOK_SECRET: secret };
    const start = (store: typeof stores.one): Promise<AuthzStack> => startAuthzStack({
      emulator: mb, issuer: idp.issuer, audience: AUDIENCE, policy: policy(hookUrl), env,
      deps: { audit: auditLog(), access: { store: new RedisAccessStore(store), clock, webhook: { baseDelayMs: 20 }, sweepMs: 100 } },
    });
    one = await start(stores.one);
    two = await start(stores.two);
    const user = (sub: string, groups: string[], name: string) => idp.userToken(sub, { groups, name, email: `${sub}@example.test` });
    tokens['sam'] = await user('sam', ['sales'], 'Sam Seller');
    tokens['olga'] = await user('olga', ['data-owners'], 'Olga Owner');
    tokens['bea'] = await user('bea', ['sales'], 'Bea Bystander');
    tokens['dave'] = await user('dave', ['sales', 'data-owners'], 'Dave Both');
    tokens['lee'] = await user('lee', ['support-leads'], 'Lee Lead');
    tokens['nina'] = await user('nina', ['marketing'], 'Nina Nobody');
  });

  after(async () => {
    await one?.close();
    await two?.close();
    await new Promise((r) => hookServer?.close(r));
    await idp?.close();
    await mb?.close();
  });

  const gql = async (stack: AuthzStack, who: string, query: string, variables?: Record<string, unknown>): Promise<GqlBody> => (await stack.post(query, tokens[who], {}, variables)).body;
  const errorOf = (body: GqlBody) => {
    assert.ok(body.errors?.length, `an error was expected: ${JSON.stringify(body.data)}`);
    return body.errors[0]!;
  };
  const ok = <T>(body: GqlBody): T => {
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data as T;
  };
  const REQUEST = `mutation($kind: AccessTargetKind!, $id: ID!, $minutes: Int!) {
    requestAccess(target: {kind: $kind, id: $id}, reason: "Quarterly review of support quality", durationMinutes: $minutes) {
      id state duplicates grantingRole approvers target { kind id subtree } requester { subject name } canAnswer
    } }`;
  const APPROVE = 'mutation($id: ID!) { approveAccessRequest(id: $id, note: "ok for the review") { id state grantedUntil decidedBy { subject } decisionNote } }';
  type Req = { id: string; state: string; duplicates: number; grantingRole: string; target: { kind: string; id: string; subtree: boolean }; canAnswer: boolean };
  const ask = async (stack: AuthzStack, who: string, kind: string, id: string, minutes = 120): Promise<Req> =>
    ok<{ requestAccess: Req }>(await gql(stack, who, REQUEST, { kind, id, minutes })).requestAccess;
  const approve = async (stack: AuthzStack, who: string, id: string) => ok<{ approveAccessRequest: { state: string; grantedUntil: string } }>(await gql(stack, who, APPROVE, { id })).approveAccessRequest;
  const events = (name: string) => audit.filter((l) => l['event'] === name);
  const verify = (hook: Hook): Record<string, unknown> => {
    const timestamp = String(hook.headers['x-gateway-timestamp']);
    const expected = `v1=${createHmac('sha256', secret).update(`${timestamp}.${hook.body}`).digest('hex')}`;
    assert.equal(hook.headers['x-gateway-signature'], expected, 'the signature is the HMAC of timestamp and body under the policy\'s secret');
    assert.ok(Math.abs(Date.now() / 1000 - Number(timestamp)) < 60, 'a fresh timestamp');
    assert.ok(!hook.body.includes(secret), 'the secret itself is never sent');
    return JSON.parse(hook.body) as Record<string, unknown>;
  };

  test('denied, requested (merged when asked again), approved, reached through the granting role\'s key, expired, denied again; audited in order', async () => {
    const DASHBOARD = '{ dashboard(id: 2) { name cards { question { id name } } } }';
    const RUN_CARD = 'mutation { runDashboardCard(dashboardId: 2, dashboardCardId: 29, parameters: [{slug: "rating", value: 2}]) { rowCount } }';
    // Denied: Metabase refuses the sales key; the error says access can be requested, and for how long.
    const denied = errorOf(await gql(one, 'sam', DASHBOARD));
    assert.equal(denied.extensions.code, 'FORBIDDEN');
    assert.equal(denied.extensions['requestable'], true);
    assert.equal(denied.extensions['requestMaxMinutes'], 240);
    assert.match(denied.message, /requestAccess\(target: \{kind: DASHBOARD, id: "2"\}/);
    // A question in a collection the sales policy leaves out (Metabase would show it): reason collection, requestable through the collection entry.
    const outside = errorOf(await gql(one, 'sam', '{ question(id: 3) { name } }'));
    assert.deepEqual([outside.extensions.code, outside.extensions.reason, outside.extensions['requestable'], outside.extensions['requestMaxMinutes']], ['FORBIDDEN', 'collection', true, 60]);
    const finance = errorOf(await gql(one, 'sam', '{ question(id: 12) { name } }'));
    assert.equal(finance.extensions['requestable'], false, 'an entry names the finance question, but its role cannot read it: not offered');

    const hookSeen = nextHook.promise;
    const asked = await ask(one, 'sam', 'DASHBOARD', '2');
    assert.deepEqual([asked.state, asked.grantingRole, asked.target, asked.canAnswer], ['PENDING', 'analyst', { kind: 'DASHBOARD', id: '2', subtree: false }, false]);
    const notice = verify(await hookSeen);
    assert.match(String(notice['text']), /Sam Seller asks for dashboard 2 for 120 minutes/);
    assert.equal((notice['gateway'] as { event: string }).event, 'access.requested');
    const again = await ask(two, 'sam', 'DASHBOARD', '2');
    assert.deepEqual([again.id, again.duplicates], [asked.id, 1], 'asking again, on the other instance, is the same request');
    const tooLong = errorOf(await gql(one, 'sam', REQUEST, { kind: 'DASHBOARD', id: '2', minutes: 241 }));
    assert.deepEqual([tooLong.extensions.code, tooLong.extensions['maxMinutes']], ['BAD_USER_INPUT', 240]);
    const notOffered = errorOf(await gql(one, 'sam', REQUEST, { kind: 'QUESTION', id: '12', minutes: 10 }));
    assert.deepEqual([notOffered.extensions.code, notOffered.extensions.reason], ['FORBIDDEN', 'not-requestable']);
    assert.equal(errorOf(await gql(one, 'lee', REQUEST, { kind: 'DASHBOARD', id: '2', minutes: 10 })).extensions.reason, 'not-requestable', 'not offered to his groups');
    assert.equal(errorOf(await gql(one, 'nina', REQUEST, { kind: 'DASHBOARD', id: '2', minutes: 10 })).extensions.reason, 'no-role', 'a grant acts on top of a role');

    // The approver sees it and may answer it; the requester sees it too, and may not.
    const pending = ok<{ accessRequests: { id: string; canAnswer: boolean; requester: { name: string } }[] }>(await gql(two, 'olga', '{ accessRequests(state: PENDING) { id canAnswer requester { name } } }')).accessRequests;
    assert.deepEqual(pending.find((r) => r.id === asked.id), { id: asked.id, canAnswer: true, requester: { name: 'Sam Seller' } });
    const mine = ok<{ accessRequests: { id: string; state: string }[] }>(await gql(one, 'sam', '{ accessRequests(mine: true) { id state } }')).accessRequests;
    assert.deepEqual(mine, [{ id: asked.id, state: 'PENDING' }]);
    assert.deepEqual(ok<{ accessRequests: unknown[] }>(await gql(one, 'bea', '{ accessRequests { id } }')).accessRequests, [], 'a bystander sees none of it');

    const decided = nextHook.promise;
    const approved = await approve(two, 'olga', asked.id);
    assert.equal(approved.state, 'APPROVED');
    assert.ok(Math.abs(Date.parse(approved.grantedUntil) - (clock() + 120 * 60_000)) < 5_000, 'two hours from the approval');
    assert.equal((verify(await decided)['gateway'] as { event: string }).event, 'access.approved');

    // Reached: every card's question and run, through the analyst role's key (the key Olga's role uses).
    mb.requests.reset();
    ok(await gql(one, 'olga', '{ dashboard(id: 2) { id } }'));
    const analystUser = mb.requests.log.find((l) => l.route === 'GET /api/dashboard/:id')?.user;
    mb.requests.reset();
    const reached = ok<{ dashboard: { name: string; cards: { question: { id: string } | null }[] } }>(await gql(one, 'sam', DASHBOARD)).dashboard;
    assert.equal(reached.name, 'Support desk');
    assert.deepEqual(reached.cards.map((c) => c.question?.id ?? null), [null, '9', '10', '11']);
    assert.ok(ok<{ runDashboardCard: { rowCount: number } }>(await gql(one, 'sam', RUN_CARD)).runDashboardCard.rowCount > 0, 'a card of the dashboard runs');
    // The role's own key is tried first, once per request (Metabase refuses it the dashboard); everything the grant showed and ran came with the granting role's key.
    const byKey = (user: string | undefined) => mb.requests.log.filter((l) => (l.user === analystUser) === (user === analystUser));
    assert.deepEqual(byKey('sales').map((l) => [l.route, l.status]), [['GET /api/dashboard/:id', 403], ['GET /api/dashboard/:id', 403]]);
    assert.deepEqual(byKey(analystUser).map((l) => l.route), ['GET /api/dashboard/:id', 'GET /api/dashboard/:id', 'POST /api/dashboard/:dashboard-id/dashcard/:dashcard-id/card/:card-id/query']);
    const grants = ok<{ viewer: { grants: { id: string; target: { id: string } }[] } }>(await gql(two, 'sam', '{ viewer { grants { id target { id } } } }')).viewer.grants;
    assert.deepEqual(grants, [{ id: asked.id, target: { id: '2' } }]);

    // The grant holds for its holder alone.
    assert.equal(errorOf(await gql(one, 'bea', DASHBOARD)).extensions.code, 'FORBIDDEN', 'a bystander in the same group is still denied');

    // Expired: two hours and a minute later, on either instance.
    offsetMs += 121 * 60_000;
    assert.equal(errorOf(await gql(one, 'sam', RUN_CARD)).extensions.code, 'FORBIDDEN');
    const after = errorOf(await gql(two, 'sam', DASHBOARD));
    assert.deepEqual([after.extensions.code, after.extensions['requestable']], ['FORBIDDEN', true]);
    assert.deepEqual(ok<{ viewer: { grants: unknown[] } }>(await gql(one, 'sam', '{ viewer { grants { id } } }')).viewer.grants, []);
    assert.deepEqual(ok<{ accessRequests: { state: string }[] }>(await gql(one, 'sam', '{ accessRequests(mine: true) { state } }')).accessRequests, [{ state: 'EXPIRED' }]);

    // The audit trail: each step once, in order, with both parties.
    const trail = audit.filter((l) => typeof l['event'] === 'string' && String(l['event']).startsWith('access.') && JSON.stringify(l).includes(asked.id));
    assert.deepEqual(trail.map((l) => l['event']), ['access.requested', 'access.request-merged', 'access.approved', 'access.used', 'access.used', 'access.expired'], 'each request that used the grant, once');
    for (const line of trail) assert.equal(subjectOf(line['requester'] ?? line['holder']), 'sam', `${String(line['event'])} names the requester`);
    for (const line of trail.slice(2)) assert.equal(subjectOf(line['approver']), 'olga', `${String(line['event'])} names the approver`);
    assert.deepEqual([trail[3]!['field'], trail[4]!['field']], ['dashboard', 'runDashboardCard']);
    assert.ok(events('access.used').every((l) => typeof l['requestId'] === 'string'));
  });

  test('nobody approves their own request; an approver of other targets, or a bystander, cannot answer it', async () => {
    const asked = await ask(one, 'dave', 'QUESTION', '10', 30);
    assert.equal(asked.canAnswer, false, 'not offered to its own requester');
    const self = errorOf(await gql(one, 'dave', APPROVE, { id: asked.id }));
    assert.deepEqual([self.extensions.code, self.extensions.reason], ['FORBIDDEN', 'self-approval']);
    const lee = errorOf(await gql(two, 'lee', APPROVE, { id: asked.id }));
    assert.equal(lee.extensions.code, 'NOT_FOUND', 'an approver of the support collection only learns nothing of it');
    const bea = errorOf(await gql(two, 'bea', APPROVE, { id: asked.id }));
    assert.equal(bea.extensions.code, 'NOT_FOUND', 'a bystander learns nothing of it');
    const deny = ok<{ denyAccessRequest: { state: string; decisionNote: string } }>(await gql(two, 'olga', 'mutation($id: ID!) { denyAccessRequest(id: $id, note: "ask your lead") { state decisionNote } }', { id: asked.id })).denyAccessRequest;
    assert.deepEqual(deny, { state: 'DENIED', decisionNote: 'ask your lead' });
    const late = errorOf(await gql(one, 'olga', APPROVE, { id: asked.id }));
    assert.deepEqual([late.extensions.code, late.extensions['state']], ['BAD_USER_INPUT', 'DENIED'], 'a request is answered once');
    assert.equal(errorOf(await gql(one, 'dave', '{ question(id: 10) { name } }')).extensions['requestable'], true);
  });

  test('hostile input: every bound holds, with an error that says what was expected', async () => {
    const asking = (reason: string, minutes: number, id = '2', kind = 'DASHBOARD') => gql(one, 'bea', `mutation($r: String!, $m: Int!, $id: ID!, $k: AccessTargetKind!) { requestAccess(target: {kind: $k, id: $id}, reason: $r, durationMinutes: $m) { id } }`, { r: reason, m: minutes, id, k: kind });
    const cases: [Promise<GqlBody>, string, string | undefined][] = [
      [asking('x'.repeat(501), 10), 'BAD_USER_INPUT', 'reason'],
      [asking('   ', 10), 'BAD_USER_INPUT', 'reason'],
      [asking('why', 0), 'BAD_USER_INPUT', 'durationMinutes'],
      [asking('why', 10, '-1'), 'BAD_USER_INPUT', undefined],
      [asking('why', 10, 'root', 'COLLECTION'), 'BAD_USER_INPUT', 'target.id'],
      [gql(one, 'olga', APPROVE, { id: 'x'.repeat(5_000) }), 'NOT_FOUND', undefined],
      [gql(one, 'olga', 'mutation { approveAccessRequest(id: "00000000-0000-0000-0000-000000000000", note: "n") { id } }'), 'NOT_FOUND', undefined],
      [gql(one, 'olga', `mutation { denyAccessRequest(id: "00000000-0000-0000-0000-000000000000", note: "${'n'.repeat(501)}") { id } }`), 'BAD_USER_INPUT', 'note'],
      [gql(one, 'olga', '{ accessRequests(first: 1000) { id } }'), 'BAD_USER_INPUT', 'first'],
    ];
    for (const [pending, code, argument] of cases) {
      const error = errorOf(await pending);
      assert.equal(error.extensions.code, code, error.message);
      if (argument) assert.equal(error.extensions['argument'], argument, error.message);
      assert.ok(!/\bat \w+ \(|node_modules|redis/i.test(error.message), `no internals: ${error.message}`);
    }
    assert.ok(!/x{100}/.test(errorOf(await gql(one, 'olga', APPROVE, { id: 'x'.repeat(5_000) })).message), 'a long id is not echoed whole');
  });

  test('a request unanswered for pendingMinutes expires', async () => {
    const asked = await ask(one, 'bea', 'COLLECTION', '1', 30);
    offsetMs += 61 * 60_000;
    const late = errorOf(await gql(two, 'olga', APPROVE, { id: asked.id }));
    assert.deepEqual([late.extensions.code, late.extensions['state']], ['BAD_USER_INPUT', 'EXPIRED']);
    const expired = ok<{ accessRequests: { id: string; state: string }[] }>(await gql(one, 'bea', '{ accessRequests(mine: true) { id state } }')).accessRequests;
    assert.equal(expired.find((r) => r.id === asked.id)?.state, 'EXPIRED');
    assert.equal(events('access.request-expired').filter((l) => l['accessRequest'] === asked.id).length, 1, 'one expiry event, whichever instance saw it');
  });

  test('a revocation on one instance holds at the next request on the other', async () => {
    const asked = await ask(one, 'sam', 'QUESTION', '10', 60);
    await approve(one, 'olga', asked.id);
    const QUESTION = '{ question(id: 10) { name } }';
    assert.equal(ok<{ question: { name: string } }>(await gql(two, 'sam', QUESTION)).question.name, 'Low-rated reviews');
    assert.equal(ok<{ question: { name: string } }>(await gql(one, 'sam', QUESTION)).question.name, 'Low-rated reviews');
    const revoked = ok<{ revokeGrant: { state: string; revokedBy: { subject: string } } }>(await gql(one, 'olga', 'mutation($id: ID!) { revokeGrant(id: $id) { state revokedBy { subject } } }', { id: asked.id })).revokeGrant;
    assert.deepEqual(revoked, { state: 'REVOKED', revokedBy: { subject: 'olga' } });
    assert.equal(errorOf(await gql(two, 'sam', QUESTION)).extensions.code, 'FORBIDDEN', 'the other instance no longer honours it');
    assert.equal(errorOf(await gql(one, 'sam', 'mutation($id: ID!) { revokeGrant(id: $id) { state } }', { id: asked.id })).extensions['state'], 'REVOKED');
    const line = events('access.revoked').find((l) => l['accessRequest'] === asked.id)!;
    assert.deepEqual([subjectOf(line['requester']), subjectOf(line['revokedBy']), subjectOf(line['approver'])], ['sam', 'olga', 'olga']);
  });

  test('a grant does not widen: the question alone, not its dashboard, siblings or collection; a collection grant, its own items only', async () => {
    const q = await ask(one, 'sam', 'QUESTION', '10', 60);
    await approve(two, 'olga', q.id);
    const run = ok<{ runQuestion: { rowCount: number; storedUntil: string | null } }>(await gql(one, 'sam', 'mutation { runQuestion(id: 10, parameters: [{slug: "max_rating", value: 2}]) { rowCount storedUntil } }')).runQuestion;
    assert.ok(run.rowCount > 0);
    for (const sibling of ['{ question(id: 11) { name } }', '{ question(id: 9) { name } }', '{ dashboard(id: 2) { name } }', '{ collection(id: 4) { name } }', 'mutation { runQuestion(id: 11) { rowCount } }']) {
      assert.equal(errorOf(await gql(one, 'sam', sibling)).extensions.code, 'FORBIDDEN', sibling);
    }
    const nested = await gql(one, 'sam', '{ question(id: 10) { name collection { name questions { id } } } }');
    assert.equal((nested.data as { question: { name: string } }).question.name, 'Low-rated reviews');
    assert.equal(errorOf(nested).extensions.code, 'FORBIDDEN', 'its collection is not part of the grant');
    const lists = ok<{ questions: { nodes: { id: string }[] } }>(await gql(one, 'sam', '{ questions(first: 100) { nodes { id } } }'));
    assert.ok(!lists.questions.nodes.some((n) => n.id === '10'), 'lists stay the role\'s own');

    // A collection grant through the support-lead role: the collection's own items, not the support-lead role's other reach.
    const c = await ask(one, 'sam', 'COLLECTION', '4', 30);
    assert.equal(c.grantingRole, 'support-lead');
    assert.equal(errorOf(await gql(one, 'olga', APPROVE, { id: c.id })).extensions.code, 'NOT_FOUND', 'approved by support leads only');
    await approve(one, 'lee', c.id);
    const coll = ok<{ collection: { name: string; questions: { id: string }[]; dashboards: { id: string }[] } }>(await gql(two, 'sam', '{ collection(id: 4) { name questions { id } dashboards { id } } }')).collection;
    assert.deepEqual([coll.name, coll.questions.map((x) => x.id).sort(), coll.dashboards.map((x) => x.id)], ['Support', ['10', '11', '9'], ['2']]);
    assert.equal(errorOf(await gql(two, 'sam', '{ collection(id: 1) { name } }')).extensions.code, 'FORBIDDEN', 'a collection the granting role reads is not lent');
    assert.equal(errorOf(await gql(two, 'sam', '{ question(id: 3) { name } }')).extensions.code, 'FORBIDDEN');
    // Question 10 is in both grants: the grant of exactly it serves it.
    ok(await gql(one, 'sam', '{ question(id: 10) { name } }'));
    assert.equal(events('access.used').at(-1)!['grantId'], q.id);
  });

  test('a grant lends no more than the granting role itself may read, and a granted dashboard\'s questions run only as its cards', async () => {
    const asked = await ask(one, 'lee', 'DASHBOARD', '1', 60);
    assert.equal(asked.grantingRole, 'sales-lead');
    await approve(two, 'olga', asked.id);
    const seen = ok<{ dashboard: { cards: { restricted: boolean; question: { id: string } | null; series: ({ id: string } | null)[] }[] } }>(
      await gql(one, 'lee', '{ dashboard(id: 1) { cards { restricted question { id } series { id } } } }')).dashboard.cards;
    // Card 3 and its series 14 are in Examples, which the Sales key reads but the sales-lead role's collections leave out.
    assert.deepEqual(seen.map((c) => c.question?.id ?? null), ['8', '2', null, null, '4', '5']);
    assert.deepEqual([seen[3]!.restricted, seen[3]!.series], [true, [null]]);
    assert.equal(errorOf(await gql(one, 'lee', 'mutation { runDashboardCard(dashboardId: 1, dashboardCardId: 24) { rowCount } }')).extensions.code, 'FORBIDDEN');
    assert.ok(ok<{ runDashboardCard: { rowCount: number } }>(await gql(one, 'lee', 'mutation { runDashboardCard(dashboardId: 1, dashboardCardId: 21) { rowCount } }')).runDashboardCard.rowCount > 0);
    // A card's question is part of the dashboard: it runs as the card (the dashboard's parameters and mappings), not alone.
    const alone = await gql(one, 'lee', '{ dashboard(id: 1) { cards { question { id run { rowCount } } } } }');
    assert.ok(alone.errors?.length && alone.errors.every((e) => e.extensions.code === 'FORBIDDEN' && /only as one of its cards/.test(e.message)), JSON.stringify(alone.errors));
    const values = await gql(one, 'lee', '{ dashboard(id: 1) { cards { question { parameterValues(parameter: "category") { values { value } } } } } }');
    assert.ok(values.errors?.some((e) => /only as one of its cards/.test(e.message)));
    assert.equal(errorOf(await gql(one, 'lee', '{ question(id: 8) { name } }')).extensions.code, 'FORBIDDEN', 'nor by id');
  });

  test('a policy reload that narrows the entry a grant was made under narrows the grant at once; the other instance follows its own policy', async () => {
    const QUERY = '{ dashboard(id: 1) { name } }';
    assert.equal(ok<{ dashboard: { name: string } }>(await gql(one, 'lee', QUERY)).dashboard.name, 'Sales overview');
    const original = await readFile(one.policyFile, 'utf8');
    const narrowed = original.replace('to: [support-leads]\n        approvers: [data-owner]\n        maxMinutes: 60', 'to: [support-leads]\n        approvers: [data-owner]\n        maxMinutes: 30');
    assert.notEqual(narrowed, original);
    try {
      await writeFile(one.policyFile, narrowed);
      assert.equal(await one.policy.reload('test'), true);
      assert.equal(errorOf(await gql(one, 'lee', QUERY)).extensions.code, 'FORBIDDEN', 'a 60-minute grant under an entry now of 30 minutes');
      assert.ok(!ok<{ viewer: { grants: { target: { id: string } }[] } }>(await gql(one, 'lee', '{ viewer { grants { target { id } } } }')).viewer.grants.some((g) => g.target.id === '1'), 'nor listed as acting');
      assert.equal(ok<{ dashboard: { name: string } }>(await gql(two, 'lee', QUERY)).dashboard.name, 'Sales overview');
    } finally {
      await writeFile(one.policyFile, original);
      assert.equal(await one.policy.reload('test'), true);
    }
    assert.equal(ok<{ dashboard: { name: string } }>(await gql(one, 'lee', QUERY)).dashboard.name, 'Sales overview', 'the entry back, the grant acts again until it ends');

    // A widened entry: the grant still acts; its approvers still see it and may end it; a request pending
    // under the old entry can no longer be answered, and asking again is a new request, not merged into it.
    const stale = await ask(one, 'lee', 'DASHBOARD', '1', 30);
    const widened = original.replace('to: [support-leads]\n        approvers: [data-owner]\n        maxMinutes: 60', 'to: [support-leads]\n        approvers: [data-owner]\n        maxMinutes: 90');
    try {
      await writeFile(one.policyFile, widened);
      assert.equal(await one.policy.reload('test'), true);
      assert.equal(ok<{ dashboard: { name: string } }>(await gql(one, 'lee', QUERY)).dashboard.name, 'Sales overview');
      assert.equal(errorOf(await gql(one, 'olga', APPROVE, { id: stale.id })).extensions.code, 'NOT_FOUND', 'its entry has changed');
      const fresh = await ask(one, 'lee', 'DASHBOARD', '1', 30);
      assert.notEqual(fresh.id, stale.id);
      const grant = ok<{ viewer: { grants: { id: string; target: { id: string } }[] } }>(await gql(one, 'lee', '{ viewer { grants { id target { id } } } }')).viewer.grants.find((g) => g.target.id === '1')!;
      const seen = ok<{ accessRequests: { id: string; state: string }[] }>(await gql(one, 'olga', '{ accessRequests(state: APPROVED) { id state } }')).accessRequests;
      assert.ok(seen.some((r) => r.id === grant.id), 'the approver still sees the grant');
      assert.equal(ok<{ revokeGrant: { state: string } }>(await gql(one, 'olga', 'mutation($id: ID!) { revokeGrant(id: $id) { state } }', { id: grant.id })).revokeGrant.state, 'REVOKED');
      assert.equal(errorOf(await gql(two, 'lee', QUERY)).extensions.code, 'FORBIDDEN');
      await gql(one, 'olga', 'mutation($id: ID!) { denyAccessRequest(id: $id) { state } }', { id: fresh.id });
    } finally {
      await writeFile(one.policyFile, original);
      assert.equal(await one.policy.reload('test'), true);
    }
  });

  test('a grant nobody comes back to is still recorded as expired, once, by the instances\' sweep', async () => {
    const asked = await ask(one, 'bea', 'QUESTION', '10', 10);
    await approve(two, 'olga', asked.id);
    offsetMs += 11 * 60_000;
    // No request by its holder: the sweep of one of the two instances settles it.
    const line = await auditLine((l) => l['event'] === 'access.expired' && l['accessRequest'] === asked.id);
    assert.deepEqual([line['sweep'], subjectOf(line['requester']), subjectOf(line['approver'])], [true, 'bea', 'olga']);
    const state = ok<{ accessRequests: { id: string; state: string }[] }>(await gql(one, 'bea', '{ accessRequests(mine: true) { id state } }')).accessRequests.find((r) => r.id === asked.id);
    assert.equal(state?.state, 'EXPIRED');
    assert.equal(events('access.expired').filter((l) => l['accessRequest'] === asked.id).length, 1, 'two instances sweeping, one event');
  });

  test('the webhook never holds up the request, and is retried with backoff after a failure', async () => {
    const held = { arrived: latch(), release: latch() };
    holdNextHook = held;
    const delivered = nextHook.promise;
    // The request is answered while the webhook has not answered its first delivery.
    const asked = await ask(one, 'bea', 'DASHBOARD', '2', 10);
    assert.equal(asked.state, 'PENDING');
    await held.arrived.promise;
    held.release.resolve();
    const hook = verify(await delivered);
    assert.equal(((hook['gateway'] as { request: { id: string } }).request).id, asked.id);
    const line = await one.waitForLog('delivered on a second attempt', (l) => l.event === 'access.webhook-delivered' && l['attempt'] === 2);
    assert.equal(line['notice'], 'access.requested');
    const deliveries = hooks.filter((h) => h.body.includes(asked.id)).map((h) => h.headers['x-gateway-delivery']);
    assert.equal(new Set(deliveries).size, 1, 'one delivery id across its attempts');
  });
});
