/**
 * `npm run bench` end to end for one short round: Metabase, the gateway and the bare Apollo Server
 * start in their own processes, one load generator drives every side, and the table holds each
 * side's figures. The figures themselves are not judged here (this machine is noisy); that every
 * side ran, without failures and with the upstream calls a dashboard takes, is. The `cached`
 * scenario's warm gateway takes none: its warm-up filled the cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('the dashboard scenario runs end to end: every side measured, no failures, 6 upstream calls per operation', async (t) => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/bench/run.ts', 'dashboard'], {
    env: { ...process.env, BENCH_SECONDS: '1', BENCH_ROUNDS: '1', BENCH_WARMUP_SECONDS: '0', BENCH_CONNECTIONS: '2' },
    timeout: 120_000, maxBuffer: 1 << 20,
  });
  t.diagnostic(stdout);
  const rows = stdout.split('\n').filter((l) => / \| 2 \| /.test(l)).map((l) => l.split(' | '));
  assert.deepEqual(rows.map((r) => r[0]), ['gateway', 'direct REST', 'bare Apollo'], stdout);
  for (const r of rows) {
    const [side, , opsPerSecond, p50, , cpu, peakRss, , upstreamPerOp, , , failures] = r;
    assert.ok(Number(opsPerSecond) > 0 && Number(p50) > 0, `${side} was measured`);
    assert.equal(upstreamPerOp, '6.00', `${side}: the dashboard and its five runs`);
    assert.equal(failures, '0', `${side} had no failed operation`);
    if (side === 'direct REST') assert.equal(cpu, '-', 'no server of ours on the direct side');
    else assert.ok(Number(cpu) > 0 && Number(peakRss) > 50, `${side}: its own process's CPU per operation and memory`);
  }
  assert.match(stdout, /2 conns, gateway \/ direct REST: throughput \d+\.\d\dx, p50 \d+\.\d\dx/);
  assert.match(stdout, /2 conns, gateway \/ bare Apollo: throughput \d+\.\d\dx/);
});

test('the cached scenario runs end to end: the warm gateway answers from its cache (no upstream call), the gateway without one makes 6', async (t) => {
  // No warm-up asked for: the warm side warms itself (at least 1 s) whatever BENCH_WARMUP_SECONDS says.
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/bench/run.ts', 'cached'], {
    env: { ...process.env, BENCH_SECONDS: '1', BENCH_ROUNDS: '1', BENCH_WARMUP_SECONDS: '0', BENCH_CONNECTIONS: '2' },
    timeout: 120_000, maxBuffer: 1 << 20,
  });
  t.diagnostic(stdout);
  const rows = stdout.split('\n').filter((l) => / \| 2 \| /.test(l)).map((l) => l.split(' | '));
  assert.deepEqual(rows.map((r) => r[0]), ['gateway, warm cache', 'gateway, no cache', 'direct REST'], stdout);
  const expected: Record<string, { upstreamPerOp: string; perThousand: string }> = {
    'gateway, warm cache': { upstreamPerOp: '0.00', perThousand: '0.00' },
    'gateway, no cache': { upstreamPerOp: '6.00', perThousand: '6000.00' },
    'direct REST': { upstreamPerOp: '6.00', perThousand: '6000.00' },
  };
  for (const r of rows) {
    const [side, , opsPerSecond, p50, , cpu, , , upstreamPerOp, , , failures, perThousand] = r;
    assert.ok(Number(opsPerSecond) > 0 && Number(p50) > 0, `${side} was measured`);
    assert.equal(failures, '0', `${side} had no failed operation`);
    assert.equal(upstreamPerOp, expected[side!]!.upstreamPerOp, `${side}: upstream calls per operation`);
    assert.equal(perThousand, expected[side!]!.perThousand, `${side}: upstream calls per 1,000 requests`);
    if (side === 'direct REST') assert.equal(cpu, '-', 'no server of ours on the direct side');
    else assert.ok(Number(cpu) > 0, `${side}: its own process's CPU per operation`);
  }
  assert.match(stdout, /2 conns, gateway, warm cache \/ direct REST: throughput \d+\.\d\dx, p50 \d+\.\d\dx/);
  assert.match(stdout, /2 conns, gateway, warm cache \/ gateway, no cache: throughput \d+\.\d\dx/);
  assert.match(stdout, /2 conns, goal: gateway, warm cache throughput >= 5x direct REST's: (met|NOT met) \(\d+\.\d\dx\)/);
  assert.match(stdout, /2 conns, goal: gateway, warm cache p50 below direct REST's: (met|NOT met) /);
});
