/**
 * SIGTERM while requests outlast the grace period: the production process stops what still runs
 * (its Metabase calls are cancelled), answers or cuts every request, writes a record for each, and
 * exits within the grace period plus a small bound, however long Metabase would have taken.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { emulator, type Emulator } from '../../helpers/emulator.js';
import { startIdp, type Idp } from '../../helpers/idp.js';
import { startProduction, type Production } from '../../helpers/production.js';

const GRACE_MS = 1_000;
/** The drain's own bound past the grace period (server/drain.ts) plus the process's exit. */
const BOUND_MS = 3_000;

let mb: Emulator;
let idp: Idp;
let gw: Production;

before(async () => {
  mb = await emulator();
  idp = await startIdp();
});
after(async () => {
  await gw?.close();
  await idp.close();
  await mb.close();
});

test('SIGTERM during runs longer than the grace period: exit within the bound, every request recorded, every Metabase call cancelled', async (t) => {
  gw = await startProduction({ emulator: mb, idp, env: { DRAIN_GRACE_MS: String(GRACE_MS), METABASE_MAX_CONCURRENT: '8' }, auditFile: true });
  const token = await idp.userToken('ana', { groups: ['analysts'] });
  mb.requests.reset();
  mb.knobs.runLatencyMs = 60_000;
  try {
    const answers = Array.from({ length: 12 }, (_, i) => gw.post(
      { query: `{ question(id: 2) { run(parameters: [{ slug: "category", value: "c${i}" }]) { rowCount } } }` }, token,
    ).then((r) => r.status, () => 'cut' as const));
    // Eight runs are held by Metabase (the per-credential cap, METABASE_MAX_CONCURRENT) and four wait
    // for a slot in the gateway, before the signal.
    await mb.requests.until(() => mb.requests.delayed === 8, 15_000);
    const started = performance.now();
    const exit = await gw.entry.stop('SIGTERM');
    const tookMs = performance.now() - started;
    assert.deepEqual(exit, { code: 0, signal: null }, gw.entry.output().slice(-800));
    assert.ok(tookMs < GRACE_MS + BOUND_MS, `exited ${Math.round(tookMs)} ms after SIGTERM (grace ${GRACE_MS} ms)`);
    t.diagnostic(`exited ${Math.round(tookMs)} ms after SIGTERM, with a grace period of ${GRACE_MS} ms`);
    const statuses = await Promise.all(answers);
    await mb.requests.until(() => mb.requests.inFlight === 0);
    assert.equal(mb.requests.aborted, 8, 'every held Metabase call was cancelled, none left to run');
    assert.equal(mb.requests.count('POST /api/card/:card-id/query'), 8, 'the runs still waiting for a slot were never sent');

    const records = (await readFile(join(gw.dir, 'audit.log'), 'utf8')).split('\n').filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; status: number; cut?: string; runs: unknown[]; metabase: { method: string; status: number }[] })
      .filter((r) => r.event === 'graphql.request');
    assert.equal(records.length, 12, `a record for each request (answers: ${statuses.join(', ')})`);
    for (const r of records) {
      assert.equal(r.cut, 'shutdown');
      assert.ok(r.status === 200 || r.status === 499, `answered with the shutdown error or cut: ${r.status}`);
      const runCalls = r.metabase.filter((c) => c.method === 'POST');
      assert.ok(runCalls.every((c) => c.status === 0), `a run call, if it was sent, was cut: ${JSON.stringify(r.metabase)}`);
    }
    assert.equal(records.filter((r) => r.metabase.some((c) => c.method === 'POST')).length, 8, 'eight records hold the run call that was cut');
  } finally {
    mb.knobs.runLatencyMs = 0;
  }
});
