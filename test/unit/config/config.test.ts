import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../../src/config/config.js';

test('no settings: demo mode with documented defaults, frozen', () => {
  const c = loadConfig({});
  assert.equal(c.mode, 'demo');
  assert.equal(c.port, 4000);
  assert.equal(c.metabase.timeoutMs, 30_000);
  assert.equal(c.metabase.maxResponseBytes, 64 * 1024 * 1024);
  assert.equal(c.limits.questionsListThreshold, 20);
  assert.equal(c.limits.searchTextChars, 500);
  assert.equal(c.requestTimeoutMs, 60_000);
  assert.equal(c.stallWarningMs, 500);
  assert.equal(c.drainGraceMs, 10_000);
  assert.deepEqual([c.metabase.maxConcurrent, c.metabase.acceptGzip, c.limits.dashboardRunConcurrency, c.tokens.cacheMaxAgeMs], [32, false, 64, 300_000]);
  assert.equal(c.redis, null, 'no Redis: each instance keeps its own state');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.limits) && Object.isFrozen(c.metabase));
});

test('caches and kept runs: on by default, bounded, each setting read and checked', () => {
  const c = loadConfig({});
  assert.deepEqual(c.cache, { enabled: true, maxValueBytes: 8 * 1024 * 1024, shareWaitMs: 30_000, memoryMaxBytes: 64 * 1024 * 1024, localMaxBytes: 32 * 1024 * 1024 });
  assert.deepEqual(c.runStore, { ttlMs: 3_600_000, maxBytes: 8 * 1024 * 1024 });
  const set = loadConfig({ CACHE: 'off', CACHE_MAX_VALUE_BYTES: '2048', METABASE_TIMEOUT_MS: '9000', MEMORY_STORE_MAX_BYTES: '2097152', CACHE_LOCAL_MAX_BYTES: '0', RUN_STORE_TTL_MS: '0', RUN_STORE_MAX_BYTES: '4096' });
  assert.deepEqual(set.cache, { enabled: false, maxValueBytes: 2048, shareWaitMs: 9_000, memoryMaxBytes: 2_097_152, localMaxBytes: 0 }, 'a run waits for another instance at most as long as a Metabase call');
  assert.deepEqual(set.runStore, { ttlMs: 0, maxBytes: 4096 });
  assert.equal(loadConfig({ RUN_SHARE_WAIT_MS: '250' }).cache.shareWaitMs, 250);
  assert.throws(() => loadConfig({ CACHE: 'yes', CACHE_MAX_VALUE_BYTES: '10', RUN_STORE_TTL_MS: '-1', METABASE_TIMEOUT_MS: 'x' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems.filter((p) => /CACHE|RUN_STORE|METABASE_TIMEOUT/.test(p)), [
      'METABASE_TIMEOUT_MS must be an integer from 1 to 9007199254740991, received "x"',
      'CACHE must be one of on, off, received "yes"',
      'CACHE_MAX_VALUE_BYTES must be an integer from 1024 to 536870912, received "10"',
      'RUN_STORE_TTL_MS must be an integer from 0 to 604800000, received "-1"',
    ], 'each problem once');
    return true;
  });
});

test('Redis: one server by URL, or a Cluster by its nodes; never both; the URL is never echoed', () => {
  const one = loadConfig({ REDIS_URL: 'rediss://:s3cret@redis.internal:6380/0', REDIS_TIMEOUT_MS: '80' });
  assert.deepEqual(one.redis, { url: 'rediss://:s3cret@redis.internal:6380/0', cluster: null, sentinels: null, password: null, prefix: 'mgw:', timeoutMs: 80 });
  const cluster = loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000, r2:7001', REDIS_KEY_PREFIX: 'gw-eu:' });
  assert.deepEqual(cluster.redis, { url: null, cluster: [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }], sentinels: null, password: null, prefix: 'gw-eu:', timeoutMs: 50 });
  const sentinel = loadConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'gateway', REDIS_PASSWORD: 'pw' });
  assert.deepEqual(sentinel.redis, {
    url: null, cluster: null, sentinels: { nodes: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], name: 'gateway' }, password: 'pw', prefix: 'mgw:', timeoutMs: 50,
  });
  assert.equal(loadConfig({ REDIS_SENTINELS: 's1:26379' }).redis?.sentinels?.name, 'mymaster');
  assert.throws(() => loadConfig({ REDIS_SENTINELS: 's1', REDIS_CLUSTER_NODES: 'r1:7000' }), /not REDIS_CLUSTER_NODES and REDIS_SENTINELS[\s\S]*REDIS_SENTINELS must list host:port pairs, received "s1"/);
  assert.throws(() => loadConfig({ REDIS_PASSWORD: 'pw' }), /REDIS_PASSWORD is set but no Redis is/);
  assert.throws(() => loadConfig({ REDIS_URL: 'redis://r:6379', REDIS_PASSWORD: 'pw' }), /put the password in the URL/);
  assert.throws(() => loadConfig({ REDIS_URL: 'redis://:hunter2@r:6379', REDIS_CLUSTER_NODES: 'r1:7000,r2', REDIS_TIMEOUT_MS: '0' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const fragment of ['set one of REDIS_URL (one server), REDIS_CLUSTER_NODES (a Cluster) or REDIS_SENTINELS (a server watched by Sentinel), not REDIS_URL and REDIS_CLUSTER_NODES', 'REDIS_CLUSTER_NODES must list host:port pairs, received "r2"', 'REDIS_TIMEOUT_MS must be an integer from 1']) {
      assert.ok(text.includes(fragment), `${fragment} in:\n${text}`);
    }
    assert.ok(!text.includes('hunter2'), 'the password in a URL never appears in an error');
    return true;
  });
  assert.throws(() => loadConfig({ REDIS_URL: 'http://r:6379' }), /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
});

test('production: Metabase, the issuer and the policy file', () => {
  const c = loadConfig({
    METABASE_URL: 'https://metabase.example.test/', OIDC_ISSUER: 'https://idp.example.test', OIDC_AUDIENCE: 'gateway',
    POLICY_FILE: '/etc/gateway/policy.yaml', REQUEST_TIMEOUT_MS: '15000', METABASE_MAX_RESPONSE_BYTES: '1048576', SEARCH_TEXT_MAX_CHARS: '200',
  });
  assert.equal(c.mode, 'production');
  assert.equal(c.metabase.url, 'https://metabase.example.test');
  assert.equal(c.policyFile, '/etc/gateway/policy.yaml');
  assert.deepEqual(c.oidc?.algorithms, ['RS256', 'PS256', 'ES256', 'EdDSA']);
  assert.deepEqual([c.requestTimeoutMs, c.metabase.maxResponseBytes, c.limits.searchTextChars], [15_000, 1_048_576, 200]);
});

test('every problem is reported at once, naming the variable and what it expects', () => {
  assert.throws(() => loadConfig({
    METABASE_URL: 'ftp://x', PORT: 'eighty', OIDC_AUDIENCE: 'gateway', OIDC_ALGORITHMS: 'RS256,HS256', REQUEST_TIMEOUT_MS: '0', METABASE_MAX_RESPONSE_BYTES: '-1',
    EVENT_LOOP_STALL_MS: 'NaN', TOKEN_MAX_BYTES: '100',
  }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const fragment of [
      'METABASE_URL must be an http(s) URL', 'PORT must be an integer', 'OIDC_ISSUER is required with OIDC_AUDIENCE', 'POLICY_FILE is required',
      'OIDC_ALGORITHMS must name asymmetric algorithms', 'REQUEST_TIMEOUT_MS must be an integer from 100', 'METABASE_MAX_RESPONSE_BYTES must be an integer from 1024',
      'EVENT_LOOP_STALL_MS must be an integer from 10', 'TOKEN_MAX_BYTES must be an integer from 1024',
    ]) {
      assert.ok(text.includes(fragment), `${fragment} in:\n${text}`);
    }
    return true;
  });
});

test('issuers: one from the environment (with one audience or several), or none when the policy lists them', () => {
  const base = { METABASE_URL: 'https://metabase.example.test', POLICY_FILE: '/etc/gateway/policy.yaml' };
  assert.deepEqual(loadConfig({ ...base, OIDC_ISSUER: 'https://idp.example.test', OIDC_AUDIENCE: 'api://gateway, 6e74172b-be56-4843-9ff4-e66a39bb12e3' }).oidc?.audiences,
    ['api://gateway', '6e74172b-be56-4843-9ff4-e66a39bb12e3']);
  assert.equal(loadConfig(base).oidc, null, 'the policy\'s issuers are checked when it is read');
  assert.throws(() => loadConfig({ ...base, OIDC_ISSUER: 'https://idp.example.test' }), /OIDC_AUDIENCE is required with OIDC_ISSUER/);
  assert.equal(loadConfig(base).tokens.maxBytes, 32_768);
  assert.throws(() => loadConfig({ ...base, OIDC_ISSUER: 'http://idp.example.test', OIDC_AUDIENCE: 'a' }), /OIDC_ISSUER must be an https URL \(http only to 127\.0\.0\.1, ::1 or localhost\), received "http:\/\/idp\.example\.test"/);
  assert.equal(loadConfig({ ...base, OIDC_ISSUER: 'http://127.0.0.1:9000', OIDC_AUDIENCE: 'a' }).oidc?.issuer, 'http://127.0.0.1:9000', 'a local issuer (development, tests) may be http');
});
