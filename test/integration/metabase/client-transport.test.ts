/**
 * The Metabase client's credentials and transport against the emulator: sessions made once and
 * renewed once, revoked keys, timeouts, cut streams, upstream failures, the concurrency cap and
 * connection reuse. Counts come from the emulator's own request counter.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { MetabaseClient, createMetabasePool } from '../../../src/metabase/client.js';
import type { CallScope } from '../../../src/metabase/call-scope.js';
import { apiKeyCredential, loginCredential } from '../../../src/metabase/credentials.js';
import { credentialOf, emulator, raw, type Emulator } from '../../helpers/emulator.js';
import { keyClient, loginClient, rejectsWith } from '../../helpers/metabase.js';

describe('Metabase client: credentials and transport', () => {
  let e: Emulator;
  let clock = Date.parse('2026-06-01T00:00:00Z');
  before(async () => {
    e = await emulator({ now: () => clock, sessionAgeMinutes: 60 });
  });
  after(() => e.close());

  test('a login session is made once and reused by concurrent calls', async () => {
    const client = loginClient(e, 'Analysts');
    e.requests.reset();
    const results = await Promise.all([client.currentUser(), client.getCard(2), client.listCards(), client.currentUser()]);
    assert.equal(results[0].email, credentialOf(e, 'Analysts').email);
    assert.equal(e.requests.count('POST /api/session'), 1);
    await client.getDashboard(3);
    assert.equal(e.requests.count('POST /api/session'), 1);
    await client.close();
    assert.equal(e.requests.count('DELETE /api/session'), 1, 'closing logs out');
  });

  test('an expired session is renewed once, then the call goes through', async () => {
    const client = loginClient(e, 'Sales');
    await client.currentUser();
    e.requests.reset();
    clock += 61 * 60_000;
    assert.equal((await client.getCard(2)).id, 2);
    assert.equal(e.requests.count('GET /api/card/:id'), 2, 'the first try got 401');
    assert.equal(e.requests.count('POST /api/session'), 1);
    await client.close();
  });

  test('a wrong password is UPSTREAM_AUTH, and the password appears nowhere', async () => {
    const client = new MetabaseClient({ baseUrl: e.url, credential: loginCredential(credentialOf(e, 'Support').email, 'hunter2-wrong') });
    const err = await rejectsWith(client.currentUser(), 'UPSTREAM_AUTH');
    assert.ok(!JSON.stringify(err).includes('hunter2'));
    assert.ok(!err.message.includes('hunter2'));
    // A failed login is not cached: the next call tries again.
    e.requests.reset();
    await rejectsWith(client.currentUser(), 'UPSTREAM_AUTH');
    assert.equal(e.requests.count('POST /api/session'), 1);
    await client.close();
  });

  test('a revoked API key is UPSTREAM_AUTH on its next call; the key never shows in errors or logs', async () => {
    const key = credentialOf(e, 'Agents').apiKey;
    const client = new MetabaseClient({ baseUrl: e.url, credential: apiKeyCredential(key) });
    await client.currentUser();
    e.revokeKey(key);
    const err = await rejectsWith(client.currentUser(), 'UPSTREAM_AUTH');
    for (const text of [err.message, JSON.stringify(err), inspect(err, { depth: 5 }), inspect(client, { depth: 5 }), JSON.stringify(apiKeyCredential(key))]) {
      assert.ok(!text.includes(key.slice(3)), 'the secret part of the key is not shown');
    }
    await client.close();
  });

  test('a login client never shows its password or session id when inspected', async () => {
    const c = credentialOf(e, 'Analysts');
    const client = loginClient(e, 'Analysts');
    await client.currentUser();
    const login = await raw(e, 'POST', '/api/session', { body: { username: c.email, password: c.password } });
    const printed = inspect(client, { depth: 6, showHidden: true }) + JSON.stringify(client);
    assert.ok(!printed.includes(c.password), 'no password');
    assert.ok(!/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.test(printed), 'no session id');
    assert.equal(login.status, 200);
    await client.close();
  });

  test('a call queued behind the concurrency cap still times out on time', async () => {
    const client = keyClient(e, 'Analysts', { maxConcurrent: 1, timeoutMs: 400 });
    e.knobs.latencyMs = 300;
    try {
      const t0 = performance.now();
      const results = await Promise.allSettled([client.getCard(2), client.getCard(3), client.getCard(4)]);
      const elapsed = performance.now() - t0;
      assert.equal(results[0].status, 'fulfilled');
      assert.ok(results.slice(1).some((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'UPSTREAM_TIMEOUT'));
      assert.ok(elapsed < 900, `queued calls gave up at their deadline (${Math.round(elapsed)} ms)`);
    } finally {
      e.knobs.latencyMs = 0;
      await client.close();
    }
  });

  test('credential checks happen at construction', () => {
    assert.throws(() => apiKeyCredential('not-a-key'), TypeError);
    assert.throws(() => loginCredential(' ', 'x'), TypeError);
    assert.throws(() => new MetabaseClient({ baseUrl: 'ftp://x', credential: apiKeyCredential(`mb_${'a'.repeat(44)}`) }), TypeError);
    assert.throws(() => new MetabaseClient({ baseUrl: e.url, credential: apiKeyCredential(`mb_${'a'.repeat(44)}`), timeoutMs: Number.NaN }), TypeError);
  });

  test('a slow Metabase is UPSTREAM_TIMEOUT', async () => {
    const client = keyClient(e, 'Analysts', { timeoutMs: 100 });
    e.knobs.latencyMs = 400;
    try {
      await rejectsWith(client.getCard(2), 'UPSTREAM_TIMEOUT', { message: /within 100 ms/ });
    } finally {
      e.knobs.latencyMs = 0;
      await client.close();
    }
  });

  test('a failing Metabase is UPSTREAM_UNAVAILABLE with a fixed message; what Metabase said is the log-only detail', async () => {
    const client = keyClient(e, 'Analysts');
    e.knobs.failureRate = 1;
    try {
      const err = await rejectsWith(client.getCard(2), 'UPSTREAM_UNAVAILABLE', { message: /^Metabase failed to answer\.$/, detail: /GET \/api\/card\/2 answered 500: / });
      assert.equal(err.extensions['upstreamStatus'], 500);
      assert.equal(err.extensions['reason'], 'upstream-error');
    } finally {
      e.knobs.failureRate = 0;
      await client.close();
    }
  });

  test('a run cut mid-stream is UPSTREAM_UNAVAILABLE, never a partial result', async () => {
    const client = keyClient(e, 'Analysts');
    e.knobs.abortMidStream = true;
    try {
      await rejectsWith(client.runCard(7), 'UPSTREAM_UNAVAILABLE', { message: /cut its answer short/ });
    } finally {
      e.knobs.abortMidStream = false;
    }
    assert.equal((await client.runCard(7)).rowCount, 200, 'the next run is whole');
    await client.close();
  });

  test('nothing listening is UPSTREAM_UNAVAILABLE', async () => {
    const gone = await emulator();
    const url = gone.url;
    await gone.close();
    const client = new MetabaseClient({ baseUrl: url, credential: apiKeyCredential(`mb_${'b'.repeat(44)}`), timeoutMs: 2000 });
    await rejectsWith(client.health(), 'UPSTREAM_UNAVAILABLE', { message: /could not be reached/ });
    await client.close();
  });

  test('a caller\'s abort signal cancels the call', async () => {
    const client = keyClient(e, 'Analysts');
    e.knobs.latencyMs = 300;
    try {
      const controller = new AbortController();
      const pending = client.getCard(2, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await rejectsWith(pending, 'UPSTREAM_UNAVAILABLE', { message: /cancelled/ });
    } finally {
      e.knobs.latencyMs = 0;
      await client.close();
    }
  });

  test('the concurrency cap holds per credential, as Metabase sees it', async () => {
    const client = keyClient(e, 'Analysts', { maxConcurrent: 2 });
    e.knobs.latencyMs = 60;
    e.requests.reset();
    try {
      const cards = await Promise.all([2, 3, 4, 5, 6, 7, 8, 14].map((id) => client.getCard(id)));
      assert.equal(cards.length, 8);
      assert.equal(e.requests.count('GET /api/card/:id'), 8);
      assert.equal(e.requests.peakInFlight, 2, 'never more than two at once upstream');
    } finally {
      e.knobs.latencyMs = 0;
      await client.close();
    }
  });

  test('the cap is shared fairly: a second viewer is served while a first holds a long queue', async () => {
    const client = keyClient(e, 'Analysts', { maxConcurrent: 2 });
    const scopeOf = (subject: string): CallScope => ({
      requestId: `request-of-${subject}`, subject, signal: new AbortController().signal,
      spend: () => undefined, spendBytes: () => undefined, begin: () => undefined, end: () => undefined, record: () => undefined,
    });
    e.knobs.latencyMs = 40;
    e.requests.reset();
    try {
      // The first viewer asks for twelve cards at once: two go out, ten wait. Then the second asks for one.
      const first = Promise.all(Array.from({ length: 12 }, () => client.getCard(2, { scope: scopeOf('first') })));
      const second = client.getCard(3, { scope: scopeOf('second') });
      await Promise.all([first, second]);
      const order = e.requests.log.filter((l) => l.route === 'GET /api/card/:id').map((l) => l.gatewayUser);
      assert.equal(order.length, 13);
      const at = order.indexOf('second');
      // In turn: the next free slot is the second viewer's (a FIFO queue would put it last, at 12).
      assert.ok(at >= 2 && at <= 3, `the second viewer's call was sent ${at + 1}th: ${order.join(', ')}`);
      assert.equal(e.requests.peakInFlight, 2);
    } finally {
      e.knobs.latencyMs = 0;
      await client.close();
    }
  });

  test('the credential\'s cap, not the shared pool, bounds its calls at once', async () => {
    const pool = createMetabasePool();
    const client = keyClient(e, 'Analysts', { maxConcurrent: 40, dispatcher: pool });
    e.knobs.latencyMs = 100;
    e.requests.reset();
    try {
      await Promise.all(Array.from({ length: 40 }, () => client.getCard(2)));
      assert.equal(e.requests.peakInFlight, 40, 'all forty in flight at once (a pool of 32 connections held eight back)');
    } finally {
      e.knobs.latencyMs = 0;
      await client.close();
      await pool.close();
    }
  });

  test('connections are kept alive and shared between the clients of a pool', async () => {
    const pool = createMetabasePool();
    const a = keyClient(e, 'Analysts', { dispatcher: pool });
    const b = keyClient(e, 'Sales', { dispatcher: pool });
    e.requests.reset();
    for (let i = 0; i < 20; i++) await (i % 2 ? a : b).getCard(2);
    assert.equal(e.requests.count('GET /api/card/:id'), 20);
    // undici may open a second socket while the first is being released; never one per call.
    assert.ok(e.requests.connections <= 2, `twenty sequential calls used ${e.requests.connections} connections`);
    await a.close();
    await b.close();
    await pool.close();
  });
});
