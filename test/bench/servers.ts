/**
 * The servers `npm run bench` measures, each in its own process as in a deployment, started by
 * run.ts with `fork` and spoken to over IPC:
 *   metabase  the emulator, with a latency per kind of call (a real Metabase is a JVM elsewhere)
 *   gateway   the demo's issuer, policy and gateway in front of that Metabase, the audit trail switchable
 *             (it hands back the analyst's and the agent's tokens)
 *   bare      the same schema and loaders served by a bare Apollo Server on Fastify: no token, no role
 *             decision, no rules, no gate, no audit, no call scope: the cost of our layers is the difference
 * The gateway and the bare server read their settings from the environment (METABASE_MAX_CONCURRENT, ...);
 * a gateway's start may override some of them (`env`, e.g. `{ CACHE: 'off' }`), over the environment.
 * Each answers `stats` with its own CPU time and peak RSS since the last `stats` (and the emulator,
 * its request counters), so figures are the measured process's and not the load generator's.
 */
import 'reflect-metadata';
import { rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloServer } from '@apollo/server';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify from 'fastify';
import { pino } from 'pino';
import { MemoryAccessStore } from '../../src/access/records.js';
import { AccessRequests, forCaller } from '../../src/access/service.js';
import { createAuditLog, NO_AUDIT, type AuditLog } from '../../src/audit/audit.js';
import { AccessChecker } from '../../src/authz/access.js';
import { locator, ownReach, RequestReaches } from '../../src/authz/reach.js';
import { loadConfig } from '../../src/config/config.js';
import type { GatewayContext } from '../../src/context/context.js';
import { demoSecrets, startDemoGateway, type DemoMetabase } from '../../src/demo.js';
import { startEmulator } from '../../src/emulator/server.js';
import { buildGatewaySchema } from '../../src/graph/schema.js';
import { createLoaders } from '../../src/metabase/loaders.js';
import { stringifyWithRawJson } from '../../src/metabase/raw-rows.js';
import { createMetabasePool } from '../../src/metabase/client.js';
import { environmentIssuer } from '../../src/policy/policy.js';
import { metabaseSettings, PolicyStore } from '../../src/policy/store.js';

export const BENCH_POLICY_FILE = fileURLToPath(new URL('./policy.yaml', import.meta.url));

export type ServerKind = 'metabase' | 'gateway' | 'bare';

export interface MetabaseLatency {
  /** Added to every call (metadata: dashboards, cards, collections, ...). */
  readonly metadataMs: number;
  /** A query run's whole added time (the emulator's SQL time comes on top). */
  readonly runMs: number;
}

export interface ServerStart {
  readonly kind: ServerKind;
  readonly latency?: MetabaseLatency;
  readonly metabase?: DemoMetabase;
  /** gateway: settings over the environment's, e.g. `{ CACHE: 'off' }` (the gateway reads its settings from it). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface Ready {
  readonly url: string;
  /** metabase: the demo groups' credentials. */
  readonly metabase?: DemoMetabase;
  /** gateway: the analyst's bearer token. */
  readonly token?: string;
  /** gateway: the agent's bearer token (the demo's reporting-agent client: policy.yaml's agent role). */
  readonly agentToken?: string;
  /** gateway: the sales user's bearer token (for just-in-time access). */
  readonly salesToken?: string;
}

export interface ProcessStats {
  /** CPU time (user + system) since the previous `stats`, in ms. */
  readonly cpuMs: number;
  /** Highest RSS sampled since the previous `stats`, in MB. */
  readonly peakRssMb: number;
  /** RSS now, in MB. */
  readonly rssMb: number;
  /** At the peak: the JavaScript heap, and memory outside it (buffers), in MB. */
  readonly peakHeapMb: number;
  readonly peakExternalMb: number;
  /** metabase: requests answered (or cut) since the previous `stats`, and the most in flight at once. */
  readonly requests?: number;
  readonly peakInFlight?: number;
  readonly inFlight?: number;
}

export type Command = { readonly cmd: 'stats' } | { readonly cmd: 'inFlight' } | { readonly cmd: 'profile'; readonly file: string | null } | { readonly cmd: 'audit'; readonly on: boolean } | { readonly cmd: 'close' };

/** CPU and peak RSS of this process, measured between two `take()`s. */
function processMeter(): { take(): { cpuMs: number; peakRssMb: number; rssMb: number; peakHeapMb: number; peakExternalMb: number } } {
  let cpu = process.cpuUsage();
  let peak = { rss: 0, heap: 0, external: 0 };
  const sample = (): void => {
    const rss = process.memoryUsage.rss();
    if (rss <= peak.rss) return;
    // What the peak is made of: the JavaScript heap, and memory outside it (buffers, sockets).
    const m = process.memoryUsage();
    peak = { rss, heap: m.heapTotal, external: m.external + m.arrayBuffers };
  };
  // Sampled often enough to see a peak of a burst; the sampler's own cost is a few µs per tick.
  setInterval(sample, 100).unref();
  return {
    take() {
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      sample();
      const rss = process.memoryUsage.rss();
      const mb = (n: number): number => n / 2 ** 20;
      const result = { cpuMs: (used.user + used.system) / 1000, peakRssMb: mb(peak.rss), rssMb: mb(rss), peakHeapMb: mb(peak.heap), peakExternalMb: mb(peak.external) };
      peak = { rss: 0, heap: 0, external: 0 };
      sample();
      return result;
    },
  };
}

/** The audit trail as the bench drives it: written to a file, switched on or off by run.ts. */
function switchableAudit(): { audit: AuditLog; switch(on: boolean): void; remove(): Promise<void> } {
  let on = false;
  const file = join(tmpdir(), `gateway-bench-audit-${process.pid}.log`);
  const log = createAuditLog({ file, format: 'operation', redactVariables: [] });
  return {
    audit: {
      format: 'operation',
      get enabled() {
        return on;
      },
      write: (trail, outcome) => {
        if (on) log.write(trail, outcome);
      },
      event: (name, fields) => {
        if (on) log.event(name, fields);
      },
      redact: (v) => log.redact(v),
      close: () => log.close(),
    },
    switch: (next) => (on = next),
    remove: async () => {
      await log.close();
      await rm(file, { force: true });
    },
  };
}

async function startMetabase(latency: MetabaseLatency): Promise<{ ready: Ready; stats(): Partial<ProcessStats>; inFlight(): number; close(): Promise<void> }> {
  const emulator = await startEmulator({ port: 0, latencyMs: latency.metadataMs, runLatencyMs: Math.max(0, latency.runMs - latency.metadataMs) });
  let counted = 0;
  return {
    ready: { url: emulator.url, metabase: { url: emulator.url, credentials: emulator.credentials } },
    stats() {
      const total = emulator.requests.count();
      const result = { requests: total - counted, peakInFlight: emulator.requests.peakInFlight, inFlight: emulator.requests.inFlight };
      counted = total;
      emulator.requests.peakInFlight = emulator.requests.inFlight;
      return result;
    },
    inFlight: () => emulator.requests.inFlight,
    close: () => emulator.close(),
  };
}

async function startGateway(metabase: DemoMetabase, env: Readonly<Record<string, string>> = {}): Promise<{ ready: Ready; audit(on: boolean): void; close(): Promise<void> }> {
  const audit = switchableAudit();
  const stack = await startDemoGateway(loadConfig({ ...process.env, ...env, PORT: '0' }), metabase, { audit: audit.audit, policyFile: BENCH_POLICY_FILE });
  return {
    ready: { url: stack.gatewayUrl, token: stack.tokens.analyst, agentToken: stack.tokens.agent, salesToken: stack.tokens.sales },
    audit: audit.switch,
    async close() {
      await stack.close();
      await audit.remove();
    },
  };
}

/**
 * The graph with nothing of ours around it: one fixed analyst context per request with fresh
 * loaders over the analyst's client, and Apollo's defaults otherwise (CSRF prevention included).
 */
async function startBare(metabase: DemoMetabase): Promise<{ ready: Ready; close(): Promise<void> }> {
  const config = loadConfig({ ...process.env, PORT: '0' });
  const pool = createMetabasePool();
  const logger = pino({ level: 'silent' });
  const policy = await PolicyStore.open({
    file: BENCH_POLICY_FILE, env: { ...process.env, ...demoSecrets(metabase) },
    metabase: metabaseSettings(config, metabase.url, pool),
    logger, drainGraceMs: config.drainGraceMs, watchIntervalMs: config.policyWatchIntervalMs,
    // The policy needs an issuer; this server verifies no token.
    defaultIssuer: environmentIssuer({ issuer: 'https://bench.invalid', audiences: ['bench'], algorithms: ['RS256'] }),
  });
  const role = policy.current.roles.find((r) => r.name === 'analyst')!;
  // The same response encoding as the gateway's: run rows spliced in as Metabase's text.
  const apollo = new ApolloServer<GatewayContext>({ schema: await buildGatewaySchema(), persistedQueries: false, stringifyResult: stringifyWithRawJson });
  await apollo.start();
  const app = Fastify();
  const viewer = { subject: 'ana', name: 'Ana Analyst', email: 'ana@example.test', groups: ['analysts'], clientKind: 'human', issuer: 'bench', groupsOverage: false } as unknown as GatewayContext['viewer'];
  let id = 0;
  const accessRequests = new AccessRequests({ store: new MemoryAccessStore(), policy: () => policy.current.policy, audit: NO_AUDIT });
  app.post('/graphql', fastifyApolloHandler(apollo, {
    context: async (): Promise<GatewayContext> => {
      const loaders = createLoaders(role.client, config.limits);
      const access = new AccessChecker(role.collections, loaders.collections);
      const requestId = String(++id);
      const roles = () => policy.current.roles;
      const locate = locator(roles, async (r) => ({ loaders: createLoaders(r.client, config.limits), scope: null }));
      const own = ownReach(role, loaders, access, null);
      return {
        requestId, viewer, availableRoles: ['analyst'], noRoleReason: null, operationLimits: role.limits, trail: null, log: logger,
        limits: { maxPageSize: config.limits.maxPageSize, maxSearchChars: config.limits.searchTextChars }, runs: null, runOwner: null,
        roleName: role.name, role, loaders, access,
        reaches: new RequestReaches({ viewer, requestId, roleName: role.name, own, roles, locate, service: accessRequests, loadersFor: async (r) => ({ loaders: createLoaders(r.client, config.limits), scope: null }) }),
        accessRequests: forCaller(accessRequests, { viewer, availableRoles: ['analyst'], roleName: role.name, requestId }, locate),
      };
    },
  }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    ready: { url },
    async close() {
      await app.close();
      await apollo.stop();
      await policy.close();
      await pool.close();
    },
  };
}

/** A CPU profile of this process between two `profile` commands (the first starts it, the next writes it to its file). */
function profiler(): (file: string | null) => Promise<void> {
  let session: Session | undefined;
  return async (file) => {
    if (!session) {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
      return;
    }
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    session = undefined;
    if (file) await writeFile(file, JSON.stringify(profile));
  };
}

async function main(): Promise<void> {
  const start = JSON.parse(process.argv[2]!) as ServerStart;
  // As in production (compiled JavaScript, no --enable-source-maps): tsx turns source maps on, and then
  // every stack read (undici reads one for each connection Metabase closes after a run) maps it.
  process.setSourceMapsEnabled(false);
  const meter = processMeter();
  const profile = profiler();
  let server: { ready: Ready; stats?(): Partial<ProcessStats>; inFlight?(): number; audit?(on: boolean): void; close(): Promise<void> };
  if (start.kind === 'metabase') server = await startMetabase(start.latency!);
  else if (start.kind === 'gateway') server = await startGateway(start.metabase!, start.env);
  else server = await startBare(start.metabase!);
  process.on('message', (message: Command) => {
    if (message.cmd === 'stats') process.send!({ stats: { ...meter.take(), ...server.stats?.() } });
    else if (message.cmd === 'inFlight') process.send!({ inFlight: server.inFlight?.() ?? 0 });
    else if (message.cmd === 'profile') void profile(message.file).then(() => process.send!({ done: true }));
    else if (message.cmd === 'audit') {
      server.audit?.(message.on);
      process.send!({ done: true });
    } else if (message.cmd === 'close') {
      server.close().finally(() => process.exit(0));
    }
  });
  // run.ts going away (a crash, ^C) takes this server with it.
  process.on('disconnect', () => process.exit(0));
  meter.take();
  process.send!({ ready: server.ready });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
