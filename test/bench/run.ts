/**
 * `npm run bench [scenario]`: starts the demo stack, drives each side of a comparison from a separate
 * process, and prints operations per second, p50/p99 latency, the servers' peak memory and upstream
 * calls per operation, side by side in one run. Figures belong in closing notes, not in tests.
 *
 * Settings: BENCH_SECONDS (per side, default 10), BENCH_CONNECTIONS (default 8).
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config/config.js';
import { startDemo, type DemoStack } from '../../src/demo.js';
import type { LoadJob, LoadResult } from './load.js';

const run = promisify(execFile);

interface Side {
  readonly name: string;
  readonly job: (stack: DemoStack) => LoadJob;
}

const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 8);

const DASHBOARD_QUERY = '{ dashboard(id: 1) { name cards { question { name } run { rowCount rows } } } }';

const SCENARIOS: Record<string, { describe: string; sides: Side[] }> = {
  dashboard: {
    describe: 'dashboard 1 (5 question cards) with every card\'s rows: one GraphQL query vs. a hand-written REST client (1 dashboard call + 1 run per card)',
    sides: [
      {
        name: 'gateway (GraphQL)',
        job: (s) => ({ mode: 'graphql', url: `${s.gatewayUrl}/graphql`, connections, durationSeconds: seconds,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${s.tokens.sales}` }, body: JSON.stringify({ query: DASHBOARD_QUERY }) }),
      },
      {
        name: 'direct REST to Metabase',
        job: (s) => ({ mode: 'rest', url: s.emulator.url, connections, durationSeconds: seconds, dashboardId: 1,
          headers: { 'x-api-key': s.emulator.credentials.find((c) => c.group === 'Sales')!.apiKey } }),
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

async function main(): Promise<void> {
  const name = process.argv[2] ?? 'dashboard';
  const scenario = SCENARIOS[name];
  if (!scenario) throw new TypeError(`unknown scenario "${name}"; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const stack = await startDemo(loadConfig({ PORT: '0' }));
  try {
    console.log(`scenario ${name}: ${scenario.describe}`);
    console.log(`${seconds} s per side, ${connections} connections, load from a separate process\n`);
    const rows: [string, Awaited<ReturnType<typeof measure>>][] = [];
    for (const side of scenario.sides) {
      await load({ ...side.job(stack), durationSeconds: 1 }); // warm-up
      rows.push([side.name, await measure(stack, side)]);
    }
    const header = ['side', 'ops/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'upstream calls/op', 'ops', 'failures'];
    console.log(header.join(' | '));
    for (const [side, r] of rows) {
      console.log([side, r.opsPerSecond.toFixed(1), r.p50Ms.toFixed(1), r.p99Ms.toFixed(1), r.peakRssMb.toFixed(0), r.upstreamPerOp.toFixed(2), r.operations, r.failures].join(' | '));
    }
    const [a, b] = rows.map(([, r]) => r);
    if (a && b) {
      console.log(`\nratio ${rows[0]![0]} / ${rows[1]![0]}: throughput ${(a.opsPerSecond / b.opsPerSecond).toFixed(2)}x, p50 ${(a.p50Ms / b.p50Ms).toFixed(2)}x, p99 ${(a.p99Ms / b.p99Ms).toFixed(2)}x`);
    }
  } finally {
    await stack.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
