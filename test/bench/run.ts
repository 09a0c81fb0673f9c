/**
 * `npm run bench [scenario]`: starts Metabase (the emulator), the gateway and a bare Apollo Server
 * over the same schema each in its own process, drives every side with one load generator from
 * another process, and prints, side by side in one run: operations per second, p50/p99 latency, the
 * measured server's CPU ms per operation and peak RSS, and upstream calls per operation. Sides
 * alternate in ABBA rounds after a warm-up of each. Figures belong in closing notes, not in tests.
 *
 * Settings: BENCH_SECONDS (per round, 10), BENCH_ROUNDS (per side, 2), BENCH_WARMUP_SECONDS (3),
 * BENCH_CONNECTIONS (a list, "1,8,32"), BENCH_METABASE_LATENCY_MS (added to every Metabase call, 20),
 * BENCH_METABASE_RUN_LATENCY_MS (a query run's whole added time, 50; the SQL's own time comes on top),
 * BENCH_PROFILE_DIR (when set, a CPU profile of the measured server's process over each measured
 * round, e.g. gateway-8c-r1.cpuprofile, for Chrome DevTools or `node --cpu-prof`'s readers). The
 * gateway reads its own settings from the environment as always, but for its cache: the gateway
 * process of every scenario runs with CACHE=off (every dashboard and run from Metabase, as the
 * gateway was measured before it had a cache), and only the `cached` scenario starts a second one
 * with CACHE=on.
 *
 * Scenarios with servers:
 *   dashboard  (the default) the dashboard query through the gateway (CACHE=off), the same query on a
 *              bare Apollo Server, and a hand-written REST client calling Metabase directly.
 *   cached     the same dashboard query through a gateway with a warm result cache (CACHE=on, the
 *              analyst's `resultCache` in test/bench/policy.yaml; filled by the warm-up, which runs
 *              for at least 1 s even with BENCH_WARMUP_SECONDS=0, so every measured run and the
 *              dashboard itself come from the cache), through the gateway with CACHE=off, and by the
 *              direct REST client. Adds upstream calls per 1,000 requests (over every round), the warm
 *              side's ratios to the other two, and whether the warm side meets the goal at each
 *              connection count: at least 5x the direct client's throughput, and a lower p50.
 *   audit      the dashboard query with the audit trail on and off (8 connections).
 *   memory     the gateway's peak RSS round by round: the dashboard by 50 connections, a 2,000-row run by 32.
 *   mcp        what /mcp costs over /graphql: the vetted AgentRunQuestion (question 16, first 20) as the demo's
 *              agent (policy.yaml's agent role: vettedOnly, resultCache), sent by id to /graphql, and as an
 *              MCP `tools/call` to /mcp (stateless: one POST, no initialize), which runs the same operation
 *              through /graphql in process. Both on the gateway with CACHE=on, warmed for at least 1 s, so
 *              every measured run comes from the gateway's cache and the difference is the MCP layer's, not
 *              Metabase's. Every answer must be a 200 without errors (on /mcp: a `result` with
 *              `structuredContent`, not `isError`). Adds the CPU and latency MCP adds per operation.
 *   grant      what reaching an object through a grant of just-in-time access costs: dashboard 2's metadata
 *              by the analyst (its own role reads it) and by the sales user through a grant the analyst
 *              approved (policy.yaml's grantable entry; the set-up asks and approves). CACHE=off.
 *
 * Two scenarios start no servers and run in this process: `gate` (the operation gate's CPU per
 * request, test/bench/gate.ts) and `codec` (a stored 2,000-row run as JSON against MessagePack,
 * test/bench/codec.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCodecBench } from './codec.js';
import { runGateBench } from './gate.js';
import type { LoadJob, LoadResult } from './load.js';
import type { Command, MetabaseLatency, ProcessStats, Ready, ServerStart } from './servers.js';

const exec = promisify(execFile);

function setting(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n) || n < min) throw new TypeError(`${name} must be a number of at least ${min}, received "${raw}"`);
  return n;
}

const seconds = setting('BENCH_SECONDS', 10, 0.1);
const rounds = setting('BENCH_ROUNDS', 2, 1);
const warmUpSeconds = setting('BENCH_WARMUP_SECONDS', 3);
const latency: MetabaseLatency = { metadataMs: setting('BENCH_METABASE_LATENCY_MS', 20), runMs: setting('BENCH_METABASE_RUN_LATENCY_MS', 50) };
const connectionCounts = (fallback: string): number[] => (process.env['BENCH_CONNECTIONS'] ?? fallback).split(',').map((c) => {
  const n = Number(c.trim());
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new TypeError(`BENCH_CONNECTIONS must list whole numbers from 1 to 500, received "${process.env['BENCH_CONNECTIONS']}"`);
  return n;
});

/** A server in its own process, spoken to over IPC. */
class Server {
  private constructor(private readonly child: ChildProcess, readonly ready: Ready) {}

  static async start(start: ServerStart): Promise<Server> {
    const child = fork(new URL('./servers.ts', import.meta.url).pathname, [JSON.stringify(start)], {
      execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<Ready>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the ${start.kind} process exited with ${code} before it was ready`)));
      child.once('message', (m: { ready: Ready }) => resolve(m.ready));
    });
    return new Server(child, ready);
  }

  /** Sends a command and waits for the answer; a server that died meanwhile fails the run instead of stalling it. */
  private ask<T>(command: Command): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => {
        this.child.off('message', onMessage);
        reject(new Error(`a server process exited (${code}) while the bench waited for its answer to ${command.cmd}`));
      };
      const onMessage = (m: unknown): void => {
        this.child.off('exit', onExit);
        resolve(m as T);
      };
      this.child.once('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(command);
    });
  }

  async stats(): Promise<ProcessStats> {
    return (await this.ask<{ stats: ProcessStats }>({ cmd: 'stats' })).stats;
  }

  /** Requests in flight now (the emulator's count); nothing is reset. */
  async inFlight(): Promise<number> {
    return (await this.ask<{ inFlight: number }>({ cmd: 'inFlight' })).inFlight;
  }

  /** Starts a CPU profile of the process, or stops it and writes it to `file`. */
  async profile(file: string | null): Promise<void> {
    await this.ask({ cmd: 'profile', file });
  }

  async audit(on: boolean): Promise<void> {
    await this.ask({ cmd: 'audit', on });
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ cmd: 'close' });
    await exited;
  }
}

/** The servers a side may measure, besides Metabase: each is started only when a side of the scenario needs it. */
const SERVERS = {
  // The gateway as it was measured before it had a cache: every dashboard and every run from Metabase.
  gateway: { kind: 'gateway', env: { CACHE: 'off' }, label: 'gateway (CACHE=off)' },
  // Metadata kept, identical runs in flight shared, and the analyst's run results kept (policy.yaml's resultCache).
  cachedGateway: { kind: 'gateway', env: { CACHE: 'on' }, label: 'gateway (CACHE=on)' },
  bare: { kind: 'bare', label: 'bare Apollo' },
} as const satisfies Record<string, Omit<ServerStart, 'metabase'> & { readonly label: string }>;

type ServerName = keyof typeof SERVERS;

interface Stack {
  readonly metabase: Server;
  readonly servers: ReadonlyMap<ServerName, Server>;
}

function serverOf(stack: Stack, name: ServerName): Server {
  const server = stack.servers.get(name);
  if (!server) throw new Error(`the ${SERVERS[name].label} server was not started for this scenario`);
  return server;
}

interface Side {
  readonly name: string;
  /** The server this side measures: its process's CPU and memory are the side's (none for the direct client). */
  readonly server?: ServerName;
  readonly job: (s: Stack, connections: number) => LoadJob;
  readonly setUp?: (s: Stack) => Promise<void>;
  /** The side's warm-up lasts at least this long, whatever BENCH_WARMUP_SECONDS says: a side meant to be measured warm. */
  readonly minWarmUpSeconds?: number;
}

interface Measured extends LoadResult {
  readonly cpuMsPerOp: number | null;
  readonly peakRssMb: number | null;
  readonly peakHeapMb: number | null;
  readonly peakExternalMb: number | null;
  readonly endRssMb: number | null;
  readonly upstreamPerOp: number;
  /** Metabase's requests in all, and operations in all (failed ones included), for rates over every round. */
  readonly upstreamCalls: number;
  readonly attempted: number;
  readonly metabasePeakInFlight: number;
  /** CPU of Metabase's (the emulator's) process per operation: what the machine spends on the other side. */
  readonly metabaseCpuMsPerOp: number;
}

const DASHBOARD_QUERY = '{ dashboard(id: 1) { name cards { question { name } run { rowCount rows } } } }';
const BIG_RUN_QUERY = 'mutation { runQuestion(id: 4) { rowCount rows } }';

const graphqlJob = (query: string) => (url: string, token: string | undefined, connections: number): LoadJob => ({
  mode: 'graphql', url: `${url}/graphql`, connections, durationSeconds: seconds, body: JSON.stringify({ query }),
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
});

/** A GraphQL query sent to one of the servers, with its token (the gateway's analyst) if it has one. */
const graphqlSide = (name: string, server: ServerName, query: string): Side => ({
  name, server, job: (s, c) => graphqlJob(query)(serverOf(s, server).ready.url, serverOf(s, server).ready.token, c),
});

const GATEWAY = graphqlSide('gateway', 'gateway', DASHBOARD_QUERY);
const BARE = graphqlSide('bare Apollo', 'bare', DASHBOARD_QUERY);
const DIRECT: Side = {
  name: 'direct REST',
  job: (s, connections) => ({
    mode: 'rest', url: s.metabase.ready.url, connections, durationSeconds: seconds, dashboardId: 1,
    headers: { 'x-api-key': s.metabase.ready.metabase!.credentials.find((c) => c.group === 'Analysts')!.apiKey },
  }),
};

interface Scenario {
  readonly describe: string;
  /** Groups measured one after another: the sides of a group at its connection count, in ABBA rounds. */
  readonly groups: { readonly connections: number; readonly sides: Side[] }[];
  /** The pairs whose ratio is printed for each group: [a, b] prints a / b. */
  readonly ratios: [Side, Side][];
  /** Columns after the common ones, for every row. */
  readonly columns?: { readonly header: string; readonly value: (r: Measured) => string }[];
  /** Lines printed after the ratios for each group: whether a goal is met (text, never a failed run). */
  readonly goals?: (connections: number, rows: ReadonlyMap<Side, Measured>) => string[];
}

const everyCount = (sides: Side[], counts: number[]): Scenario['groups'] => counts.map((connections) => ({ connections, sides }));

/** The `mcp` scenario's operation: a vetted one, its id as the tool file (schema/mcp-tools.json) gives it. */
const MCP_TOOL = 'AgentRunQuestion';
// Question 16 (Top products by revenue, 10 rows) is in the Agent toolkit (collection 7), the agent role's reach.
const MCP_ARGUMENTS = { id: '16', first: 20 };

function vettedIdOf(tool: string): string {
  const tools = JSON.parse(readFileSync(new URL('../../schema/mcp-tools.json', import.meta.url), 'utf8')) as { name: string; operationId: string }[];
  const found = tools.find((t) => t.name === tool);
  if (!found) throw new Error(`schema/mcp-tools.json has no tool ${tool}`);
  return found.operationId;
}

/** The agent's request to one of the gateway's endpoints: its token, and the body and headers of that endpoint. */
const agentJob = (mode: 'graphql' | 'mcp', body: unknown, headers: Record<string, string> = {}) => (s: Stack, connections: number): LoadJob => {
  const { url, agentToken } = serverOf(s, 'cachedGateway').ready;
  if (!agentToken) throw new Error('the gateway handed back no agent token');
  return {
    mode, url: `${url}/${mode}`, connections, durationSeconds: seconds, body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers, authorization: `Bearer ${agentToken}` },
  };
};

const SCENARIOS: Record<string, () => Scenario> = {
  dashboard: () => ({
    describe: 'dashboard 1 (5 question cards, about 2,070 rows) with every card\'s rows: one GraphQL query through the gateway (as the analyst), '
      + 'the same query on a bare Apollo Server with the same schema and loaders (no token, rules, gate or audit), and a hand-written REST client '
      + 'calling Metabase directly with the Analysts key (the dashboard, then every card\'s run in parallel)',
    groups: everyCount([GATEWAY, DIRECT, BARE], connectionCounts('1,8,32')), ratios: [[GATEWAY, DIRECT], [GATEWAY, BARE]],
  }),
  cached: () => {
    // Warmed by its warm-up (at least 1 s of it): every measured run, and the dashboard, come from the gateway's cache.
    const warm: Side = { ...graphqlSide('gateway, warm cache', 'cachedGateway', DASHBOARD_QUERY), minWarmUpSeconds: 1 };
    const cold: Side = { ...GATEWAY, name: 'gateway, no cache' };
    return {
      describe: 'dashboard 1\'s query as in the dashboard scenario: through a gateway with CACHE=on whose cache the warm-up filled (the dashboard '
        + 'kept as metadata, every card\'s run by the analyst\'s resultCache, 300 s), through the gateway with CACHE=off, and by the hand-written '
        + 'REST client calling Metabase directly. Goal: the warm gateway at least 5x the direct client\'s throughput, with a lower p50',
      groups: everyCount([warm, cold, DIRECT], connectionCounts('1,8,32')),
      ratios: [[warm, DIRECT], [warm, cold]],
      columns: [{ header: 'upstream calls per 1,000 requests', value: (r) => fixed((r.upstreamCalls / Math.max(1, r.attempted)) * 1000, 2) }],
      goals: (connections, rows) => {
        const w = rows.get(warm)!;
        const d = rows.get(DIRECT)!;
        const throughput = w.opsPerSecond / d.opsPerSecond;
        const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
        return [
          `${connections} conns, goal: ${warm.name} throughput >= 5x ${DIRECT.name}'s: ${met(throughput >= 5)} (${throughput.toFixed(2)}x)`,
          `${connections} conns, goal: ${warm.name} p50 below ${DIRECT.name}'s: ${met(w.p50Ms < d.p50Ms)} (${fixed(w.p50Ms)} ms against ${fixed(d.p50Ms)} ms)`,
        ];
      },
    };
  },
  audit: () => {
    const on: Side = { ...GATEWAY, name: 'audit on', setUp: (s) => serverOf(s, 'gateway').audit(true) };
    const off: Side = { ...GATEWAY, name: 'audit off', setUp: (s) => serverOf(s, 'gateway').audit(false) };
    return { describe: 'the dashboard query with the audit trail on (a record per request, every resolved field, to a file) and off', groups: everyCount([on, off], connectionCounts('8')), ratios: [[on, off]] };
  },
  mcp: () => {
    // Both warmed (at least 1 s): the question's run, its metadata and the token's verification come from the gateway's caches.
    const graphql: Side = {
      name: 'GraphQL by id', server: 'cachedGateway', minWarmUpSeconds: 1,
      job: agentJob('graphql', { documentId: `sha256:${vettedIdOf(MCP_TOOL)}`, variables: MCP_ARGUMENTS }),
    };
    const mcp: Side = {
      name: 'MCP tools/call', server: 'cachedGateway', minWarmUpSeconds: 1,
      job: agentJob('mcp', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: MCP_TOOL, arguments: MCP_ARGUMENTS } },
        { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }),
    };
    return {
      describe: `the vetted ${MCP_TOOL} (question ${MCP_ARGUMENTS.id}, 10 rows, first ${MCP_ARGUMENTS.first}) as the demo's agent (vettedOnly, `
        + 'resultCache 300 s) on the gateway with CACHE=on, warmed so every run comes from its cache: sent by id to /graphql, and as an MCP '
        + 'tools/call to /mcp (stateless, no initialize), which runs the same operation through /graphql in process',
      groups: everyCount([graphql, mcp], connectionCounts('1,8,32')),
      ratios: [[mcp, graphql]],
      columns: [{ header: 'upstream calls per 1,000 requests', value: (r) => fixed((r.upstreamCalls / Math.max(1, r.attempted)) * 1000, 2) }],
      goals: (connections, rows) => {
        const g = rows.get(graphql)!;
        const m = rows.get(mcp)!;
        const cpu = m.cpuMsPerOp !== null && g.cpuMsPerOp !== null ? `${fixed(m.cpuMsPerOp - g.cpuMsPerOp, 3)} ms CPU` : 'CPU not measured';
        return [`${connections} conns, the MCP layer adds per operation: ${cpu} in the gateway, ${fixed(m.p50Ms - g.p50Ms, 2)} ms at p50, ${fixed(m.p99Ms - g.p99Ms, 2)} ms at p99`];
      },
    };
  },
  grant: () => {
    // Dashboard 2 is outside what the sales role's key may read; the demo policy lets sales ask for it, through the analyst role's key.
    const query = '{ dashboard(id: 2) { name tabs { name } cards { question { name } } } }';
    const own: Side = graphqlSide('analyst, own role', 'gateway', query);
    const granted: Side = {
      name: 'sales, through a grant', server: 'gateway', setUp: (s) => ensureGrant(serverOf(s, 'gateway').ready),
      job: (s, c) => graphqlJob(query)(serverOf(s, 'gateway').ready.url, serverOf(s, 'gateway').ready.salesToken, c),
    };
    return {
      describe: 'dashboard 2\'s metadata (its tabs and its cards\' questions, no runs) on the gateway with CACHE=off: by the analyst, whose own role '
        + 'reads it, and by a sales user through a grant of just-in-time access approved by the analyst (the sales key is tried and refused '
        + 'first, the grant read from the store, the dashboard loaded with the analyst role\'s key)',
      groups: everyCount([own, granted], connectionCounts('1,8,32')),
      ratios: [[granted, own]],
      columns: [{ header: 'upstream calls per 1,000 requests', value: (r) => fixed((r.upstreamCalls / Math.max(1, r.attempted)) * 1000, 2) }],
    };
  },
  memory: () => {
    const bigRun = graphqlSide('gateway, 2,000-row run', 'gateway', BIG_RUN_QUERY);
    return {
      describe: 'the gateway\'s peak RSS, round by round: the dashboard query by 50 connections, and a 2,000-row run (question 4) by 32',
      groups: [{ connections: 50, sides: [GATEWAY] }, { connections: 32, sides: [bigRun] }], ratios: [],
    };
  },
};

/** The sales user holds a grant of dashboard 2 (asked for, and approved by the analyst, when it holds none). */
async function ensureGrant(ready: Ready): Promise<void> {
  const post = async (token: string | undefined, query: string, variables: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
    const res = await fetch(`${ready.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
    const body = await res.json() as { data?: Record<string, unknown>; errors?: unknown[] };
    if (body.errors) throw new Error(`the grant's set-up failed: ${JSON.stringify(body.errors)}`);
    return body.data!;
  };
  const held = (await post(ready.salesToken, '{ viewer { grants { id } } }'))['viewer'] as { grants: unknown[] };
  if (held.grants.length) return;
  const asked = (await post(ready.salesToken, 'mutation { requestAccess(target: {kind: DASHBOARD, id: "2"}, reason: "bench", durationMinutes: 240) { id } }'))['requestAccess'] as { id: string };
  await post(ready.token, 'mutation($id: ID!) { approveAccessRequest(id: $id) { state } }', { id: asked.id });
}

async function load(job: LoadJob): Promise<LoadResult> {
  const { stdout } = await exec(process.execPath, ['--import', 'tsx', new URL('./load.ts', import.meta.url).pathname, JSON.stringify(job)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult;
}

/** Waits until Metabase has answered every call a load left in flight (a cut operation's runs). */
async function settle(stack: Stack): Promise<void> {
  for (let i = 0; i < 200 && (await stack.metabase.inFlight()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
}

const profileDir = process.env['BENCH_PROFILE_DIR'] || null;

async function measure(stack: Stack, side: Side, connections: number, round: number): Promise<Measured> {
  await side.setUp?.(stack);
  await settle(stack);
  const server = side.server ? serverOf(stack, side.server) : undefined;
  const profiled = profileDir && server ? join(profileDir, `${side.name.replace(/\W+/g, '-')}-${connections}c-r${round + 1}.cpuprofile`) : null;
  if (profiled) await server!.profile(null);
  await server?.stats();
  await stack.metabase.stats();
  const result = await load(side.job(stack, connections));
  await settle(stack);
  if (profiled) await server!.profile(profiled);
  const used = await server?.stats();
  const upstream = await stack.metabase.stats();
  const ops = result.operations + result.failures;
  return {
    ...result,
    cpuMsPerOp: used ? used.cpuMs / Math.max(1, ops) : null, peakRssMb: used?.peakRssMb ?? null, endRssMb: used?.rssMb ?? null,
    peakHeapMb: used?.peakHeapMb ?? null, peakExternalMb: used?.peakExternalMb ?? null,
    upstreamPerOp: (upstream.requests ?? 0) / Math.max(1, ops), upstreamCalls: upstream.requests ?? 0, attempted: ops, metabasePeakInFlight: upstream.peakInFlight ?? 0,
    metabaseCpuMsPerOp: upstream.cpuMs / Math.max(1, ops),
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One side's rounds as one row: throughput over all rounds, the median round's latencies and CPU, the highest peak. */
function combine(results: Measured[]): Measured {
  const cpu = results.map((r) => r.cpuMsPerOp).filter((c): c is number => c !== null);
  const rss = results.map((r) => r.peakRssMb).filter((c): c is number => c !== null);
  return {
    operations: results.reduce((n, r) => n + r.operations, 0), failures: results.reduce((n, r) => n + r.failures, 0),
    opsPerSecond: results.reduce((n, r) => n + r.opsPerSecond, 0) / results.length,
    p50Ms: median(results.map((r) => r.p50Ms)), p99Ms: median(results.map((r) => r.p99Ms)),
    cpuMsPerOp: cpu.length ? median(cpu) : null, peakRssMb: rss.length ? Math.max(...rss) : null, endRssMb: results.at(-1)!.endRssMb,
    peakHeapMb: results.find((r) => r.peakRssMb === Math.max(...rss))?.peakHeapMb ?? null,
    peakExternalMb: results.find((r) => r.peakRssMb === Math.max(...rss))?.peakExternalMb ?? null,
    upstreamPerOp: median(results.map((r) => r.upstreamPerOp)),
    upstreamCalls: results.reduce((n, r) => n + r.upstreamCalls, 0), attempted: results.reduce((n, r) => n + r.attempted, 0),
    metabasePeakInFlight: Math.max(...results.map((r) => r.metabasePeakInFlight)),
    metabaseCpuMsPerOp: median(results.map((r) => r.metabaseCpuMsPerOp)),
    ...(results.find((r) => r.firstFailure) ? { firstFailure: results.find((r) => r.firstFailure)!.firstFailure! } : {}),
  };
}

const fixed = (n: number | null, digits = 1): string => (n === null ? '-' : n.toFixed(digits));

async function main(): Promise<void> {
  const name = process.argv[2] ?? 'dashboard';
  if (name === 'gate') return runGateBench();
  if (name === 'codec') return runCodecBench();
  const make = SCENARIOS[name];
  if (!make) throw new TypeError(`unknown scenario "${name}"; known: ${[...Object.keys(SCENARIOS), 'gate', 'codec'].join(', ')}`);
  const scenario = make();
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const metabase = await Server.start({ kind: 'metabase', latency });
  const needed = [...new Set(scenario.groups.flatMap((g) => g.sides.flatMap((side) => (side.server ? [side.server] : []))))];
  const started = await Promise.allSettled(needed.map(async (server) => {
    const { label: _, ...start } = SERVERS[server];
    return [server, await Server.start({ ...start, metabase: metabase.ready.metabase! })] as const;
  }));
  const stack: Stack = { metabase, servers: new Map(started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))) };
  try {
    const failedStart = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failedStart) throw failedStart.reason;
    console.log(`scenario ${name}: ${scenario.describe}`);
    console.log(`Metabase (the emulator) in its own process: ${latency.metadataMs} ms added to every call, query runs ${latency.runMs} ms in all plus the SQL's time`);
    const longer = scenario.groups.flatMap((g) => g.sides).filter((side, i, all) => all.indexOf(side) === i && (side.minWarmUpSeconds ?? 0) > warmUpSeconds);
    console.log(`${rounds} rounds of ${seconds} s per side in ABBA order after ${warmUpSeconds} s warm-up each`
      + `${longer.map((side) => ` (${side.name}: ${side.minWarmUpSeconds} s)`).join('')}; one load generator in its own process for every side`);
    const idle = await Promise.all(needed.map(async (server) => `${SERVERS[server].label} ${fixed((await serverOf(stack, server).stats()).rssMb, 0)} MB`));
    console.log(`RSS after start, before any load: ${idle.join(', ')}\n`);
    const header = ['side', 'conns', 'ops/s', 'p50 ms', 'p99 ms', 'CPU ms/op', 'peak RSS MB', 'RSS after MB', 'upstream calls/op', 'Metabase peak in flight', 'Metabase CPU ms/op', 'failures',
      ...(scenario.columns ?? []).map((c) => c.header)];
    const lines: string[] = [header.join(' | '), header.map(() => '---').join(' | ')];
    const ratioLines: string[] = [];
    const goalLines: string[] = [];
    const failed: string[] = [];
    for (const { connections, sides } of scenario.groups) {
      for (const side of sides) {
        await side.setUp?.(stack);
        const warmUp = Math.max(warmUpSeconds, side.minWarmUpSeconds ?? 0);
        if (warmUp > 0) await load({ ...side.job(stack, connections), durationSeconds: warmUp });
      }
      const runs = new Map<Side, Measured[]>(sides.map((side) => [side, []]));
      for (let round = 0; round < rounds; round++) {
        // ABBA: drift on this noisy machine (JIT warming, caches, neighbours) falls on every side alike.
        for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
          const m = await measure(stack, side, connections, round);
          runs.get(side)!.push(m);
          if (name === 'memory') {
            console.log(`  ${side.name}, ${connections} connections, round ${round + 1}: peak RSS ${fixed(m.peakRssMb, 0)} MB (heap ${fixed(m.peakHeapMb, 0)} MB, buffers ${fixed(m.peakExternalMb, 0)} MB), RSS after ${fixed(m.endRssMb, 0)} MB`);
          }
        }
      }
      const rows = new Map(sides.map((side) => [side, combine(runs.get(side)!)]));
      for (const [side, r] of rows) {
        lines.push([side.name, connections, fixed(r.opsPerSecond), fixed(r.p50Ms), fixed(r.p99Ms), fixed(r.cpuMsPerOp, 2), fixed(r.peakRssMb, 0), fixed(r.endRssMb, 0),
          fixed(r.upstreamPerOp, 2), r.metabasePeakInFlight, fixed(r.metabaseCpuMsPerOp, 2), r.failures, ...(scenario.columns ?? []).map((c) => c.value(r))].join(' | '));
        if (r.failures > 0) failed.push(`${side.name} at ${connections} connections had ${r.failures} failed operations (first: ${r.firstFailure})`);
      }
      for (const [a, b] of scenario.ratios.filter(([a, b]) => sides.includes(a) && sides.includes(b))) {
        const ra = rows.get(a)!;
        const rb = rows.get(b)!;
        ratioLines.push(`${connections} conns, ${a.name} / ${b.name}: throughput ${(ra.opsPerSecond / rb.opsPerSecond).toFixed(2)}x, p50 ${(ra.p50Ms / rb.p50Ms).toFixed(2)}x, p99 ${(ra.p99Ms / rb.p99Ms).toFixed(2)}x`);
      }
      goalLines.push(...(scenario.goals?.(connections, rows) ?? []));
    }
    console.log(`\n${lines.join('\n')}\n`);
    if (ratioLines.length) console.log(`${ratioLines.join('\n')}\n`);
    if (goalLines.length) console.log(`${goalLines.join('\n')}\n`);
    if (failed.length) {
      console.log(`WARNING: ${failed.join('; ')}: their figures are not comparable.`);
      process.exitCode = 1;
    }
  } finally {
    await Promise.all([...stack.servers.values()].map((server) => server.close()));
    await stack.metabase.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
