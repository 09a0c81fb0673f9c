/**
 * Real identity providers' tokens through the real gateway: one OpenID provider per vendor stands in
 * for Okta, Auth0, Keycloak, Entra ID, Cognito and Google, and the policy lists each as an issuer with
 * the claim mapping that vendor needs. Every fixture in test/fixtures/idp/ is signed by its vendor's
 * provider and sent as a bearer token; the gateway must read the groups, client kind and role it
 * expects, or refuse it with the reason it expects. Also: a token replayed against another issuer's
 * audience or keys, the token and header limits at their edges, and Entra ID group overage resolved
 * through a local stand-in for Microsoft Graph, never through the token's own `_claim_sources`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { explainToken } from '../../../src/explain.js';
import { startAuthzStack, type AuthzStack, type GqlBody } from '../../helpers/authz.js';
import { emulator, groupKeys, type Emulator } from '../../helpers/emulator.js';
import { AUDIENCE, startIdp, type Idp } from '../../helpers/idp.js';
import { startStub, type StubServer } from '../../helpers/stub-server.js';

const VENDORS = ['okta', 'auth0', 'keycloak', 'entra', 'cognito', 'google'] as const;
type Vendor = (typeof VENDORS)[number];

interface Fixture {
  readonly description: string;
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  readonly expect: { role?: string | null; clientKind?: string; groups?: string[]; reason?: string; refused?: string };
}

const FIXTURES = new URL('../../fixtures/idp/', import.meta.url);
const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()
  .map((file) => ({ file, vendor: file.split('-')[0] as Vendor, ...(JSON.parse(readFileSync(new URL(file, FIXTURES), 'utf8')) as Fixture) }));

const ANALYST_ENTRA_GROUP = '3f6b2a91-8c4d-4e27-b5a0-9d1e7c2f4a68';
/** The one user the Graph stand-in knows; the fixtures' users it does not (it answers 404, so their overage stays). */
const GRAPH_USER = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

const policyFor = (issuers: Record<Vendor, string>, graphUrl: string): string => `
issuers:
  - name: okta
    issuer: ${issuers.okta}
    audiences: [api://metabase-gateway]
    claims:
      scopes: [scp]
      clientId: [cid]
      clientKind: { rules: [{ kind: service, scope: metabase.export }] }
  - name: auth0
    issuer: ${issuers.auth0}
    audiences: [https://gateway.example.com]
    claims:
      groups: [https://gateway.example.com/groups]
      email: https://gateway.example.com/email
      caseInsensitiveGroups: true
      clientKind: { rules: [{ kind: service, claim: gty, equals: client-credentials }] }
  - name: keycloak
    issuer: ${issuers.keycloak}
    audiences: [metabase-gateway]
    claims:
      groups: [realm_access.roles, [resource_access, metabase-gateway, roles], groups]
      clientKind: { rules: [{ kind: service, claim: preferred_username, equals: service-account-nightly-export }] }
  - name: entra
    issuer: ${issuers.entra}
    audiences: ["6e74172b-be56-4843-9ff4-e66a39bb12e3"]
    claims:
      subject: oid
      email: preferred_username
      groups: [groups, roles]
      scopes: [scp]
      clientId: [azp, appid]
      clientKind: { rules: [{ kind: service, claim: idtyp, equals: app }] }
    overage:
      graphUrl: ${graphUrl}
      tokenUrl: ${graphUrl}/tenant/oauth2/v2.0/token
      clientId: gateway-graph-reader
      clientSecret: { env: GRAPH_CLIENT_SECRET }
  - name: cognito
    issuer: ${issuers.cognito}
    audiences: [4r6t8y0u2i4o6p8a1s3d5f7g9h]
    audienceClaim: client_id
    claims:
      groups: ["cognito:groups"]
  - name: google
    issuer: ${issuers.google}
    audiences: [1234567890-abc123def456.apps.googleusercontent.com, https://gateway.example.com]
    allowIdTokens: true
    claims:
      groups: [hd]
rateLimitTiers:
  tight: { requestsPerMinute: 2 }
roles:
  - name: metered
    match: { issuers: [okta, keycloak], groups: [metered] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
    rateLimitTier: tight
  - name: analyst
    match:
      clientKinds: [human]
      groups: [metabase-analysts, analysts, "${ANALYST_ENTRA_GROUP}", example.com]
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
  - name: sales
    match: { issuers: [keycloak], groups: [/org/sales/**], clientKinds: [human] }
    metabase: { apiKey: { env: SALES_KEY } }
    collections: [root, { subtree: 2 }]
  - name: export
    match: { clientKinds: [service] }
    metabase: { apiKey: { env: SALES_KEY } }
    collections: [{ subtree: 2 }]
`;

/** A local stand-in for Microsoft Graph and the tenant's token endpoint, and a second server that must never be called. */
async function startGraph(memberGroups: Record<string, string[]>): Promise<StubServer & { calls: string[] }> {
  const calls: string[] = [];
  const server = await startStub((req, text, res) => {
    calls.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    if (req.url === '/tenant/oauth2/v2.0/token') {
      const form = new URLSearchParams(text);
      const ok = form.get('grant_type') === 'client_credentials' && form.get('client_id') === 'gateway-graph-reader' && form.get('client_secret') === 'graph-secret-for-tests';
      res.statusCode = ok ? 200 : 401;
      res.end(JSON.stringify(ok ? { access_token: 'graph-app-token', expires_in: 3600, token_type: 'Bearer' } : { error: 'invalid_client' }));
      return;
    }
    const m = /^\/v1\.0\/users\/([0-9a-f-]+)\/getMemberGroups$/.exec(req.url ?? '');
    // Graph answers 404 for a user it does not know.
    if (m && req.headers.authorization === 'Bearer graph-app-token' && memberGroups[m[1]!]) {
      res.end(JSON.stringify({ '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)', value: memberGroups[m[1]!] ?? [] }));
      return;
    }
    res.statusCode = 404;
    res.end('{}');
  });
  return { ...server, calls };
}

describe('identity providers\' real tokens', () => {
  let mb: Emulator;
  const idps = {} as Record<Vendor, Idp>;
  let graph: Awaited<ReturnType<typeof startGraph>>;
  let claimSources: Awaited<ReturnType<typeof startGraph>>;
  let stack: AuthzStack;

  before(async () => {
    mb = await emulator();
    for (const v of VENDORS) idps[v] = await startIdp();
    graph = await startGraph({ [GRAPH_USER]: ['0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f', ANALYST_ENTRA_GROUP] });
    claimSources = await startGraph({ '9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d': [ANALYST_ENTRA_GROUP] });
    const keys = groupKeys(mb);
    stack = await startAuthzStack({
      emulator: mb, issuer: idps.okta.issuer, audience: AUDIENCE,
      policy: policyFor(Object.fromEntries(VENDORS.map((v) => [v, idps[v].issuer])) as Record<Vendor, string>, graph.url),
      env: { ANALYSTS_KEY: keys.analyst, SALES_KEY: keys.sales, GRAPH_CLIENT_SECRET: 'graph-secret-for-tests' },
    });
  });
  after(async () => {
    await stack.close();
    for (const v of VENDORS) await idps[v].close();
    await graph.close();
    await claimSources.close();
    await mb.close();
  });

  /** The fixture's payload, issued now by its vendor's provider. */
  const sign = (f: (typeof fixtures)[number], extra: Record<string, unknown> = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    const payload = JSON.parse(JSON.stringify(f.payload).replaceAll('{{issuer}}', idps[f.vendor].issuer).replaceAll('{{claimSources}}', claimSources.url)) as Record<string, unknown>;
    return idps[f.vendor].sign({ ...payload, iat: now, exp: now + 600, ...(payload['nbf'] !== undefined ? { nbf: now } : {}), ...extra }, f.header);
  };
  const viewerQuery = '{ viewer { subject groups clientKind issuer role groupsOverage noRoleReason } }';
  interface ViewerAnswer { subject: string; groups: string[]; clientKind: string; issuer: string; role: string | null; groupsOverage: boolean; noRoleReason: string | null }

  test('every vendor fixture has its provider', () => {
    assert.ok(fixtures.length >= 14);
    for (const f of fixtures) assert.ok(VENDORS.includes(f.vendor), f.file);
    for (const v of VENDORS) assert.ok(fixtures.some((f) => f.vendor === v), `${v} has fixtures`);
  });

  for (const f of fixtures) {
    test(`${f.file}: ${f.description}`, async () => {
      const res = await stack.post(viewerQuery, await sign(f));
      if (f.expect.refused) {
        assert.equal(res.status, 401, res.text);
        assert.deepEqual([res.body.errors?.[0]?.extensions.code, res.body.errors?.[0]?.extensions['reason']], ['UNAUTHENTICATED', f.expect.refused]);
        return;
      }
      assert.equal(res.status, 200, res.text);
      const viewer = (res.body.data as { viewer: ViewerAnswer }).viewer;
      assert.equal(viewer.issuer, f.vendor, 'read by its own issuer');
      assert.equal(viewer.role, f.expect.role ?? null, JSON.stringify(viewer));
      if (f.expect.clientKind) assert.equal(viewer.clientKind, f.expect.clientKind);
      if (f.expect.groups) assert.deepEqual(viewer.groups, f.expect.groups);
      if (f.expect.reason) assert.ok(viewer.noRoleReason?.includes(f.expect.reason), viewer.noRoleReason ?? 'no reason');
    });
  }

  test('rate limits count per issuer and subject: the same subject at another issuer is another caller', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'shared-subject-0001', groups: ['metered'], iat: now, exp: now + 600 };
    const okta = await idps.okta.sign({ ...claims, iss: idps.okta.issuer, aud: 'api://metabase-gateway' });
    const keycloak = await idps.keycloak.sign({ ...claims, iss: idps.keycloak.issuer, aud: 'metabase-gateway', typ: 'Bearer' });
    for (let i = 0; i < 2; i++) assert.equal((await stack.post('{ viewer { role } }', okta)).status, 200);
    const over = await stack.post('{ viewer { role } }', okta);
    assert.deepEqual([over.status, over.body.errors?.[0]?.extensions.code], [429, 'RATE_LIMITED']);
    const other = await stack.post('{ viewer { issuer role } }', keycloak);
    assert.equal(other.status, 200, other.text);
    assert.deepEqual(other.body.data, { viewer: { issuer: 'keycloak', role: 'metered' } });
  });

  test('with several issuers, each role that names none is warned about at start; roles that name theirs are not', () => {
    const warned = stack.log.filter((l) => l.event === 'policy.warning').map((l) => String(l['warning']));
    assert.deepEqual(warned.filter((w) => /serves tokens of every issuer/.test(w)).map((w) => /role "([^"]+)"/.exec(w)?.[1]), ['analyst', 'export']);
    assert.match(warned.find((w) => w.includes('"analyst"'))!, /^roles\[1\]\.match: .*a group of the same name at any of them fits it; name the issuers it is for: issuers: \[okta\]$/);
    assert.match(warned.find((w) => w.includes('"export"'))!, /a client of that kind at any of them fits it/);
  });

  test('Entra ID overage: without Graph the reason names what to change; with Graph the groups come from the configured URL, once per token, never from _claim_sources', async () => {
    const hasGroups = fixtures.find((f) => f.file === 'entra-overage-hasgroups.json')!;
    const overflowed = await stack.post(`{ viewer { groupsOverage noRoleReason } databases { id } }`, await sign(hasGroups));
    const noGraph = overflowed.body.data as { viewer: ViewerAnswer };
    assert.equal(noGraph.viewer.groupsOverage, true, 'Graph knows no groups of this user: the overage stays');
    assert.deepEqual(overflowed.body.errors?.map((e) => [e.path?.join('.'), e.extensions.code, e.extensions['reason']]), [['databases', 'FORBIDDEN', 'groups-overage']]);
    assert.match(noGraph.viewer.noRoleReason!, /assign the groups to the application .* or match on app roles/);

    const named = fixtures.find((f) => f.file === 'entra-overage-claim-names.json')!;
    const token = await sign(named, { oid: GRAPH_USER });
    const first = (await stack.post(viewerQuery, token)).body.data as { viewer: ViewerAnswer };
    assert.equal(first.viewer.role, 'analyst', JSON.stringify(first.viewer));
    assert.equal(first.viewer.groupsOverage, false);
    assert.ok(first.viewer.groups.includes(ANALYST_ENTRA_GROUP));
    await stack.post(viewerQuery, token);
    assert.deepEqual(graph.calls.filter((c) => c.includes(GRAPH_USER)), [`POST /v1.0/users/${GRAPH_USER}/getMemberGroups`], 'one lookup for two requests of the same token');
    assert.equal(graph.calls.filter((c) => c === 'POST /tenant/oauth2/v2.0/token').length, 1, 'one app token for every lookup');
    assert.deepEqual(claimSources.calls, [], 'the endpoint the token names is never called');
  });

  test('several issuers: each token is checked against its own issuer; another issuer\'s audience or keys are refused', async () => {
    const okta = fixtures.find((f) => f.file === 'okta-user.json')!;
    const forAuth0 = await sign(okta, { aud: 'https://gateway.example.com' });
    const replay = await stack.post(viewerQuery, forAuth0);
    assert.deepEqual([replay.status, replay.body.errors?.[0]?.extensions['reason']], [401, 'audience'], 'an Okta token made for the Auth0 API\'s audience');
    const claimingAuth0 = await idps.okta.sign({ ...okta.payload, iss: idps.auth0.issuer, aud: 'https://gateway.example.com', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 });
    const forged = await stack.post(viewerQuery, claimingAuth0);
    assert.equal(forged.status, 401);
    assert.ok(['signature', 'unknown-key'].includes(String(forged.body.errors?.[0]?.extensions['reason'])), 'verified against Auth0\'s keys, which did not sign it');
    const unknown = await idps.okta.sign({ ...okta.payload, iss: 'https://idp.elsewhere.test', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 });
    assert.equal((await stack.post(viewerQuery, unknown)).body.errors?.[0]?.extensions['reason'], 'issuer');
    // A role that names its issuer: a Keycloak subtree matched only for Keycloak's tokens.
    const auth0WithPath = await sign(fixtures.find((f) => f.file === 'auth0-user.json')!, { 'https://gateway.example.com/groups': ['/org/sales/emea'] });
    const auth0 = (await stack.post(viewerQuery, auth0WithPath)).body.data as { viewer: ViewerAnswer };
    assert.equal(auth0.viewer.role, null, 'sales serves Keycloak\'s tokens only');
  });

  test('explain names the issuer, the audience check that ran and what it saw, and the token type', async () => {
    const { policy, issuers } = stack.policy.current;
    const cognito = await explainToken(await sign(fixtures.find((f) => f.file === 'cognito-access.json')!), policy, issuers, stack.tokens);
    const text = cognito.lines.join('\n');
    assert.equal(cognito.verified, true, text);
    assert.match(text, /^Issuer: cognito \(http:\/\/127\.0\.0\.1:\d+\)/m);
    assert.match(text, /^Audience check: the claim `client_id` holds "4r6t8y0u2i4o6p8a1s3d5f7g9h"; accepted: "4r6t8y0u2i4o6p8a1s3d5f7g9h": matches$/m);
    assert.match(text, /^Token type: an access token$/m);
    const id = await explainToken(await sign(fixtures.find((f) => f.file === 'cognito-id.json')!), policy, issuers, stack.tokens);
    assert.equal(id.verified, false);
    assert.match(id.lines.join('\n'), /Token type: not an access token \(its token_use is "id"\)/);
    assert.match(id.lines.join('\n'), /REFUSED, UNAUTHENTICATED \(reason: token-type\)/);
    const noAud = await explainToken(await sign(fixtures.find((f) => f.file === 'okta-user.json')!, { aud: undefined }), policy, issuers, stack.tokens);
    assert.match(noAud.lines.join('\n'), /Audience check: the claim `aud` holds nothing; accepted: "api:\/\/metabase-gateway": the token has no `aud`/);
  });

  test('200 Entra group ids and 500 Keycloak groups fit; the token limit and the header limit hold at their edges', async () => {
    const entra = fixtures.find((f) => f.file === 'entra-delegated.json')!;
    const ids = Array.from({ length: 199 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`);
    const big = await sign(entra, { groups: [...ids, ANALYST_ENTRA_GROUP.toUpperCase()] });
    assert.ok(big.length > 8_192, `an Entra token with 200 groups is ${big.length} bytes`);
    assert.equal(((await stack.post(viewerQuery, big)).body.data as { viewer: ViewerAnswer }).viewer.role, 'analyst');
    const keycloak = fixtures.find((f) => f.file === 'keycloak-user.json')!;
    const many = await sign(keycloak, { groups: [...Array.from({ length: 499 }, (_, i) => `/team/t${i}`), '/org/sales/emea'] });
    assert.ok(many.length > 8_192, `a Keycloak token with 500 groups is ${many.length} bytes`);
    assert.equal(((await stack.post(viewerQuery, many)).body.data as { viewer: ViewerAnswer }).viewer.role, 'sales');

    // A token of exactly TOKEN_MAX_BYTES is read; one byte more is refused with its own reason.
    const sized = async (length: number): Promise<string> => {
      // Base64url never has a length of 4n+1, so header and payload padding are varied together.
      for (let headerPad = 0; headerPad < 4; headerPad++) {
        const header = { ...entra.header, p: 'x'.repeat(headerPad) };
        const make = (pad: number) => idps.entra.sign({ ...JSON.parse(JSON.stringify(entra.payload).replaceAll('{{issuer}}', idps.entra.issuer)) as object, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, pad: 'x'.repeat(pad) }, header);
        let low = 0;
        let high = length;
        while (low <= high) {
          const mid = Math.floor((low + high) / 2);
          const token = await make(mid);
          if (token.length === length) return token;
          if (token.length < length) low = mid + 1;
          else high = mid - 1;
        }
      }
      return assert.fail(`no token of exactly ${length} bytes`);
    };
    const limit = 32_768;
    const atLimit = await stack.post(viewerQuery, await sized(limit));
    assert.equal(atLimit.status, 200, atLimit.text.slice(0, 200));
    const overLimit = await stack.post(viewerQuery, await sized(limit + 1));
    assert.deepEqual([overLimit.status, overLimit.body.errors?.[0]?.extensions['reason']], [401, 'too-large']);
    // Past the token limit plus 16 KiB of other headers plus 128 KiB of URL, the head itself is refused before the gateway reads it.
    const huge = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${'a'.repeat(limit + 16_384 + 131_072)}` }, body: '{"query":"{ viewer { role } }"}' });
    assert.equal(huge.status, 431);
    const refused = (await huge.json()) as GqlBody;
    assert.equal(refused.errors?.[0]?.extensions.code, 'BAD_USER_INPUT');
    assert.match(refused.errors?.[0]?.message ?? '', /TOKEN_MAX_BYTES.*GET query is better sent by POST/);
    // A GET whose URL carries a document at the default documentBytes limit, percent-encoded, is read (and answered on its merits).
    const document = `{ viewer { role } }${' '.repeat(32_768 - 19)}`;
    const longGet = await fetch(`${stack.url}?query=${encodeURIComponent(document)}`, { headers: { authorization: `Bearer ${await sized(limit)}`, 'apollo-require-preflight': 'true' } });
    assert.equal(longGet.status, 200, (await longGet.text()).slice(0, 200));
  });
});
