/**
 * Real Redis servers for tests. `sharedRedis()` is the machine's own on 127.0.0.1:6379 when it
 * answers, else one started here; tests on it use their own key prefix and short TTLs and never
 * flush it. `startRedis()` always starts a throwaway server on a free port (`--save '' --appendonly
 * no`), which a test may stop, pause and start again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';

import { eventually } from './eventually.js';
import { after, before } from 'node:test';
import { RedisStore } from '../../src/store/store.js';

const exec = promisify(execFile);

export interface OwnRedis {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  resume(): void;
}

/** A key prefix no other test run uses. */
export const testPrefix = (): string => `mgw-test-${process.pid}-${randomBytes(4).toString('hex')}:`;

async function answersPing(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Starts redis-server on `port`; resolves once it says it accepts connections. */
async function launch(port: number, extra: string[] = [], cwd?: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (/Ready to accept connections/.test(output)) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.resume();
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code} before it was ready: ${output.slice(-500)}`)));
  });
  child.removeAllListeners('exit');
  return child;
}

export async function startRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port);
  return {
    port, url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (!child) return;
      const exited = once(child, 'exit');
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      await exited;
      child = undefined;
    },
    async start() {
      if (!child) child = await launch(port);
    },
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
  };
}

/** The machine's Redis on 6379 when it answers, else a server of our own (closed by `close`). */
export async function sharedRedis(): Promise<{ url: string; close(): Promise<void> }> {
  if (await answersPing(6379)) return { url: 'redis://127.0.0.1:6379', close: async () => undefined };
  const own = await startRedis();
  return { url: own.url, close: () => own.stop() };
}

/**
 * Two instances' stores on the machine's Redis (or one of our own), under one prefix of this run:
 * what one writes, the other reads. Opened before the file's tests and closed after them; read
 * `one` and `two` inside the tests.
 */
export function twoInstanceStores(): { readonly one: RedisStore; readonly two: RedisStore } {
  let opened: { one: RedisStore; two: RedisStore; redis: { close(): Promise<void> } } | undefined;
  before(async () => {
    const redis = await sharedRedis();
    const prefix = testPrefix();
    const one = new RedisStore({ url: redis.url, prefix, timeoutMs: 1_000 });
    const two = new RedisStore({ url: redis.url, prefix, timeoutMs: 1_000 });
    await Promise.all([one.whenState('ok'), two.whenState('ok')]);
    opened = { one, two, redis };
  });
  after(async () => {
    await opened?.one.close();
    await opened?.two.close();
    await opened?.redis.close();
  });
  const get = (): NonNullable<typeof opened> => {
    if (!opened) throw new Error('twoInstanceStores: read the stores inside a test');
    return opened;
  };
  return { get one() { return get().one; }, get two() { return get().two; } };
}

/** Stops servers started together (SIGTERM, each waited for) and removes their directory. */
async function stopAll(children: readonly ChildProcess[], dir: string): Promise<void> {
  await Promise.all(children.map(async (c) => {
    const exited = once(c, 'exit');
    c.kill('SIGTERM');
    await exited;
  }));
  await rm(dir, { recursive: true, force: true });
}

export interface OwnCluster {
  readonly nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

/** Three masters on free ports joined as a Redis Cluster (`redis-cli --cluster create`), each in its own directory. */
export async function startRedisCluster(): Promise<OwnCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-redis-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  try {
    for (const port of ports) {
      const cwd = join(dir, String(port));
      await mkdir(cwd);
      children.push(await launch(port, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'], cwd));
    }
    await exec('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    // The cluster is usable once every node reports it ok (asked every 50 ms: each check is a redis-cli process).
    for (const port of ports) {
      await eventually(async () => /cluster_state:ok/.test((await exec('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout),
        `the cluster node on ${port} reports cluster_state:ok`, { withinMs: 10_000, everyMs: 50 });
    }
  } catch (err) {
    for (const c of children) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    stop: () => stopAll(children, dir),
  };
}

export interface OwnSentinel {
  /** The Sentinel's address (it watches the server named `name`). */
  readonly sentinel: { host: string; port: number };
  readonly name: string;
  /** The watched server's password. */
  readonly password: string;
  stop(): Promise<void>;
}

/** A password-protected server and one Sentinel watching it (as `mymaster-test`), each on a free port. */
export async function startRedisSentinel(): Promise<OwnSentinel> {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-redis-sentinel-'));
  const password = randomBytes(12).toString('hex');
  const name = 'mymaster-test';
  const [masterPort, sentinelPort] = [await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  try {
    children.push(await launch(masterPort, ['--requirepass', password, '--masterauth', password], dir));
    const conf = join(dir, 'sentinel.conf');
    // Sentinel rewrites its configuration file: it must be its own, writable.
    await writeFile(conf, [
      `port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`, `sentinel auth-pass ${name} ${password}`, '',
    ].join('\n'));
    const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    children.push(sentinel);
    let output = '';
    sentinel.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    sentinel.stderr!.resume();
    await eventually(() => /\+monitor master/.test(output), `the Sentinel watches ${name}`, { withinMs: 10_000, everyMs: 20 });
  } catch (err) {
    for (const c of children) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    sentinel: { host: '127.0.0.1', port: sentinelPort }, name, password,
    stop: () => stopAll(children, dir),
  };
}
