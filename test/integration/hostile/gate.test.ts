/**
 * The operation gate and the policy keys it enforces, end to end with a real OIDC provider: every
 * limit refuses with QUERY_TOO_COMPLEX naming itself, its value and the figure, before any Metabase
 * call (or, for runs and Metabase calls, as soon as the allowance is spent); limits are per role;
 * introspection per role; vetted-only roles run only vetted operations, by id; rate limit tiers hold per caller.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getIntrospectionQuery } from 'graphql';
import { useAuthzStack, type AuthzStack, type GqlBody } from '../../helpers/authz.js';
import { groupKeys, type Emulator } from '../../helpers/emulator.js';

const NARROW = { documentBytes: 400, tokens: 60, depth: 4, aliases: 2, rootFields: 3, directives: 1, fields: 20, fragments: 3, listDepth: 1, cost: 250, runs: 1, upstreamCalls: 3, variableBytes: 100, variableDepth: 3, variableValues: 5 };

const POLICY = `
claims:
  clientKind:
    rules: [{ kind: agent, clientIds: [reporting-agent] }]
rateLimitTiers:
  tight: { requestsPerMinute: 3 }
roles:
  - name: analyst
    match: { groups: [analysts] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
  - name: narrow
    match: { groups: [narrow] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
    limits: ${JSON.stringify(NARROW)}
  - name: thrifty
    match: { groups: [thrifty] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
    limits: { upstreamBytes: 500 }
  - name: tight
    match: { groups: [tight] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
    rateLimitTier: tight
  - name: vetted
    match: { groups: [vetted] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
    vettedOnly: true
  - name: bot
    match: { clientKinds: [agent] }
    metabase: { apiKey: { env: AGENTS_KEY } }
    collections: [{ subtree: 7 }]
`;

describe('the operation gate', () => {
  const suite = useAuthzStack(POLICY, { env: (mb) => ({ ANALYSTS_KEY: groupKeys(mb).analyst, AGENTS_KEY: groupKeys(mb).agents }) });
  let mb: Emulator;
  let stack: AuthzStack;
  const tokens: Record<string, string> = {};

  before(async () => {
    ({ mb, stack } = suite);
    for (const [user, group] of [['ana', 'analysts'], ['nat', 'narrow'], ['tim', 'tight'], ['tom', 'tight'], ['val', 'vetted'], ['tia', 'thrifty']] as const) {
      tokens[user] = await suite.idp.userToken(user, { groups: [group] });
    }
    tokens['bot'] = await suite.idp.agentToken();
  });

  const ext = (body: GqlBody, i = 0): Record<string, unknown> => body.errors?.[i]?.extensions ?? {};

  const REFUSED: [keyof typeof NARROW, string, Record<string, unknown>?][] = [
    ['documentBytes', `{ viewer { role } } # ${'padding '.repeat(60)}`],
    ['tokens', `{ viewer { ${'role '.repeat(60)}} }`],
    ['depth', '{ collection(id: "root") { parent { parent { parent { parent { id } } } } } }'],
    ['depth', '{ collection(id: "root") { ...A } } fragment A on Collection { parent { ...B } } fragment B on Collection { parent { ...C } } fragment C on Collection { parent { id } }'],
    ['aliases', '{ viewer { a: role b: role c: role } }'],
    ['rootFields', '{ viewer { role } databases { id } collections { id } dashboards { totalCount } }'],
    ['directives', '{ viewer { role @include(if: true) subject @skip(if: false) } }'],
    ['fields', '{ viewer { ...V ...V } } fragment V on Viewer { role subject email name groups scopes clientId clientKind availableRoles noRoleReason }'],
    ['fragments', '{ viewer { ...A } } fragment A on Viewer { ...B } fragment B on Viewer { ...C } fragment C on Viewer { ...D } fragment D on Viewer { role }'],
    ['listDepth', '{ collections { children { id } } }'],
    ['cost', '{ dashboard(id: 1) { cards { run { rowCount } } } }'],
    ['variableBytes', 'query($t: String!) { search(text: $t) { id } }', { t: 'x'.repeat(200) }],
    ['variableDepth', 'query($v: JSON) { question(id: 2) { run(parameters: [{ slug: "category", value: $v }]) { rowCount } } }', { v: [[[['Widget']]]] }],
    ['variableValues', 'query($v: JSON) { question(id: 2) { run(parameters: [{ slug: "category", value: $v }]) { rowCount } } }', { v: ['a', 'b', 'c', 'd', 'e', 'f'] }],
  ];

  for (const [limit, query, variables] of REFUSED) {
    test(`over ${limit}: 400 QUERY_TOO_COMPLEX naming the limit, its value and the figure, and no Metabase call`, async () => {
      mb.requests.reset();
      const res = await stack.post(query, tokens['nat'], {}, variables);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.data, undefined);
      assert.deepEqual([ext(res.body)['code'], ext(res.body)['limit'], ext(res.body)['max']], ['QUERY_TOO_COMPLEX', limit, NARROW[limit]], res.text);
      assert.ok((ext(res.body)['measured'] as number) > NARROW[limit], res.text);
      assert.match(res.body.errors![0]!.message, new RegExp(`the limit for your role is ${NARROW[limit]}\\.$`));
      assert.equal(mb.requests.count(), 0, `no Metabase call: ${JSON.stringify(mb.requests.snapshot())}`);
      if (limit !== 'documentBytes' && limit !== 'tokens') {
        // The same operation under the default limits of another role is served.
        const fine = await stack.post(query, tokens['ana'], {}, variables);
        assert.notEqual(ext(fine.body)['code'], 'QUERY_TOO_COMPLEX', `${limit} is the narrow role's own: ${fine.text.slice(0, 200)}`);
      }
    });
  }

  test('runs and Metabase calls are counted while the operation executes: the one over the allowance fails, the rest is served', async () => {
    mb.requests.reset();
    const runs = await stack.post('{ question(id: 2) { a: run(parameters: [{ slug: "category", value: "Widget" }]) { rowCount } b: run(parameters: [{ slug: "category", value: "Gizmo" }]) { rowCount } } }', tokens['nat']);
    assert.equal(runs.status, 200);
    assert.deepEqual(runs.body.errors?.map((e) => [e.extensions.code, e.extensions['limit'], e.extensions['max']]), [['QUERY_TOO_COMPLEX', 'runs', 1]]);
    assert.equal(mb.requests.count('POST /api/card/:card-id/query'), 1, 'one run reached Metabase');
    const question = (runs.body.data as { question: Record<string, { rowCount: number } | null> }).question;
    assert.equal(Object.values(question).filter((r) => r !== null).length, 1, 'the other run is served');

    mb.requests.reset();
    const calls = await stack.post('{ question(id: 2) { collection { name } database { name } } dashboard(id: 1) { name } }', tokens['nat']);
    assert.deepEqual(calls.body.errors?.map((e) => [e.extensions.code, e.extensions['limit']]), [['QUERY_TOO_COMPLEX', 'upstreamCalls']]);
    assert.equal(mb.requests.count(), NARROW.upstreamCalls, 'Metabase saw exactly the allowance');
  });

  test('bytes read from Metabase are counted while the operation executes: the call that spends them fails, and the body stops being read', async () => {
    mb.requests.reset();
    const res = await stack.post('{ viewer { role } question(id: 2) { name } }', tokens['tia']);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.errors?.map((e) => [e.path?.join('.'), e.extensions.code, e.extensions['limit'], e.extensions['max']]), [['question', 'QUERY_TOO_COMPLEX', 'upstreamBytes', 500]]);
    assert.deepEqual((res.body.data as { viewer: unknown }).viewer, { role: 'thrifty' }, 'the rest is served');
  });

  test('GET is checked as Apollo reads it: a `#` or a bad escape does not hide the document from the gate', async () => {
    const big = `{ viewer { role } } #${'x'.repeat(40_000)}`;
    const get = (qs: string) => fetch(`${stack.url}?${qs}`, { headers: { authorization: `Bearer ${tokens['ana']}`, 'apollo-require-preflight': 'true' } });
    for (const qs of [`query=${encodeURIComponent(big)}#&query=x`, `query=${encodeURIComponent(big)}%ZZ`, `query=${encodeURIComponent(big)}&query=${encodeURIComponent('{ viewer { role } }')}`]) {
      const res = await get(qs);
      const body = (await res.json()) as GqlBody;
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 200));
      assert.ok(['QUERY_TOO_COMPLEX', 'BAD_USER_INPUT'].includes(ext(body)['code'] as string), JSON.stringify(body).slice(0, 200));
      assert.equal(body.data, undefined, 'nothing ran');
    }
    let deep: unknown = 'Widget';
    for (let i = 0; i < 3_000; i++) deep = [deep];
    mb.requests.reset();
    const q = encodeURIComponent('query($v: JSON) { question(id: 2) { run(parameters: [{ slug: "category", value: $v }]) { rowCount } } }');
    const res = await get(`query=${q}&variables=${encodeURIComponent(JSON.stringify({ v: deep }))}#&variables=x`);
    assert.deepEqual([res.status, ext((await res.json()) as GqlBody)['limit']], [400, 'variableDepth']);
    assert.equal(mb.requests.count(), 0);
  });

  test('an operation the gate cannot measure is refused, not let through unmeasured; a subscription is a request error', async () => {
    mb.requests.reset();
    const res = await stack.post('query($id: ID = "1") { question(id: $id) { id } questions(first: 100) { nodes { run { rowCount } } } }', tokens['ana'], {}, { id: null });
    assert.deepEqual([ext(res.body)['code'], ext(res.body)['reason']], ['BAD_USER_INPUT', 'unmeasurable'], res.text);
    assert.equal(res.body.data, undefined);
    assert.equal(mb.requests.count(), 0, 'no run went out');
    const sub = await stack.post('subscription { viewer { role } }', tokens['ana'], { accept: 'application/graphql-response+json' });
    assert.equal(sub.status, 400);
    assert.deepEqual([ext(sub.body)['code'], ext(sub.body)['reason']], ['BAD_USER_INPUT', 'operation-type']);
  });

  test('introspection: on for people, off for a role that serves only agents, with a clear refusal; suggestions hidden from it too', async () => {
    const people = await stack.post(getIntrospectionQuery(), tokens['ana']);
    assert.equal(people.status, 200, 'GraphiQL\'s introspection query fits the default limits');
    assert.ok((people.body.data as { __schema: { types: unknown[] } }).__schema.types.length > 20);
    for (const query of ['{ __schema { queryType { name } } }', '{ __type(name: "Query") { name } }', 'query { ...I } fragment I on Query { __schema { types { name } } }']) {
      const bot = await stack.post(query, tokens['bot']);
      assert.equal(bot.status, 403, bot.text);
      assert.deepEqual([ext(bot.body)['code'], ext(bot.body)['reason']], ['FORBIDDEN', 'introspection']);
    }
    assert.equal((await stack.post('{ __typename }', tokens['bot'])).status, 200, '__typename is not introspection');
    const typo = await stack.post('{ viewer { rol } }', tokens['bot']);
    assert.match(typo.body.errors![0]!.message, /^Cannot query field "rol" on type "Viewer"\.$/, 'no "Did you mean" for a role that may not introspect');
    const typoPerson = await stack.post('{ viewer { rol } }', tokens['ana']);
    assert.match(typoPerson.body.errors![0]!.message, /Did you mean "role"/);
  });

  test('vettedOnly: a document is refused (400 PERSISTED_QUERY_REQUIRED) before it is parsed, with no Metabase call', async () => {
    mb.requests.reset();
    for (const query of ['{ collections { id } }', '{ viewer { role } }', '{ this is not GraphQL']) {
      const res = await stack.post(query, tokens['val']);
      assert.equal(res.status, 400);
      assert.deepEqual([ext(res.body)['code'], ext(res.body)['reason']], ['PERSISTED_QUERY_REQUIRED', 'vetted-only'], query);
    }
    assert.equal(mb.requests.count(), 0);
  });

  test('rateLimitTier: each caller of the tier gets its own allowance per minute; over it, 429 with Retry-After', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await stack.post('{ viewer { role } }', tokens['tim'])).status, 200);
    const over = await stack.post('{ viewer { role } }', tokens['tim']);
    assert.equal(over.status, 429);
    assert.deepEqual([ext(over.body)['code'], ext(over.body)['tier'], ext(over.body)['requestsPerMinute']], ['RATE_LIMITED', 'tight', 3]);
    const retry = ext(over.body)['retryAfterSeconds'] as number;
    assert.ok(retry >= 1 && retry <= 20, `retry after ${retry} s`);
    const retryMs = ext(over.body)['retryAfterMs'] as number;
    assert.ok(retryMs > 0 && Math.ceil(retryMs / 1000) === retry, `retryAfterMs ${retryMs} agrees with retryAfterSeconds ${retry}`);
    assert.equal(ext(over.body)['reason'], 'rate-limit');
    const res = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens['tim']}` }, body: '{"query":"{ viewer { role } }"}' });
    assert.equal(res.headers.get('retry-after'), String(retry));
    assert.equal((await stack.post('{ viewer { role } }', tokens['tom'])).status, 200, 'another caller of the same tier is not throttled');
    assert.equal((await stack.post('{ viewer { role } }', tokens['ana'])).status, 200, 'nor a role without a tier');
  });

  test('search: text over the limit is BAD_USER_INPUT; kinds of Metabase objects the graph does not know are left out, never an error', async () => {
    const long = await stack.post('query($t: String!) { search(text: $t) { id } }', tokens['ana'], {}, { t: 'x'.repeat(501) });
    assert.deepEqual([ext(long.body)['code'], ext(long.body)['argument']], ['BAD_USER_INPUT', 'text']);
    const huge = await stack.post('query($t: String!) { search(text: $t) { id } }', tokens['ana'], {}, { t: 'x'.repeat(5_000_000) });
    assert.equal(huge.status, 413, 'a 5 MB text is refused at the body limit');
    mb.requests.reset();
    const found = await stack.post('{ search(text: "order", first: 50) { kind name } }', tokens['ana']);
    assert.equal(found.body.errors, undefined, found.text);
    const hits = (found.body.data as { search: { kind: string; name: string }[] }).search;
    assert.ok(hits.length > 0 && hits.every((h) => ['DASHBOARD', 'QUESTION', 'MODEL', 'METRIC', 'COLLECTION', 'TABLE', 'DATABASE'].includes(h.kind)));
    const asked = mb.requests.log.find((l) => l.route === 'GET /api/search')!;
    assert.ok(asked.query.includes('models'), 'only the kinds the graph serves are asked for');
  });
});
