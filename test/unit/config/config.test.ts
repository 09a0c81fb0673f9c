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

test('production: roles in order with their groups and credentials; secrets never printed', () => {
  const c = loadConfig({
    METABASE_URL: 'https://metabase.example.test/', OIDC_ISSUER: 'https://idp.example.test', OIDC_AUDIENCE: 'gateway',
    GATEWAY_ROLES: 'analyst, service-desk', ROLE_ANALYST_GROUPS: 'analysts,bi', ROLE_ANALYST_METABASE_API_KEY: KEY,
    ROLE_SERVICE_DESK_GROUPS: 'support', ROLE_SERVICE_DESK_METABASE_USERNAME: 'svc@example.test', ROLE_SERVICE_DESK_METABASE_PASSWORD: 'pw-123',
  });
  assert.equal(c.mode, 'production');
  assert.equal(c.metabase.url, 'https://metabase.example.test');
  assert.deepEqual(c.roles.map((r) => [r.name, r.groups, r.credential.kind]), [['analyst', ['analysts', 'bi'], 'api-key'], ['service-desk', ['support'], 'login']]);
  assert.ok(!JSON.stringify(c).includes(KEY) && !JSON.stringify(c).includes('pw-123'));
});

test('every problem is reported at once, naming the variable and what it expects', () => {
  assert.throws(() => loadConfig({ METABASE_URL: 'ftp://x', PORT: 'eighty', GATEWAY_ROLES: 'a', ROLE_A_METABASE_API_KEY: 'nope' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const fragment of ['METABASE_URL must be an http(s) URL', 'PORT must be an integer', 'OIDC_ISSUER is required', 'OIDC_AUDIENCE is required', 'ROLE_A_GROUPS', 'ROLE_A: a Metabase API key starts with "mb_"']) {
      assert.ok(text.includes(fragment), `${fragment} in:\n${text}`);
    }
    return true;
  });
});
