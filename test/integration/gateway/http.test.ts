/**
 * The gateway's HTTP edge: GraphQL over HTTP (GET and POST, CSRF prevention), bearer tokens, every
 * kind of bad input answered with the right status and a coded GraphQL error (never a 500), health
 * endpoints, and draining on close.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { loadConfig } from '../../../src/config/config.js';
import { startDemo } from '../../../src/demo.js';
import { startStack, type DemoStack } from '../../helpers/gateway.js';
import { LEAK_MARKERS } from '../../../src/emulator/server.js';

interface Answer { status: number; headers: Headers; body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } & Record<string, unknown> }

describe('the HTTP edge', () => {
  let stack: DemoStack;
  let url: string;
  let bearer: string;
  before(async () => {
    stack = await startStack({ BODY_LIMIT_BYTES: '4096' });
    url = `${stack.gatewayUrl}/graphql`;
    bearer = `Bearer ${stack.tokens.analyst}`;
  });
  after(() => stack.close());

  const call = async (init: RequestInit & { path?: string } = {}): Promise<Answer> => {
    const res = await fetch(init.path ? `${stack.gatewayUrl}${init.path}` : url, init);
    const text = await res.text();
    let body: Answer['body'];
    try {
      body = JSON.parse(text) as Answer['body'];
    } catch {
      assert.fail(`not JSON (${res.status}): ${text.slice(0, 200)}`);
    }
    return { status: res.status, headers: res.headers, body };
  };
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    call({ method: 'POST', headers: { 'content-type': 'application/json', authorization: bearer, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const code = (a: Answer): string | undefined => a.body.errors?.[0]?.extensions?.code;

  test('POST and GET /graphql; GET needs a preflight-forcing header (CSRF prevention)', async () => {
    const posted = await post({ query: '{ viewer { role } }' });
    assert.equal(posted.status, 200);
    assert.deepEqual(posted.body.data, { viewer: { role: 'analyst' } });
    const q = encodeURIComponent('{ viewer { subject } }');
    const got = await call({ path: `/graphql?query=${q}`, headers: { authorization: bearer, 'apollo-require-preflight': 'true' } });
    assert.deepEqual(got.body.data, { viewer: { subject: 'ana' } });
    const csrf = await call({ path: `/graphql?query=${q}`, headers: { authorization: bearer } });
    assert.equal(csrf.status, 400);
    assert.equal(code(csrf), 'BAD_USER_INPUT');
    const mutationByGet = await call({ path: `/graphql?query=${encodeURIComponent('mutation { runQuestion(id: 1) { rowCount } }')}`, headers: { authorization: bearer, 'apollo-require-preflight': 'true' } });
    assert.equal(mutationByGet.status, 405);
    assert.equal(code(mutationByGet), 'BAD_USER_INPUT');
  });

  test('a preflight is answered 204 without reaching the graph; an OPTIONS claiming an empty JSON body is a 400, never a 500', async () => {
    const res = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://elsewhere.test', 'access-control-request-method': 'POST' } });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), null, 'no cross-origin access is granted');
    const odd = await call({ method: 'OPTIONS', headers: { 'content-type': 'application/json' } });
    assert.equal(odd.status, 400);
    assert.equal(code(odd), 'BAD_USER_INPUT');
  });

  test('no Apollo landing page (it loads from a CDN)', async () => {
    const res = await fetch(url, { headers: { accept: 'text/html' } });
    assert.ok(!(await res.text()).includes('apollographql.com'));
  });

  test('missing, malformed, forged, expired and wrong-audience tokens are 401 UNAUTHENTICATED', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ groups: ['analysts'] }).setProtectedHeader({ alg: 'RS256', kid: 'x' }).setIssuer(stack.issuer.issuer)
      .setAudience('metabase-gateway').setSubject('mallory').setExpirationTime('1h').sign(privateKey);
    const expired = await stack.issuer.issue('ana', { groups: ['analysts'] }, -60);
    const cases: [string | undefined, string, RegExp][] = [
      [undefined, 'missing', /Authorization: Bearer/],
      ['Basic YTpi', 'malformed', /not a well-formed/],
      ['Bearer not.a.jwt', 'malformed', /not a well-formed/],
      [`Bearer ${forged}`, 'unknown-key', /key the identity provider does not publish/],
      [`Bearer ${expired}`, 'expired', /expired/],
    ];
    for (const [authorization, reason, message] of cases) {
      const res = await post({ query: '{ viewer { role } }' }, authorization ? { authorization } : { authorization: '' });
      assert.equal(res.status, 401, String(authorization).slice(0, 20));
      assert.equal(code(res), 'UNAUTHENTICATED');
      assert.equal((res.body.errors![0]!.extensions as Record<string, unknown>)['reason'], reason);
      assert.match(res.body.errors![0]!.message, message);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
  });

  test('a valid token whose groups fit no role: viewer answers and says why, everything else is FORBIDDEN', async () => {
    const outsider = `Bearer ${stack.tokens.contractor}`;
    const res = await post({ query: '{ viewer { role availableRoles noRoleReason } dashboards { totalCount } }' }, { authorization: outsider });
    assert.equal(res.status, 200);
    const viewer = (res.body.data as { viewer: { role: null; availableRoles: string[]; noRoleReason: string } }).viewer;
    assert.equal(viewer.role, null);
    assert.deepEqual(viewer.availableRoles, []);
    assert.match(viewer.noRoleReason, /carries the groups contractors .*analyst needs one of the groups analysts; the token has contractors/, 'the demo policy sets explainDenials');
    assert.equal(code(res), 'FORBIDDEN');
    assert.equal((res.body.errors![0]!.extensions as Record<string, unknown>)['reason'], 'no-role');
  });

  test('X-Gateway-Role picks another role the token fits; one it does not fit is 403 FORBIDDEN', async () => {
    const asSales = await post({ query: '{ viewer { role availableRoles } }' }, { 'x-gateway-role': 'sales' });
    assert.deepEqual(asSales.body.data, { viewer: { role: 'sales', availableRoles: ['analyst', 'sales'] } });
    const refused = await post({ query: '{ viewer { role } }' }, { 'x-gateway-role': 'agent' });
    assert.equal(refused.status, 403);
    assert.equal(code(refused), 'FORBIDDEN');
    assert.match(refused.body.errors![0]!.message, /asked for role "agent".*allows analyst, sales/);
  });

  test('bad input: right status, a coded error, never a 500', async () => {
    const cases: [string, () => Promise<Answer>, number][] = [
      ['malformed JSON', () => post('{"query": "{ viewer { role } }"'), 400],
      ['a simple content type (CSRF prevention)', () => call({ method: 'POST', headers: { 'content-type': 'text/plain', authorization: bearer }, body: '{ viewer { role } }' }), 400],
      ['unsupported content type', () => call({ method: 'POST', headers: { 'content-type': 'application/xml', authorization: bearer }, body: '<q/>' }), 415],
      ['no query', () => post({ variables: {} }), 400],
      ['query not a string', () => post({ query: 42 }), 400],
      ['a batch of operations', () => post([{ query: '{ viewer { role } }' }, { query: '{ viewer { role } }' }]), 400],
      ['body over the limit', () => post({ query: `{ viewer { role } } ${'#'.repeat(5000)}` }), 413],
    ];
    for (const [name, send, status] of cases) {
      const res = await send();
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body).slice(0, 200)}`);
      assert.equal(code(res), 'BAD_USER_INPUT', name);
    }
  });

  test('GraphQL request errors follow GraphQL over HTTP: 200 to application/json clients, 400 to application/graphql-response+json ones', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['invalid GraphQL', { query: '{ viewer { role }' }],
      ['unknown field', { query: '{ viewer { password } }' }],
      ['wrong variable type', { query: 'query($id: ID!) { question(id: $id) { name } }', variables: { id: { nested: true } } }],
      ['missing variable', { query: 'query($id: ID!) { question(id: $id) { name } }' }],
      ['unknown operation name', { query: 'query A { viewer { role } }', operationName: 'B' }],
    ];
    for (const [name, body] of cases) {
      for (const [accept, status, type] of [
        [undefined, 200, 'application/json'], ['application/json', 200, 'application/json'],
        ['application/graphql-response+json', 400, 'application/graphql-response+json'],
        ['application/graphql-response+json, application/json;q=0.9', 400, 'application/graphql-response+json'],
      ] as const) {
        const res = await post(body, accept ? { accept } : {});
        assert.equal(res.status, status, `${name} (accept ${accept}): ${JSON.stringify(res.body).slice(0, 200)}`);
        assert.ok((res.headers.get('content-type') ?? '').startsWith(type), `${name} (accept ${accept}): ${res.headers.get('content-type')}`);
        assert.equal(code(res), 'BAD_USER_INPUT', name);
        assert.equal(res.body.data, undefined, `${name}: a request error has no data`);
      }
    }
    const fieldError = await post({ query: '{ viewer { role } question(id: "abc") { name } }' }, { accept: 'application/graphql-response+json' });
    assert.equal(fieldError.status, 200, 'a field error leaves 200 under either media type');
  });

  test('no automatic persisted queries: a caller cannot register a document under a hash for later', async () => {
    const query = '{ viewer { role } }';
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const register = await post({ query, extensions: { persistedQuery: { version: 1, sha256Hash } } });
    assert.equal(code(register), 'BAD_USER_INPUT');
    assert.equal(register.body.data, undefined, 'not executed');
    const byHash = await post({ extensions: { persistedQuery: { version: 1, sha256Hash } } });
    assert.equal(code(byHash), 'PERSISTED_QUERY_NOT_FOUND', 'only the reviewed manifest\'s operations run by hash');
    assert.equal(byHash.body.data, undefined);
  });

  test('errors inside resolvers keep their code; data comes back for the rest', async () => {
    const res = await post({ query: '{ viewer { role } question(id: "abc") { name } }' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data, { viewer: { role: 'analyst' }, question: null });
    assert.equal(code(res), 'BAD_USER_INPUT');
  });

  test('an upstream outage is UPSTREAM_UNAVAILABLE with no details from inside, whatever Metabase answered', async () => {
    try {
      for (const style of ['exception', 'json-message', 'proxy-502'] as const) {
        stack.emulator.knobs.failureStyle = style;
        stack.emulator.knobs.failureRate = 1;
        const res = await post({ query: '{ question(id: 3) { name } }' });
        assert.equal(code(res), 'UPSTREAM_UNAVAILABLE', style);
        const text = JSON.stringify(res.body);
        for (const marker of LEAK_MARKERS) assert.ok(!text.includes(marker), `${style}: "${marker}" reached the client: ${text}`);
        assert.ok(!text.includes('/api/'), `${style}: no Metabase path`);
      }
    } finally {
      stack.emulator.knobs.failureRate = 0;
      stack.emulator.knobs.failureStyle = 'exception';
    }
  });

  test('other methods on /graphql are 405 with Allow', async () => {
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const res = await call({ method, headers: { authorization: bearer } });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'GET, POST, OPTIONS');
      assert.equal(code(res), 'BAD_USER_INPUT');
    }
  });

  test('unknown routes are 404 NOT_FOUND; /healthz and /readyz answer', async () => {
    const missing = await call({ path: '/nope' });
    assert.equal(missing.status, 404);
    assert.equal(code(missing), 'NOT_FOUND');
    assert.deepEqual((await call({ path: '/healthz' })).body, { status: 'ok' });
    const ready = await call({ path: '/readyz' });
    assert.equal(ready.status, 200);
    assert.equal(ready.body['status'], 'ready');
    // Readiness needs no token: a flood of it asks Metabase once, not once per request.
    stack.emulator.requests.reset();
    const flood = await Promise.all(Array.from({ length: 50 }, () => call({ path: '/readyz' })));
    assert.ok(flood.every((r) => r.status === 200));
    assert.ok(stack.emulator.requests.count('GET /api/health') <= 1, `${stack.emulator.requests.count('GET /api/health')} health calls for 50 readiness checks`);
  });

  test('closing drains: an in-flight request finishes, new ones are refused', async () => {
    const own = await startDemo(loadConfig({ PORT: '0', DRAIN_GRACE_MS: '5000' }));
    own.emulator.knobs.latencyMs = 400;
    const inFlight = fetch(`${own.gatewayUrl}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${own.tokens.sales}` },
      body: JSON.stringify({ query: '{ question(id: 2) { name } }' }),
    });
    // The request is in flight once Metabase holds its call.
    await own.emulator.requests.until(() => own.emulator.requests.delayed === 1);
    const closing = own.gateway.close();
    assert.equal(own.gateway.state, 'draining');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { data: unknown }).data, { question: { name: 'Products in a category' } });
    const t0 = performance.now();
    await closing;
    assert.ok(performance.now() - t0 < 2000, 'the drain ends when the last request does, not at the grace period');
    assert.equal(own.gateway.state, 'stopped');
    await assert.rejects(fetch(`${own.gatewayUrl}/healthz`), 'no longer accepting');
    own.emulator.knobs.latencyMs = 0;
    await own.close();
  });
});
