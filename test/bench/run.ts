/**
 * `npm run bench [scenario]`: starts the demo stack, drives each side of a comparison from a separate
 * process, and prints operations per second, p50/p99 latency, the servers' peak memory and upstream
 * calls per operation, side by side in one run. Figures belong in closing notes, not in tests.
 *
 * Settings: BENCH_SECONDS (per round, default 10), BENCH_ROUNDS (per side, default 2), BENCH_WARMUP_SECONDS (default 3),
 * BENCH_CONNECTIONS (default 8).
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config/config.js';
import { startDemo, type DemoStack } from '../../src/demo.js';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLog, type AuditLog } from '../../src/audit/audit.js';
import { runGateBench } from './gate.js';
import type { LoadJob, LoadResult } from './load.js';

const run = promisify(execFile);

interface Side {
  readonly name: string;
  readonly job: (stack: DemoStack) => LoadJob;
  /** Called before the side is measured (e.g. to switch the audit trail on or off). */
  readonly setUp?: () => void;
}

/** The audit trail as the bench drives it: written to a file, switched on or off between sides. */
let auditOn = false;
const auditFile = join(tmpdir(), `gateway-bench-audit-${process.pid}.log`);
const fileAudit = createAuditLog({ file: auditFile, format: 'operation', redactVariables: [] });
const switchableAudit: AuditLog = {
  format: 'operation',
  get enabled() {
    return auditOn;
  },
  write: (trail, outcome) => {
    if (auditOn) fileAudit.write(trail, outcome);
  },
  redact: (v) => fileAudit.redact(v),
  close: () => fileAudit.close(),
};

const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);
/** Measured rounds per side (ABBA order); each round is BENCH_SECONDS long. */
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 2);
const warmUpSeconds = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 3);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 8);

const DASHBOARD_QUERY = '{ dashboard(id: 1) { name cards { question { name } run { rowCount rows } } } }';

const gatewayDashboard = (s: DemoStack): LoadJob => ({ mode: 'graphql', url: `${s.gatewayUrl}/graphql`, connections, durationSeconds: seconds,
  headers: { 'content-type': 'application/json', authorization: `Bearer ${s.tokens.analyst}` }, body: JSON.stringify({ query: DASHBOARD_QUERY }) });

const SCENARIOS: Record<string, { describe: string; sides: Side[] }> = {
  audit: {
    describe: 'the dashboard query (dashboard 1, 5 cards with their rows) with the audit trail on (a record per request, every resolved field, to a file) and off',
    sides: [
      { name: 'audit on', job: gatewayDashboard, setUp: () => (auditOn = true) },
      { name: 'audit off', job: gatewayDashboard, setUp: () => (auditOn = false) },
    ],
  },
  dashboard: {
    describe: 'dashboard 1 (5 question cards) with every card\'s rows: one GraphQL query vs. a hand-written REST client (1 dashboard call + 1 run per card)',
    sides: [
      {
        name: 'gateway (GraphQL)',
        job: gatewayDashboard,
      },
      {
        name: 'direct REST to Metabase',
        job: (s) => ({ mode: 'rest', url: s.emulator.url, connections, durationSeconds: seconds, dashboardId: 1,
          headers: { 'x-api-key': s.emulator.credentials.find((c) => c.group === 'Analysts')!.apiKey } }),
      },
    ],
  },
};

const load = async (job: LoadJob): Promise<LoadResult> => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', new URL('./load.ts', import.meta.url).pathname, JSON.stringify(job)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult;
};

/** Waits until the gateway has finished the operations a previous load left in flight. */
async function settle(stack: DemoStack): Promise<void> {
  let last = -1;
  while (stack.emulator.requests.inFlight > 0 || stack.emulator.requests.count() !== last) {
    last = stack.emulator.requests.count();
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Upstream calls of one operation, counted over a few whole operations (a timed run cuts the last ones). */
async function callsPerOperation(stack: DemoStack, side: Side): Promise<number> {
  await settle(stack);
  stack.emulator.requests.reset();
  const probe = await load({ ...side.job(stack), connections: 1, amount: 5 });
  return stack.emulator.requests.count() / probe.sent;
}

async function measure(stack: DemoStack, side: Side): Promise<LoadResult & { peakRssMb: number; upstreamPerOp: number }> {
  const upstreamPerOp = await callsPerOperation(stack, side);
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  try {
    await settle(stack);
    const result = await load(side.job(stack));
    return { ...result, peakRssMb: peak / 2 ** 20, upstreamPerOp };
  } finally {
    clearInterval(sampler);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One side's rounds as one row: throughput over all rounds, the median round's latencies. */
function combine(results: Awaited<ReturnType<typeof measure>>[]): Awaited<ReturnType<typeof measure>> {
  const operations = results.reduce((n, r) => n + r.operations, 0);
  return {
    operations, sent: results.reduce((n, r) => n + r.sent, 0), failures: results.reduce((n, r) => n + r.failures, 0),
    opsPerSecond: operations / (seconds * results.length),
    p50Ms: median(results.map((r) => r.p50Ms)), p99Ms: median(results.map((r) => r.p99Ms)),
    peakRssMb: Math.max(...results.map((r) => r.peakRssMb)), upstreamPerOp: median(results.map((r) => r.upstreamPerOp)),
  };
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? 'dashboard';
  if (name === 'gate') return runGateBench();
  const scenario = SCENARIOS[name];
  if (!scenario) throw new TypeError(`unknown scenario "${name}"; known: ${[...Object.keys(SCENARIOS), 'gate'].join(', ')}`);
  const stack = await startDemo(loadConfig({ PORT: '0' }), { audit: switchableAudit, policyFile: fileURLToPath(new URL('./policy.yaml', import.meta.url)) });
  try {
    console.log(`scenario ${name}: ${scenario.describe}`);
    console.log(`${rounds} rounds of ${seconds} s per side in ABBA order after ${warmUpSeconds} s warm-up each, ${connections} connections, load from a separate process\n`);
    // Sides alternate in ABBA rounds after a warm-up of each, so drift on this noisy machine (JIT
    // warming, caches, neighbours) falls on both sides alike rather than on whichever runs second.
    for (const side of scenario.sides) {
      side.setUp?.();
      await load({ ...side.job(stack), durationSeconds: warmUpSeconds });
    }
    const runs = new Map<Side, Awaited<ReturnType<typeof measure>>[]>(scenario.sides.map((side) => [side, []]));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? scenario.sides : [...scenario.sides].reverse();
      for (const side of order) {
        side.setUp?.();
        runs.get(side)!.push(await measure(stack, side));
      }
    }
    const rows: [string, Awaited<ReturnType<typeof measure>>][] = scenario.sides.map((side) => [side.name, combine(runs.get(side)!)]);
    const header = ['side', 'ops/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'upstream calls/op', 'ops', 'failures'];
    console.log(header.join(' | '));
    for (const [side, r] of rows) {
      console.log([side, r.opsPerSecond.toFixed(1), r.p50Ms.toFixed(1), r.p99Ms.toFixed(1), r.peakRssMb.toFixed(0), r.upstreamPerOp.toFixed(2), r.operations, r.failures].join(' | '));
    }
    const failed = rows.filter(([, r]) => r.failures > 0);
    if (failed.length) console.log(`\nWARNING: ${failed.map(([side, r]) => `${side} had ${r.failures} failed operations`).join('; ')}: its figures are not comparable.`);
    const [a, b] = rows.map(([, r]) => r);
    if (a && b) {
      console.log(`\nratio ${rows[0]![0]} / ${rows[1]![0]}: throughput ${(a.opsPerSecond / b.opsPerSecond).toFixed(2)}x, p50 ${(a.p50Ms / b.p50Ms).toFixed(2)}x, p99 ${(a.p99Ms / b.p99Ms).toFixed(2)}x`);
    }
  } finally {
    await stack.close();
    await switchableAudit.close();
    await rm(auditFile, { force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
