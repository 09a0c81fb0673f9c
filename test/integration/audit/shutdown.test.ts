/**
 * Nothing lost: the real entry point writes its audit trail to a file under concurrent load, receives
 * SIGTERM mid-load, drains, flushes and exits; the file then holds exactly one record per operation
 * the gateway answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEntryPoint } from '../../helpers/entry.js';

test('under concurrent load, then SIGTERM: one audit record in the file per operation served', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-audit-'));
  const file = join(dir, 'audit', 'gateway.log');
  const gateway = await startEntryPoint({ AUDIT_LOG_FILE: file, LOG_LEVEL: 'warn', DRAIN_GRACE_MS: '10000' });
  try {
    const url = gateway.url;
    const tokens = ['analyst', 'sales', 'support'].map((u) => gateway.token(u));
    const queries = ['{ viewer { role } questions(first: 5) { nodes { id name } } }', '{ dashboard(id: 1) { name cards { run { rowCount } } } }', '{ databases { id tables { name } } }'];

    let served = 0;
    let refused = 0;
    let stopSent = false;
    let stopped: ReturnType<typeof gateway.stop> | undefined;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; ; i++) {
        try {
          const res = await fetch(url, {
            method: 'POST', signal: AbortSignal.timeout(15_000),
            headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[(w + i) % 3]}` },
            body: JSON.stringify({ query: queries[(w + i) % 3] }),
          });
          const body = (await res.json()) as { data?: unknown };
          if (res.status === 200 && body.data) served += 1;
          else refused += 1;
          if (res.status !== 200 && stopSent) return;
        } catch {
          if (stopSent) return; // the listener is closed: the drain has begun
          throw new Error('a request failed before shutdown');
        }
        if (served >= 60 && !stopSent) {
          stopSent = true;
          stopped = gateway.stop();
        }
        if (stopSent && i > 1000) return;
      }
    };
    await Promise.all(Array.from({ length: 12 }, (_, w) => worker(w)));
    assert.deepEqual(await stopped, { code: 0, signal: null });

    const records = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; status: number });
    const answered = records.filter((r) => r.event === 'graphql.request' && r.status === 200);
    assert.ok(served >= 60, `load ran (${served} served, ${refused} refused)`);
    assert.equal(answered.length, served, `records for every operation served (${served} served, ${refused} refused during shutdown)`);
    assert.equal(records.length, records.filter((r) => r.event === 'graphql.request').length, 'every line is a whole record');
  } finally {
    gateway.kill();
    await rm(dir, { recursive: true, force: true });
  }
});
