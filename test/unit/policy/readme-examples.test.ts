/**
 * The README's policy reference is checked against the code: every policy in it parses, and every
 * sample token of the identity-provider examples is read into the groups, client kind and role the
 * README says. A sample is a ```json block under a line like
 * "A token like this is read as kind `human` and acts as `analyst` (it may also ask for `sales`):".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { audienceMatches, tokenTypeProblem } from '../../../src/identity/verifier.js';
import { decideRoles, groupMatches, viewerFromClaims } from '../../../src/identity/viewer.js';
import { DEFAULT_LIMITS } from '../../../src/config/limits.js';
import { parsePolicy, type Policy } from '../../../src/policy/policy.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
/** Where the README's policies are taken to live, so relative key files resolve somewhere known. */
const SOURCE = '/etc/gateway/policy.yaml';
const EXAMPLES = ['Okta', 'Auth0', 'Keycloak', 'Entra ID', 'AWS Cognito', 'Google', 'Several issuers'];

interface Block {
  readonly lang: string;
  readonly body: string;
  /** The `###` heading the block sits under, or '' before the first. */
  readonly heading: string;
  /** The last non-empty line of prose before the block. */
  readonly intro: string;
  readonly line: number;
}

/** The fenced blocks of the "## Policy reference" section, with their heading and intro line. */
function referenceBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const start = lines.indexOf('## Policy reference');
  assert.ok(start >= 0, 'README.md has a "## Policy reference" section');
  const blocks: Block[] = [];
  let heading = '';
  let intro = '';
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^## /.test(line)) break;
    if (line.startsWith('### ')) {
      heading = line.slice(4).trim();
      intro = '';
      continue;
    }
    const fence = /^```(\w*)\s*$/.exec(line);
    if (!fence) {
      if (line.trim() !== '') intro = line.trim();
      continue;
    }
    const body: string[] = [];
    const first = i + 1;
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    assert.ok(i < lines.length, `the block opened at README line ${first} is closed`);
    blocks.push({ lang: fence[1]!, body: body.join('\n'), heading, intro, line: first });
    intro = '';
  }
  return blocks;
}

const blocks = referenceBlocks(README);
const policies = blocks.filter((b) => b.lang === 'yaml' && /^roles:/m.test(b.body));

function parse(block: Block): Policy {
  try {
    return parsePolicy(block.body, SOURCE);
  } catch (err) {
    assert.fail(`the policy at README line ${block.line} (${block.heading || 'Policy reference'}) is refused: ${(err as Error).message}`);
  }
}

/** What the README's intro line says about a sample token. */
function expectation(block: Block): { kind: string; role: string; alsoAsk: string[] } {
  const m = /read as kind `(human|agent|service)` and acts as `([^`]+)`(?: \(it may also ask for (.+)\))?:$/.exec(block.intro);
  assert.ok(m, `the JSON block at README line ${block.line} sits under "A token like this is read as kind \`…\` and acts as \`…\`:", found "${block.intro}"`);
  const alsoAsk = [...(m[3] ?? '').matchAll(/`([^`]+)`/g)].map((a) => a[1]!);
  return { kind: m[1]!, role: m[2]!, alsoAsk };
}

/**
 * What each sample must read as, beyond the role: this is where the claim paths of each example are
 * pinned (namespaced claims, nested roles, `cid`, `oid`, space-separated `scp`). Keyed "IdP: role".
 */
const READS: Record<string, { subject: string; email: string | null; groups: string[]; scopes: string[]; clientId: string | null }> = {
  'Okta: analyst': {
    subject: 'ada@example.com', email: null, groups: ['metabase-analysts'],
    scopes: ['openid', 'email', 'metabase.read'], clientId: '0oa5x9w2v7KeEpLm3h7',
  },
  'Okta: export': {
    subject: '0oa7t3r1q9Nk4Ls2h7', email: null, groups: [], scopes: ['metabase.export'], clientId: '0oa7t3r1q9Nk4Ls2h7',
  },
  'Auth0: support': {
    subject: 'auth0|64f1c2d3e4a5b6c7d8e9f012', email: 'grace@example.com', groups: ['Support'],
    scopes: ['openid', 'profile', 'email'], clientId: 'kT3vQ8mZ1xW5rY7uP2sD4fG6hJ9lA0cB',
  },
  'Auth0: agent': {
    subject: 'Vb7nM2qL9pX4cR6tY1wE3sA5dF8gH0jK@clients', email: null, groups: [],
    scopes: ['read:dashboards', 'run:questions'], clientId: 'Vb7nM2qL9pX4cR6tY1wE3sA5dF8gH0jK',
  },
  'Keycloak: analyst': {
    subject: 'f4c7c3a2-9d1e-4b8e-a7c1-2e5b0c6d9f10', email: 'ada@example.com',
    groups: ['default-roles-acme', 'offline_access', 'support', 'analyst'],
    scopes: ['openid', 'email', 'profile'], clientId: 'metabase-web',
  },
  'Keycloak: export': {
    subject: '2b1f8e47-3c6d-4a95-b0e2-7d8c9a1f3e56', email: null, groups: ['default-roles-acme', 'export'],
    scopes: ['email', 'profile'], clientId: 'nightly-export',
  },
  'Entra ID: analyst': {
    subject: 'd4a1e9c2-7b3f-4e58-9a06-1c2b3d4e5f60', email: 'ada@contoso.com',
    groups: ['3f6b2a91-8c4d-4e27-b5a0-9d1e7c2f4a68', 'a27e5c10-4b9f-4d38-8e61-5f0c3b7d92e4'],
    scopes: ['Dashboards.Read', 'Questions.Run'], clientId: 'e1d2c3b4-a596-4788-9a0b-c1d2e3f4a5b6',
  },
  'Entra ID: export': {
    subject: '5e0a9b8c-7d6e-4f3a-b2c1-d0e9f8a7b6c5', email: null, groups: ['Export.Run'],
    scopes: [], clientId: 'c81f4a2e-6b3d-4f59-8e7a-0d1c2b3a4f5e',
  },
  'AWS Cognito: analyst': {
    subject: '7b3c1e2a-4d5f-4a6b-8c9d-0e1f2a3b4c5d', email: null, groups: ['analysts'], scopes: ['openid', 'email'], clientId: '4r6t8y0u2i4o6p8a1s3d5f7g9h',
  },
  'AWS Cognito: export': {
    subject: '1q3w5e7r9t2y4u6i8o0p2a4s6d', email: null, groups: [], scopes: ['gateway/export'], clientId: '1q3w5e7r9t2y4u6i8o0p2a4s6d',
  },
  'Google: analyst': {
    subject: '110248495921238986420', email: 'ada@example.com', groups: ['example.com'], scopes: [], clientId: '1234567890-abc123def456.apps.googleusercontent.com',
  },
  'Google: export': {
    subject: '106847320981234567890', email: 'export@acme-data.iam.gserviceaccount.com', groups: [], scopes: [], clientId: '106847320981234567890',
  },
  'Several issuers: analyst': {
    subject: 'd4a1e9c2-7b3f-4e58-9a06-1c2b3d4e5f60', email: 'ada@contoso.com', groups: ['3f6b2a91-8c4d-4e27-b5a0-9d1e7c2f4a68'],
    scopes: ['Dashboards.Read'], clientId: 'e1d2c3b4-a596-4788-9a0b-c1d2e3f4a5b6',
  },
  'Several issuers: export': {
    subject: 'Vb7nM2qL9pX4cR6tY1wE3sA5dF8gH0jK@clients', email: null, groups: [], scopes: ['read:dashboards'], clientId: 'Vb7nM2qL9pX4cR6tY1wE3sA5dF8gH0jK',
  },
};

test('every policy in the policy reference parses', () => {
  assert.ok(policies.length >= 1 + EXAMPLES.length, `the reference and each example show a policy (found ${policies.length})`);
  for (const block of policies) {
    const policy = parse(block);
    assert.ok(policy.roles.length >= 1);
    for (const role of policy.roles) {
      const source = role.metabase.kind === 'api-key' ? role.metabase.apiKey : role.metabase.password;
      if ('file' in source) assert.ok(isAbsolute(source.file), `${role.name}: key files resolve to absolute paths`);
      else assert.match(source.env, /^[A-Z][A-Z0-9_]*$/, `${role.name}: secrets come from an environment variable`);
    }
  }
  assert.ok(!/\bmb_[A-Za-z0-9]{8,}/.test(policies.map((b) => b.body).join('\n')), 'no literal Metabase API key in a policy');
});

test('the full policy at the top of the reference: its defaults are the code\'s, relative files resolve next to the policy', () => {
  const block = policies.find((b) => b.heading === '');
  assert.ok(block, 'a policy right under "## Policy reference"');
  const policy = parse(block);
  const defaults = parsePolicy('roles: [{ name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }]', SOURCE);
  const { rules, ...kind } = policy.claims.clientKind;
  const { rules: defaultRules, ...defaultKind } = defaults.claims.clientKind;
  assert.deepEqual({ ...policy.claims, clientKind: kind }, { ...defaults.claims, clientKind: defaultKind }, 'the claims it shows are the defaults');
  assert.deepEqual(defaultRules, []);
  assert.deepEqual(rules, [
    { kind: 'agent', clientIds: ['reporting-agent'] },
    { kind: 'service', scope: 'metabase:service' },
    { kind: 'service', claim: 'gty', equals: ['client-credentials'] },
  ]);
  assert.deepEqual(policy.rateLimitTiers, { standard: { requestsPerMinute: 600, runsPerMinute: 120, concurrentRuns: 8 } });
  const defaultTtl = { ttlMs: 60_000, staleMs: 60_000 };
  assert.deepEqual(policy.cache.metadata, { cards: defaultTtl, dashboards: defaultTtl, databases: defaultTtl, collections: { ttlMs: 300_000, staleMs: 60_000 } });
  assert.deepEqual(defaults.cache.metadata.collections, defaultTtl, 'the TTLs it names as defaults are the defaults');

  const [analyst, support] = policy.roles;
  assert.deepEqual(analyst, {
    name: 'analyst', description: 'Analysts see what their Metabase group sees, SQL included.',
    groups: ['analysts'], clientKinds: ['human'],
    metabase: { kind: 'api-key', apiKey: { env: 'METABASE_KEY_ANALYSTS' } },
    collections: { all: true }, canViewSql: true, canRunNativeSql: true, maxRows: 5000, rateLimitTier: 'standard', vettedOnly: false,
    rateLimitFallback: 'local', resultCache: { ttlMs: 300_000, nativeSql: false }, vettedOnlyMode: 'enforce', operations: null, toolResultBytes: 32_768, riskFlags: { refuse: [], distinctQuestionsPerMinute: 20, rowCapCutsPerMinute: 5 },
    canIntrospect: true, limits: { ...DEFAULT_LIMITS, cost: 10_000 }, issuers: null,
    grantable: [{ dashboards: [2], questions: [10], collections: [4], subtrees: [9], to: ['sales'], approvers: ['support'], maxMinutes: 240 }],
  });
  assert.deepEqual(support, {
    name: 'support', description: null, groups: ['support'], clientKinds: null,
    metabase: { kind: 'login', username: 'gateway-support@example.com', password: { file: '/etc/gateway/secrets/support-password' } },
    collections: { all: false, ids: [4], subtrees: [9], root: true },
    canViewSql: false, canRunNativeSql: false, maxRows: 2000, rateLimitTier: null, vettedOnly: false,
    rateLimitFallback: 'local', resultCache: { ttlMs: 0, nativeSql: false }, vettedOnlyMode: 'enforce', operations: null, toolResultBytes: 32_768, riskFlags: { refuse: [], distinctQuestionsPerMinute: 20, rowCapCutsPerMinute: 5 },
    canIntrospect: true, limits: DEFAULT_LIMITS, issuers: null, grantable: [],
  }, 'an unset key takes the documented default');
  assert.deepEqual(policy.issuers, [], 'without issuers, the environment names the one issuer');
  assert.deepEqual(policy.warnings, []);
  assert.deepEqual(policy.limits, DEFAULT_LIMITS, 'the policy-wide limits it shows are the defaults');
  assert.equal(policy.explainDenials, false);
  assert.deepEqual(policy.accessRequests, { pendingMinutes: 1440, webhook: { url: 'https://hooks.slack.com/services/T000/B000/XXXX', secret: { env: 'ACCESS_WEBHOOK_SECRET' } } });
  assert.equal(defaults.accessRequests.pendingMinutes, 1440, 'the pending time it names is the default');
});

test('the issuers reference parses, with the defaults it names', () => {
  const block = blocks.find((b) => b.heading === 'Issuers' && b.lang === 'yaml');
  assert.ok(block, 'a yaml block under "### Issuers"');
  const policy = parse({ ...block, body: `${block.body.replaceAll('<tenant id>', 'b5c8a1d2-4e6f-4a3b-9c7d-1e2f3a4b5c6d')}\nroles: [{ name: r, match: { groups: [g] }, metabase: { apiKey: { env: K } }, collections: all }]` });
  const [entra] = policy.issuers;
  assert.ok(entra);
  assert.deepEqual([entra.name, entra.audienceClaim, entra.algorithms, entra.allowIdTokens, entra.claims.subject], ['entra', 'aud', ['RS256'], false, 'oid']);
  assert.deepEqual(entra.overage?.clientSecret, { env: 'GRAPH_CLIENT_SECRET' });
});

test('each identity provider has an example: one policy and sample tokens it maps', () => {
  const headings = [...new Set(blocks.map((b) => b.heading).filter((h) => h.startsWith('Example: ')))];
  assert.deepEqual(headings.map((h) => h.slice('Example: '.length)), EXAMPLES);
  const seen: string[] = [];
  for (const idp of EXAMPLES) {
    const under = blocks.filter((b) => b.heading === `Example: ${idp}`);
    assert.equal(under.filter((b) => policies.includes(b)).length, 1, `${idp}: exactly one policy`);
    const samples = under.filter((b) => b.lang === 'json');
    assert.ok(samples.length >= 2, `${idp}: at least two sample tokens`);
    const policy = parse(under.find((b) => policies.includes(b))!);
    assert.ok(policy.roles.length >= 2 && policy.roles.length <= 3, `${idp}: a short example (2 or 3 roles)`);
    assert.ok(under.indexOf(samples[0]!) > under.findIndex((b) => policies.includes(b)), `${idp}: the samples follow the policy`);
    for (const sample of samples) seen.push(`${idp}: ${expectation(sample).role}`);
  }
  assert.deepEqual(seen.sort(), Object.keys(READS).sort(), 'every sample has its expected reading below, and every expected reading a sample');
});

for (const idp of EXAMPLES) {
  const under = blocks.filter((b) => b.heading === `Example: ${idp}`);
  const policyBlock = under.find((b) => policies.includes(b));
  for (const sample of under.filter((b) => b.lang === 'json')) {
    const said = expectation(sample);
    test(`${idp}: the sample token at README line ${sample.line} is read as kind ${said.kind} and acts as ${said.role}`, () => {
      assert.ok(policyBlock, `${idp} has a policy`);
      const policy = parse(policyBlock);
      let claims: Record<string, unknown>;
      try {
        claims = JSON.parse(sample.body) as Record<string, unknown>;
      } catch (err) {
        assert.fail(`the sample at README line ${sample.line} is not JSON: ${(err as Error).message}`);
      }
      // With issuers, the sample is read as its own issuer reads it, and must pass that issuer's audience and token-type checks.
      const issuer = policy.issuers.find((i) => i.issuer === claims['iss']);
      if (policy.issuers.length > 0) {
        assert.ok(issuer, `an issuer of the policy has the sample's iss ${String(claims['iss'])}`);
        assert.ok(audienceMatches(claims[issuer.audienceClaim], issuer.audiences), `the sample's ${issuer.audienceClaim} is an accepted audience`);
        assert.ok(issuer.allowIdTokens || tokenTypeProblem({ typ: 'JWT' }, claims) === null, `the sample is an access token: ${tokenTypeProblem({ typ: 'JWT' }, claims)}`);
      }
      const viewer = viewerFromClaims(claims, issuer?.claims ?? policy.claims, issuer?.name);
      const reads = READS[`${idp}: ${said.role}`];
      assert.ok(reads, `an expected reading for "${idp}: ${said.role}"`);
      assert.deepEqual(
        { subject: viewer.subject, email: viewer.email, groups: viewer.groups, scopes: viewer.scopes, clientId: viewer.clientId },
        reads,
      );
      assert.equal(viewer.clientKind, said.kind);

      const decision = decideRoles(viewer, policy.roles);
      assert.deepEqual(decision.allowed.map((r) => r.name), [said.role, ...said.alsoAsk], 'the default role first, then those it may ask for');
      const chosen = decision.allowed[0]!;
      if (chosen.clientKinds) assert.ok(chosen.clientKinds.includes(viewer.clientKind));
      if (chosen.groups) assert.ok(chosen.groups.some((g) => viewer.groups.some((held) => groupMatches(g, held, viewer.caseInsensitiveGroups))), `${chosen.name} fits on a group the token carries`);
      for (const other of policy.roles.filter((r) => !decision.allowed.includes(r))) {
        assert.equal(decision.reasons.find((r) => r.role === other.name)?.matched, false, `${other.name} does not fit`);
      }
    });
  }
}
