/**
 * Run latency (`knobs.runLatencyMs`) and the request counter's `aborted`, `delayed` and `until`, which tests
 * wait on instead of sleeping.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { asRecord, credentialOf, emulator, raw, type Emulator } from '../../helpers/emulator.js';

describe('emulator run latency and request counters', () => {
  let e: Emulator;
  let key: string;
  before(async () => {
    e = await emulator();
    key = credentialOf(e, 'Analysts').apiKey;
  });
  after(() => e.close());

  /** Starts a POST whose client can be made to go away; resolves with the status if an answer comes first. */
  function startPost(path: string, body: unknown): { answered: Promise<number | 'gone'>; leave: () => void } {
    const req = httpRequest(`${e.url}${path}`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, agent: false });
    const answered = new Promise<number | 'gone'>((resolve) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', () => resolve('gone'));
    });
    req.end(JSON.stringify(body));
    return { answered, leave: () => req.destroy() };
  }

  const RUNS: [string, string, unknown][] = [
    ['POST /api/card/:card-id/query', '/api/card/2/query', {}],
    ['POST /api/dashboard/:dashboard-id/dashcard/:dashcard-id/card/:card-id/query', '/api/dashboard/1/dashcard/22/card/2/query', {}],
    ['POST /api/dataset', '/api/dataset', { database: 1, type: 'native', native: { query: 'SELECT 1' } }],
  ];

  test('runLatencyMs holds the three run routes, not other calls; a client going away ends the wait at once, with nothing written', async () => {
    assert.equal(e.knobs.runLatencyMs, 0);
    e.knobs.runLatencyMs = 120_000;
    try {
      const card = await raw(e, 'GET', '/api/card/2', { key });
      assert.equal(card.status, 200, 'reads are not held');
      for (const [route, path, body] of RUNS) {
        e.requests.reset();
        const run = startPost(path, body);
        await e.requests.until(() => e.requests.delayed === 1 && e.requests.count(route) === 1);
        const logged = e.requests.log.at(-1)!;
        assert.equal(logged.route, route);
        run.leave();
        // Were the wait not cancelled, `delayed` would stay 1 for two minutes and this would time out.
        await e.requests.until(() => e.requests.aborted === 1 && e.requests.delayed === 0 && e.requests.inFlight === 0, 5_000);
        assert.equal(await run.answered, 'gone');
        assert.equal(logged.aborted, true);
        assert.equal(logged.status, undefined, 'nothing was answered');
      }
    } finally {
      e.knobs.runLatencyMs = 0;
    }
  });

  test('runLatencyMs is added on top of latencyMs', async () => {
    e.knobs.runLatencyMs = 200;
    e.knobs.latencyMs = 100;
    try {
      const t0 = performance.now();
      const res = await raw(e, 'POST', '/api/card/2/query', { key, body: {} });
      const took = performance.now() - t0;
      assert.equal(res.status, 202);
      assert.equal(asRecord(res.json)['status'], 'completed');
      assert.ok(took >= 290, `took ${took.toFixed(0)} ms`);
    } finally {
      e.knobs.runLatencyMs = 0;
      e.knobs.latencyMs = 0;
    }
  });

  test('a client leaving during latencyMs is aborted too; whole answers and cuts the emulator makes are not', async () => {
    e.requests.reset();
    await raw(e, 'GET', '/api/card/2', { key });
    await raw(e, 'POST', '/api/card/2/query', { key, body: {} });
    assert.equal(e.requests.aborted, 0);
    assert.ok(e.requests.log.every((l) => l.aborted === undefined));

    e.knobs.abortMidStream = true;
    try {
      const cut = startPost('/api/card/7/query', {});
      assert.equal(await cut.answered, 202, 'the status line went out before the cut');
      await e.requests.until(() => e.requests.inFlight === 0);
      assert.equal(e.requests.aborted, 0, 'the emulator cut it, the client did not leave');
    } finally {
      e.knobs.abortMidStream = false;
    }

    e.knobs.latencyMs = 120_000;
    try {
      const held = startPost('/api/dataset', RUNS[2]![2]);
      await e.requests.until(() => e.requests.delayed === 1);
      held.leave();
      await e.requests.until(() => e.requests.aborted === 1 && e.requests.delayed === 0, 5_000);
      assert.equal(e.requests.log.at(-1)!.aborted, true);
    } finally {
      e.knobs.latencyMs = 0;
    }
    e.requests.reset();
    assert.equal(e.requests.aborted, 0, 'reset() clears it');
  });

  test('until: resolves at once or on a request, checks only on events, and rejects clearly after its timeout', async () => {
    e.requests.reset();
    await e.requests.until(() => e.requests.count() === 0);
    let checks = 0;
    await assert.rejects(e.requests.until(() => {
      checks++;
      return false;
    }, 50), (err: Error) => {
      assert.match(err.message, /^requests\.until: `.*checks\+\+.*` did not hold within 50 ms \(in flight 0, delayed 0, aborted 0, requests 0\)$/);
      return true;
    });
    assert.equal(checks, 1, 'checked once when called, then only when a request starts or ends: no polling');

    const seen = e.requests.until(() => e.requests.count('GET /api/card/:id') === 2);
    await raw(e, 'GET', '/api/card/2', { key });
    await raw(e, 'GET', '/api/card/3', { key });
    await seen;

    await assert.rejects(e.requests.until(() => {
      throw new TypeError('bad predicate');
    }), /bad predicate/);
  });
});
