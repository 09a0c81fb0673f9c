import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimAt, decideRoles, explainNoRole, viewerFromClaims } from '../../../src/identity/viewer.js';
import { parsePolicy } from '../../../src/policy/policy.js';

const policy = parsePolicy(`
claims:
  subject: oid
  email: [profile, mail]
  groups: [groups, realm_access.roles, resource_access.gateway.roles, "https://gw.example.com/groups", [resource_access, "my.app", roles]]
  clientKind:
    default: human
    rules:
      - { kind: agent, clientIds: [bot-1] }
      - { kind: service, scope: "metabase:service" }
      - { kind: agent, claim: client_kind, equals: [agent, ai] }
roles:
  - name: analyst
    match: { groups: [analysts], clientKinds: [human] }
    metabase: { apiKey: { env: A } }
    collections: all
  - name: reader
    match: { groups: [analysts, readers] }
    metabase: { apiKey: { env: R } }
    collections: [root]
  - name: bots
    match: { clientKinds: [agent, service] }
    metabase: { apiKey: { env: B } }
    collections: [{ subtree: 7 }]
`, 'test.yaml');

test('claim paths: whole namespaced keys, dotted paths, segments for keys with dots', () => {
  const claims = { 'https://gw.example.com/groups': ['ns'], realm_access: { roles: ['kc'] }, resource_access: { gateway: { roles: ['client'] }, 'my.app': { roles: ['dotted'] } } };
  assert.deepEqual(claimAt(claims, 'https://gw.example.com/groups'), ['ns']);
  assert.deepEqual(claimAt(claims, 'realm_access.roles'), ['kc']);
  assert.deepEqual(claimAt(claims, ['resource_access', 'my.app', 'roles']), ['dotted']);
  assert.equal(claimAt(claims, 'realm_access.roles.0'), undefined, 'no indexing into arrays');
  const v = viewerFromClaims({ sub: 'x', oid: 'o-1', groups: ['a', 'b'], ...claims, profile: { mail: 'p@example.test' } }, policy.claims);
  assert.equal(v.subject, 'o-1');
  assert.equal(v.email, 'p@example.test');
  assert.deepEqual(v.groups, ['a', 'b', 'kc', 'client', 'ns', 'dotted'], 'the union of every path');
  assert.deepEqual(v.groupSources.map((s) => [s.claim, s.values.length]), [
    ['groups', 2], ['realm_access.roles', 1], ['resource_access.gateway.roles', 1], ['https://gw.example.com/groups', 1], ['resource_access > my.app > roles', 1],
  ]);
});

test('client kinds: by client id, by scope (scope or scp, string or list), by claim value; else the default', () => {
  const kind = (claims: Record<string, unknown>) => viewerFromClaims({ sub: 's', ...claims }, policy.claims).clientKind;
  assert.equal(kind({ azp: 'bot-1' }), 'agent');
  assert.equal(kind({ client_id: 'bot-1' }), 'agent');
  assert.equal(kind({ scope: 'openid metabase:service' }), 'service');
  assert.equal(kind({ scp: ['metabase:service'] }), 'service');
  assert.equal(kind({ client_kind: 'ai' }), 'agent');
  assert.equal(kind({ azp: 'web-app', scope: 'openid' }), 'human');
  assert.deepEqual(viewerFromClaims({ sub: 's', scp: 'a b', azp: 'web' }, policy.claims).scopes, ['a', 'b']);
});

test('roles: the first that fits is the default, all that fit are allowed, and each miss says why', () => {
  const viewer = (claims: Record<string, unknown>) => viewerFromClaims({ sub: 's', ...claims }, policy.claims);
  const analyst = decideRoles(viewer({ groups: ['analysts'] }), policy.roles);
  assert.deepEqual(analyst.allowed.map((r) => r.name), ['analyst', 'reader']);
  const bot = decideRoles(viewer({ azp: 'bot-1', groups: ['analysts'] }), policy.roles);
  assert.deepEqual(bot.allowed.map((r) => r.name), ['reader', 'bots'], 'analyst serves humans only');
  const nobody = decideRoles(viewer({ groups: ['contractors'] }), policy.roles);
  assert.deepEqual(nobody.allowed, []);
  assert.deepEqual(nobody.reasons.map((r) => r.reason), [
    'needs one of the groups analysts; the token has contractors',
    'needs one of the groups analysts, readers; the token has contractors',
    'serves client kinds agent, service; the caller is human',
  ]);
});

test('a group given as one string is one group; only scope claims split on spaces', () => {
  assert.deepEqual(viewerFromClaims({ sub: 's', groups: 'Regional analysts' }, policy.claims).groups, ['Regional analysts']);
  assert.deepEqual(decideRoles(viewerFromClaims({ sub: 's', groups: 'Regional analysts' }, policy.claims), policy.roles).allowed, []);
  const byScope = parsePolicy('claims: { groups: [scp] }\nroles: [{ name: r, match: { groups: [Reports.Read] }, metabase: { apiKey: { env: K } }, collections: all }]', 'p.yaml');
  const v = viewerFromClaims({ sub: 's', scp: 'openid Reports.Read' }, byScope.claims);
  assert.deepEqual(v.groups, ['openid', 'Reports.Read'], 'a scope claim used as groups splits as scopes do');
  assert.deepEqual(decideRoles(v, byScope.roles).allowed.map((r) => r.name), ['r']);
});

test('odd claim values are ignored, not trusted', () => {
  const v = viewerFromClaims({ sub: 's', groups: [1, null, 'ok', { a: 1 }, ''], oid: 42, realm_access: 'not-an-object' }, policy.claims);
  assert.deepEqual(v.groups, ['ok']);
  assert.equal(v.subject, '', 'a non-string subject claim reads as empty');
});

test('why no role fits: what the caller\'s own token holds, short whatever it holds; every role\'s needs only with explainDenials', () => {
  const groups = Array.from({ length: 500 }, (_, i) => `group-${String(i).padStart(3, '0')}-${'x'.repeat(16)}`);
  const v = viewerFromClaims({ sub: 's', groups }, policy.claims);
  const decision = decideRoles(v, policy.roles);
  assert.deepEqual(decision.allowed, []);
  const own = explainNoRole(v, decision, false);
  assert.ok(own.length < 1_000, `${own.length} characters`);
  assert.match(own, /carries the groups group-000-x+, .* and 495 more \(read from groups.*\) and client kind human; ask your administrator/);
  assert.ok(!own.includes('analysts'), 'other roles\' groups are not listed');
  const all = explainNoRole(v, decision, true);
  assert.ok(all.length < 2_000, `${all.length} characters`);
  assert.match(all, /analyst needs one of the groups analysts; the token has group-000-x+, .* and 490 more/);
  for (const reason of decision.reasons) assert.ok(reason.reason.length < 1_000, 'each reason is short too (the explain command prints them)');
  const none = explainNoRole(viewerFromClaims({ sub: 's' }, policy.claims), decideRoles(viewerFromClaims({ sub: 's' }, policy.claims), policy.roles), false);
  assert.match(none, /carries no groups where the policy reads them \(groups.*\)/);
});
