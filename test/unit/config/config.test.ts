import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../../src/config/config.js';

const KEY = `mb_${'k'.repeat(44)}`;

test('no settings: demo mode with documented defaults, frozen', () => {
  const c = loadConfig({});
  assert.equal(c.mode, 'demo');
  assert.equal(c.port, 4000);
  assert.equal(c.metabase.timeoutMs, 30_000);
  assert.equal(c.limits.questionsListThreshold, 20);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.limits));
});

test('production: Metabase, the issuer and the policy file; the Metabase key stays in the environment', () => {
  const c = loadConfig({
    METABASE_URL: 'https://metabase.example.test/', OIDC_ISSUER: 'https://idp.example.test', OIDC_AUDIENCE: 'gateway',
    POLICY_FILE: '/etc/gateway/policy.yaml', ROLE_ANALYST_KEY: KEY,
  });
  assert.equal(c.mode, 'production');
  assert.equal(c.metabase.url, 'https://metabase.example.test');
  assert.equal(c.policyFile, '/etc/gateway/policy.yaml');
  assert.deepEqual(c.oidc?.algorithms, ['RS256', 'PS256', 'ES256', 'EdDSA']);
  assert.ok(!JSON.stringify(c).includes(KEY), 'secrets are read from their source by the policy, not copied into the configuration');
});

test('every problem is reported at once, naming the variable and what it expects', () => {
  assert.throws(() => loadConfig({ METABASE_URL: 'ftp://x', PORT: 'eighty', OIDC_ALGORITHMS: 'RS256,HS256' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const fragment of ['METABASE_URL must be an http(s) URL', 'PORT must be an integer', 'OIDC_ISSUER is required', 'OIDC_AUDIENCE is required', 'POLICY_FILE is required', 'OIDC_ALGORITHMS must name asymmetric algorithms']) {
      assert.ok(text.includes(fragment), `${fragment} in:\n${text}`);
    }
    return true;
  });
});
