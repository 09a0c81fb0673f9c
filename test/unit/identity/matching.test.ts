/** How groups match, which tokens count as access tokens, and the diagnostics for claim paths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segmentFormThatReads } from '../../../src/explain.js';
import { audienceMatches, tokenTypeProblem } from '../../../src/identity/verifier.js';
import { decideRoles, GroupMatcher, groupMatches, hasGroupOverage, viewerFromClaims, withResolvedGroups } from '../../../src/identity/viewer.js';
import { parsePolicy } from '../../../src/policy/policy.js';

test('group matching: GUIDs without regard to case always; Keycloak paths exact or as subtrees; names exact unless the issuer says otherwise', () => {
  assert.ok(groupMatches('3f6b2a91-8c4d-4e27-b5a0-9d1e7c2f4a68', '3F6B2A91-8C4D-4E27-B5A0-9D1E7C2F4A68', false));
  assert.ok(groupMatches('/org/sales', '/org/sales', false));
  assert.ok(!groupMatches('/org/sales', '/org/sales/emea', false), 'a path matches itself only');
  assert.ok(groupMatches('/org/sales/**', '/org/sales', false));
  assert.ok(groupMatches('/org/sales/**', '/org/sales/emea/berlin', false));
  assert.ok(!groupMatches('/org/sales/**', '/org/salesforce', false), 'a subtree is a subtree, not a prefix of the name');
  assert.ok(!groupMatches('sales', '/org/sales', false), 'a bare name is not a path');
  assert.ok(!groupMatches('analysts', 'Analysts', false));
  assert.ok(groupMatches('analysts', 'Analysts', true));
  assert.ok(groupMatches('café', 'CAFE\u0301', true), 'composed and decomposed letters are one (NFC)');
  assert.ok(!groupMatches('analysts', 'ＡＮＡＬＹＳＴＳ', true), 'look-alike full-width letters stay distinct');
  assert.ok(!groupMatches('admins', '𝐚𝐝𝐦𝐢𝐧𝐬', true), 'and mathematical ones');
  assert.ok(groupMatches('/Org/Sales/**', '/org/sales/emea', true));
  assert.ok(!groupMatches('/org/sales', '/org／sales', true), 'a group named org／sales is not the path /org/sales');
  assert.ok(!groupMatches('/org/sales/**', '/org／sales/x', true));
  assert.ok(!groupMatches('3f6b2a91-8c4d-4e27-b5a0-9d1e7c2f4a68', '３f6b2a91-8c4d-4e27-b5a0-9d1e7c2f4a68', true), 'a name never folds into a GUID');
  assert.ok(!groupMatches('analysts', 'analysts-eu', true));
  // A path is looked up from the top, no deeper than the deepest subtree: its length does not matter.
  const deep = `/org/sales/${Array.from({ length: 10_000 }, (_, i) => `s${i}`).join('/')}`;
  assert.ok(groupMatches('/org/sales/**', deep, false));
  assert.ok(groupMatches('/Org/Sales/**', deep, true));
  assert.ok(!groupMatches('/org/sales/**', `/org${deep}`, false));
  assert.ok(!groupMatches('/org/sales/**', '/org', false));
  assert.ok(groupMatches('/**', '/anything/at/all', false), 'the root subtree holds every path');
  // The pattern a decision names is the first, in policy order, that matches.
  assert.equal(new GroupMatcher(['/org/**', '/org/sales/**'], false).patternFor('/org/sales/x'), '/org/**');
  assert.equal(new GroupMatcher(['/org/sales/**', '/org/**'], false).patternFor('/org/sales/x'), '/org/sales/**');
  assert.equal(new GroupMatcher(['/**', '/org/sales'], false).patternFor('/org/sales'), '/**');
  assert.equal(new GroupMatcher(['Analysts', 'analysts'], true).patternFor('ANALYSTS'), 'Analysts');
  assert.equal(new GroupMatcher(['3F6B2A91-8C4D-4E27-B5A0-9D1E7C2F4A68'], false).patternFor('3f6b2a91-8c4d-4e27-b5a0-9d1e7c2f4a68'), '3F6B2A91-8C4D-4E27-B5A0-9D1E7C2F4A68');
  assert.equal(new GroupMatcher(['/org/sales/**'], false).patternFor('/org'), undefined);
});

test('a role names issuers, groups and client kinds; when the token\'s groups are paths and the role\'s are names, the reason says how to write them', () => {
  const policy = parsePolicy(`
issuers:
  - { name: kc, issuer: https://kc.example.test/realms/acme, audiences: [gw] }
  - { name: entra, issuer: https://login.microsoftonline.com/t/v2.0, audiences: [gw] }
roles:
  - { name: sales, match: { issuers: [kc], groups: [/org/sales/**] }, metabase: { apiKey: { env: K } }, collections: all }
  - { name: named, match: { groups: [analysts] }, metabase: { apiKey: { env: K } }, collections: all }
`, 'p.yaml');
  const kc = viewerFromClaims({ sub: 's', groups: ['/org/sales/emea', '/analysts'] }, policy.issuers[0]!.claims, 'kc');
  const decision = decideRoles(kc, policy.roles);
  assert.deepEqual(decision.allowed.map((r) => r.name), ['sales']);
  assert.match(decision.reasons[0]!.reason, /^group \/org\/sales\/emea \(matches \/org\/sales\/\*\*\)$/);
  assert.match(decision.reasons[1]!.reason, /the token's groups are full paths.* name them as paths, e\.g\. \/analysts/);
  const entra = viewerFromClaims({ sub: 's', groups: ['/org/sales/emea'] }, policy.issuers[1]!.claims, 'entra');
  assert.match(decideRoles(entra, policy.roles).reasons[0]!.reason, /serves tokens from the issuers kc; the token is from entra/);
  assert.throws(() => parsePolicy('roles: [{ name: r, match: { issuers: [nope], groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }]', 'p.yaml'), /match\.issuers: expected issuers named under `issuers`/);
});

test('Entra ID overage is recognised in both forms, and only when the token has no groups', () => {
  const claims = parsePolicy('roles: [{ name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }]', 'p.yaml').claims;
  assert.ok(hasGroupOverage({ _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'https://graph.windows.net/x' } } }));
  assert.ok(hasGroupOverage({ hasgroups: true }));
  assert.ok(!hasGroupOverage({ _claim_names: { other: 'src1' } }));
  assert.equal(viewerFromClaims({ sub: 's', hasgroups: true }, claims).groupsOverage, true);
  assert.equal(viewerFromClaims({ sub: 's', hasgroups: true, groups: ['g'] }, claims).groupsOverage, false, 'groups present: no overage to speak of');
  // Entra puts app roles in `roles` whatever the groups; an overflowed token with roles is still overflowed, and the groups Graph gives are added to the roles.
  const entra = parsePolicy('claims: { groups: [groups, roles] }\nroles: [{ name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }]', 'p.yaml').claims;
  const overflowed = viewerFromClaims({ sub: 's', hasgroups: true, roles: ['Reports.Reader'] }, entra);
  assert.equal(overflowed.groupsOverage, true);
  assert.deepEqual(overflowed.groups, ['Reports.Reader']);
  const resolved = withResolvedGroups(overflowed, ['3f6b2a91-8c4d-4e27-b5a0-9d1e7c2f4a68', 'Reports.Reader'], 'Microsoft Graph (group overage)');
  assert.deepEqual([resolved.groupsOverage, resolved.groups], [false, ['Reports.Reader', '3f6b2a91-8c4d-4e27-b5a0-9d1e7c2f4a68']]);
});

test('issuer, Graph and token endpoint URLs are https, or http to this machine only', () => {
  const role = 'roles: [{ name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }]';
  const withIssuer = (issuer: string, overage = ''): string => `issuers:\n  - { name: i, issuer: "${issuer}", audiences: [a]${overage} }\n${role}`;
  for (const ok of ['https://idp.example.com', 'https://login.microsoftonline.com/t/v2.0', 'http://127.0.0.1:8080', 'http://localhost:9000/realms/x', 'http://[::1]:4444/']) {
    assert.doesNotThrow(() => parsePolicy(withIssuer(ok), 'p.yaml'), ok);
  }
  for (const bad of ['http://idp.example.com', 'http://localhost.evil.example/', 'http://127.0.0.1@evil.example/', 'http://10.0.0.5:8080', 'https://', 'ftp://idp.example.com']) {
    assert.throws(() => parsePolicy(withIssuer(bad), 'p.yaml'), /issuers\[0\]\.issuer: expected the issuer URL, .*\(https; http only to 127\.0\.0\.1, ::1 or localhost\)/, bad);
  }
  assert.throws(() => parsePolicy(withIssuer('https://idp.example.com', ', overage: { graphUrl: "http://graph.example.com", tokenUrl: "http://login.example.com/t", clientId: c, clientSecret: { env: S } }'), 'p.yaml'),
    (err: Error) => /overage\.graphUrl: expected .*https/.test(err.message) && /overage\.tokenUrl: expected .*https/.test(err.message));
});

test('with several issuers, a role that names none is warned about; with one issuer, or naming its issuers, it is not', () => {
  const issuers = 'issuers:\n  - { name: a, issuer: "https://a.example", audiences: [x] }\n  - { name: b, issuer: "https://b.example", audiences: [x] }\n';
  const warned = parsePolicy(`${issuers}roles:\n  - { name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }\n  - { name: s, match: { issuers: [b], groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }`, 'p.yaml').warnings;
  assert.deepEqual(warned, ['roles[0].match: role "r" serves tokens of every issuer (a, b), so a group of the same name at any of them fits it; name the issuers it is for: issuers: [a]']);
  const one = 'issuers:\n  - { name: a, issuer: "https://a.example", audiences: [x] }\n';
  assert.deepEqual(parsePolicy(`${one}roles:\n  - { name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }`, 'p.yaml').warnings, []);
});

test('only access tokens: the typ header, token_use, Keycloak\'s typ claim, nonce and at_hash', () => {
  assert.equal(tokenTypeProblem({ typ: 'at+jwt' }, {}), null);
  assert.equal(tokenTypeProblem({ typ: 'JWT' }, { token_use: 'access', typ: 'Bearer' }), null);
  assert.equal(tokenTypeProblem({}, {}), null);
  assert.match(tokenTypeProblem({ typ: 'logout+jwt' }, {})!, /typ/);
  assert.match(tokenTypeProblem({ typ: 'JWT' }, { token_use: 'id' })!, /token_use/);
  assert.match(tokenTypeProblem({ typ: 'JWT' }, { typ: 'ID' })!, /typ claim/);
  assert.match(tokenTypeProblem({}, { nonce: 'n' })!, /nonce/);
  assert.match(tokenTypeProblem({}, { at_hash: 'h' })!, /at_hash/);
  assert.ok(audienceMatches(['a', 'b'], ['b']));
  assert.ok(audienceMatches('b', ['a', 'b']));
  assert.ok(!audienceMatches(undefined, ['a']));
  assert.ok(!audienceMatches([1, { b: 1 }], ['b']));
});

test('a dotted claim path with a host name in it: a warning at start, and the explain command\'s segment form', () => {
  const policy = parsePolicy(`
claims:
  groups: [groups, resource_access.gateway.example.com.roles, [resource_access, gateway.example.com, roles]]
roles:
  - { name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }
`, 'p.yaml');
  assert.deepEqual(policy.warnings, [
    'claims.groups[1]: "resource_access.gateway.example.com.roles" is read as 5 keys, so a key "gateway.example.com" is never read; if that is one key, write the path as segments: ["resource_access", "gateway.example.com", "roles"]',
  ]);
  const token = { resource_access: { 'gateway.example.com': { roles: ['reader'] } } };
  assert.deepEqual(segmentFormThatReads(token, 'resource_access.gateway.example.com.roles'), ['resource_access', 'gateway.example.com', 'roles']);
  assert.equal(segmentFormThatReads(token, 'realm_access.roles.x'), undefined);
  assert.deepEqual(parsePolicy('claims: { groups: [realm_access.roles, "https://example.com/groups"] }\nroles: [{ name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }]', 'p.yaml').warnings, [], 'ordinary paths and URL claims warn of nothing');
});
