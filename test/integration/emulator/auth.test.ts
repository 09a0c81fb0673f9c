/** The emulator's authentication, against API-CONTRACT.md §2: sessions, API keys, key management. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { asRecord, credentialOf, emulator, raw, type Emulator } from '../../helpers/emulator.js';

describe('emulator authentication', () => {
  let e: Emulator;
  let clock = Date.parse('2026-06-01T00:00:00Z');
  before(async () => {
    e = await emulator({ now: () => clock, sessionAgeMinutes: 60, loginThrottleFailures: 3, loginThrottleSeconds: 15 });
  });
  after(() => e.close());

  test('every protected endpoint answers 401 "Unauthenticated" as plain text without a credential', async () => {
    const paths = ['/api/user/current', '/api/card', '/api/card/1', '/api/dashboard', '/api/dashboard/1', '/api/collection',
      '/api/collection/root', '/api/collection/1/items', '/api/collection/tree', '/api/database', '/api/database/1/metadata',
      '/api/search', '/api/permissions/group'];
    for (const path of paths) {
      const res = await raw(e, 'GET', path);
      assert.equal(res.status, 401, path);
      assert.equal(res.text, 'Unauthenticated', path);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/, path);
    }
    const run = await raw(e, 'POST', '/api/card/1/query', { body: {} });
    assert.equal(run.status, 401);
  });

  test('bad, malformed and unknown API keys are all 401, like no credential', async () => {
    for (const key of ['nope', 'mb_short', `mb_${'A'.repeat(43)}`, `${credentialOf(e, 'Sales').apiKey}x`]) {
      const res = await raw(e, 'GET', '/api/user/current', { key });
      assert.equal(res.status, 401, key.slice(0, 6));
      assert.equal(res.text, 'Unauthenticated');
    }
  });

  test('API keys are 47 characters, start with mb_, and act as a synthetic user in All Users + one group', async () => {
    for (const c of e.credentials) {
      assert.match(c.apiKey, /^mb_[A-Za-z0-9+/=]{44}$/);
      const res = await raw(e, 'GET', '/api/user/current', { key: c.apiKey });
      assert.equal(res.status, 200);
      const user = asRecord(res.json);
      assert.equal(user['first_name'], `${c.group} key`);
      assert.equal(user['last_name'], '');
      assert.match(String(user['email']), /^api-key-user-[0-9a-f-]{36}@api-key\.invalid$/);
      assert.deepEqual(user['group_ids'], c.groupId === 1 ? [1] : [1, c.groupId]);
      assert.equal(user['is_superuser'], c.group === 'Administrators');
    }
  });

  test('the API-key header name is case-insensitive', async () => {
    const res = await raw(e, 'GET', '/api/user/current', { headers: { 'X-API-KEY': credentialOf(e, 'Sales').apiKey } });
    assert.equal(res.status, 200);
  });

  test('login gives a session usable by header and by cookie; logout ends it', async () => {
    const c = credentialOf(e, 'Analysts');
    const login = await raw(e, 'POST', '/api/session', { body: { username: c.email, password: c.password } });
    assert.equal(login.status, 200);
    const id = String(asRecord(login.json)['id']);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.match(login.headers.get('set-cookie') ?? '', new RegExp(`metabase\\.SESSION=${id};.*HttpOnly`));
    assert.equal((await raw(e, 'GET', '/api/user/current', { session: id })).status, 200);
    const byCookie = await raw(e, 'GET', '/api/user/current', { headers: { cookie: `metabase.SESSION=${id}` } });
    assert.equal(asRecord(byCookie.json)['email'], c.email);
    const logout = await raw(e, 'DELETE', '/api/session', { session: id });
    assert.equal(logout.status, 204);
    assert.equal(logout.text, '');
    assert.equal((await raw(e, 'GET', '/api/user/current', { session: id })).status, 401);
    assert.equal((await raw(e, 'DELETE', '/api/session', { session: id })).status, 404, 'a session already gone');
    assert.equal((await raw(e, 'DELETE', '/api/session', { key: c.apiKey })).status, 404, 'an API-key caller has no session');
  });

  test('wrong passwords are 401 without telling email from password; blank fields are 400', async () => {
    const c = credentialOf(e, 'Support');
    const wrong = await raw(e, 'POST', '/api/session', { body: { username: c.email, password: 'not-it' } });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json, { errors: { password: 'did not match stored password' } });
    const nobody = await raw(e, 'POST', '/api/session', { body: { username: 'nobody@example.test', password: 'x' } });
    assert.deepEqual(nobody.json, wrong.json);
    const blank = await raw(e, 'POST', '/api/session', { body: { username: ' ', password: 'x' } });
    assert.equal(blank.status, 400);
    assert.deepEqual(Object.keys(asRecord(blank.json)), ['errors', 'specific-errors']);
    assert.equal(asRecord(asRecord(blank.json)['errors'])['username'], 'value must be a non-blank string.');
    const missing = await raw(e, 'POST', '/api/session', { body: { username: c.email } });
    assert.equal(missing.status, 400);
    assert.ok(asRecord(asRecord(missing.json)['errors'])['password']);
  });

  test('repeated failures throttle the username, even for the right password, until the wait is over', async () => {
    const c = credentialOf(e, 'Sales');
    for (let i = 0; i < 3; i++) await raw(e, 'POST', '/api/session', { body: { username: c.email, password: 'wrong' } });
    const throttled = await raw(e, 'POST', '/api/session', { body: { username: c.email, password: c.password } });
    assert.equal(throttled.status, 401);
    assert.match(String(asRecord(asRecord(throttled.json)['errors'])['username']), /^Too many attempts! You must wait \d+ seconds before trying again\.$/);
    clock += 16_000;
    const ok = await raw(e, 'POST', '/api/session', { body: { username: c.email, password: c.password } });
    assert.equal(ok.status, 200);
  });

  test('sessions expire after the configured age, counted from login', async () => {
    const c = credentialOf(e, 'Agents');
    const login = await raw(e, 'POST', '/api/session', { body: { username: c.email, password: c.password } });
    const id = String(asRecord(login.json)['id']);
    clock += 59 * 60_000;
    assert.equal((await raw(e, 'GET', '/api/user/current', { session: id })).status, 200);
    clock += 2 * 60_000;
    const expired = await raw(e, 'GET', '/api/user/current', { session: id });
    assert.equal(expired.status, 401);
    assert.equal(expired.text, 'Unauthenticated');
  });

  test('/api/health needs no credential', async () => {
    const res = await raw(e, 'GET', '/api/health');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok' });
  });

  test('API keys: administrators create, regenerate and delete them; the old secret stops working at once', async () => {
    const admin = credentialOf(e, 'Administrators').apiKey;
    const created = await raw(e, 'POST', '/api/api-key', { key: admin, body: { name: 'Rotation test', group_id: 4 } });
    assert.equal(created.status, 200);
    const record = asRecord(created.json);
    const first = String(record['unmasked_key']);
    assert.equal(first.length, 47);
    assert.deepEqual(record['group'], { id: 4, name: 'Sales' });
    assert.match(String(record['masked_key']), /^mb_.{4}\*+$/);
    assert.deepEqual(asRecord((await raw(e, 'GET', '/api/user/current', { key: first })).json)['group_ids'], [1, 4]);

    const listed = await raw(e, 'GET', '/api/api-key', { key: admin });
    assert.ok((listed.json as Record<string, unknown>[]).every((k) => k['unmasked_key'] === undefined), 'lists never show a secret');

    const regenerated = await raw(e, 'PUT', `/api/api-key/${String(record['id'])}/regenerate`, { key: admin });
    const second = String(asRecord(regenerated.json)['unmasked_key']);
    assert.notEqual(second, first);
    assert.equal((await raw(e, 'GET', '/api/user/current', { key: first })).status, 401);
    assert.equal((await raw(e, 'GET', '/api/user/current', { key: second })).status, 200);

    const moved = await raw(e, 'PUT', `/api/api-key/${String(record['id'])}`, { key: admin, body: { group_id: 5 } });
    assert.equal(moved.status, 200);
    assert.deepEqual(asRecord((await raw(e, 'GET', '/api/user/current', { key: second })).json)['group_ids'], [1, 5]);

    assert.equal((await raw(e, 'DELETE', `/api/api-key/${String(record['id'])}`, { key: admin })).status, 204);
    assert.equal((await raw(e, 'GET', '/api/user/current', { key: second })).status, 401);
  });

  test('API-key management is for administrators only', async () => {
    const sales = credentialOf(e, 'Sales').apiKey;
    const res = await raw(e, 'POST', '/api/api-key', { key: sales, body: { name: 'x', group_id: 4 } });
    assert.equal(res.status, 403);
    assert.equal(res.text, "You don't have permissions to do that.");
    assert.equal((await raw(e, 'GET', '/api/api-key', { key: sales })).status, 403);
  });

  test('the revoke knob makes a key\'s next call 401', async () => {
    const support = credentialOf(e, 'Support').apiKey;
    const e2 = await emulator();
    try {
      const key = credentialOf(e2, 'Support').apiKey;
      assert.equal((await raw(e2, 'GET', '/api/user/current', { key })).status, 200);
      assert.equal(e2.revokeKey(key), true);
      assert.equal((await raw(e2, 'GET', '/api/user/current', { key })).status, 401);
      assert.equal(e2.revokeKey(key), false, 'a revoked key cannot be revoked twice');
      assert.notEqual(key, support, 'every emulator makes its own keys');
    } finally {
      await e2.close();
    }
  });
});
