/** A gateway on a policy of the test's choosing, against the emulator and a real IdP, with its log lines captured. */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { Writable } from 'node:stream';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { createGateway, type Gateway, type GatewayDeps } from '../../src/app.js';
import { IssuerRegistry } from '../../src/identity/issuers.js';
import { environmentIssuer } from '../../src/policy/policy.js';
import { createLogger } from '../../src/logging/logger.js';
import { createMetabasePool } from '../../src/metabase/client.js';
import { PolicyStore } from '../../src/policy/store.js';
import { before, after } from 'node:test';
import { startEmulator } from '../../src/emulator/server.js';
import type { Emulator } from './emulator.js';
import { AUDIENCE, startIdp, type Idp } from './idp.js';

export interface LogLine { readonly level: number; readonly msg: string; readonly event?: string; readonly [key: string]: unknown }

export interface AuthzStack {
  readonly url: string;
  readonly gateway: Gateway;
  readonly policy: PolicyStore;
  /** The gateway's token verification: each token against the issuer it names. */
  readonly tokens: IssuerRegistry;
  /** The directory holding the policy file (and any key files the test writes). */
  readonly dir: string;
  readonly policyFile: string;
  /** Every log line so far, raw and parsed. */
  readonly rawLog: string[];
  readonly log: LogLine[];
  /** Resolves with the first log line (already written or to come) that matches; rejects after `timeoutMs`. */
  waitForLog(what: string, match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** POSTs an operation with a bearer token (or none) and extra headers. */
  post(query: string, token: string | undefined, headers?: Record<string, string>, variables?: Record<string, unknown>): Promise<{ status: number; text: string; body: GqlBody }>;
  close(): Promise<void>;
}

export interface GqlBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions: { code: string; reason?: string; [k: string]: unknown } }[];
}

export async function startAuthzStack(options: {
  emulator: Emulator; issuer: string; audience: string; policy: string; env?: Record<string, string>;
  files?: Record<string, string>; watchIntervalMs?: number; keyRefreshCooldownMs?: number; drainGraceMs?: number;
  /** Settings as the environment would give them (TOKEN_MAX_BYTES…). */
  config?: Record<string, string>;
  /** The gateway's audit trail, shared state and just-in-time access settings (default: none, in memory). */
  deps?: Partial<Pick<GatewayDeps, 'audit' | 'shared' | 'access'>>;
}): Promise<AuthzStack> {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-authz-'));
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, options.policy);
  for (const [name, content] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), content);
  const rawLog: string[] = [];
  const log: LogLine[] = [];
  const written = new EventEmitter();
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        rawLog.push(line);
        log.push(JSON.parse(line) as LogLine);
      }
      written.emit('line');
      done();
    },
  });
  async function waitForLog(what: string, match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const found = log.find(match);
      if (found) return found;
      try {
        await once(written, 'line', { signal });
      } catch {
        assert.fail(`no log line ${what} within ${timeoutMs} ms`);
      }
    }
  }
  const logger = createLogger({ level: 'debug', destination });
  const config = loadConfig({ PORT: '0', DRAIN_GRACE_MS: String(options.drainGraceMs ?? 2_000), ...options.config });
  const pool = createMetabasePool();
  const policy = await PolicyStore.open({
    file: policyFile, env: options.env ?? {}, logger, drainGraceMs: config.drainGraceMs, watchIntervalMs: options.watchIntervalMs ?? 50,
    metabase: { baseUrl: options.emulator.url, timeoutMs: 10_000, maxConcurrent: 8, dispatcher: pool },
    // The one issuer the environment would name; a policy that lists issuers replaces it.
    defaultIssuer: environmentIssuer({ issuer: options.issuer, audiences: [options.audience], algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] }),
  });
  policy.watch();
  const tokens = new IssuerRegistry(() => policy.current.issuers, {
    maxTokenBytes: config.tokens.maxBytes, env: options.env ?? {},
    ...(options.keyRefreshCooldownMs !== undefined ? { keyRefreshCooldownMs: options.keyRefreshCooldownMs } : {}),
  });
  const gateway = await createGateway(config, { policy, tokens, metabaseReady: () => policy.clients()[0]!.health(), logger, ...options.deps });
  const url = `${await gateway.listen(0, '127.0.0.1')}/graphql`;
  return {
    url, gateway, policy, tokens, dir, policyFile, rawLog, log, waitForLog,
    async post(query, token, headers = {}, variables) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const text = await res.text();
      return { status: res.status, text, body: JSON.parse(text) as GqlBody };
    },
    async close() {
      await gateway.close();
      await policy.close();
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface AuthzSuite {
  readonly mb: Emulator;
  readonly idp: Idp;
  readonly stack: AuthzStack;
}

/**
 * Registers, in the calling suite, hooks that start an emulator, a real OpenID provider and a gateway
 * on `policy` before its tests and stop them after. The returned object is filled in by the time the
 * first test runs. `env` and `files` get the emulator, for its keys and passwords.
 */
export function useAuthzStack(policy: string, options: { env?: (mb: Emulator) => Record<string, string>; files?: (mb: Emulator) => Record<string, string> } = {}): AuthzSuite {
  const suite = {} as { mb: Emulator; idp: Idp; stack: AuthzStack };
  before(async () => {
    suite.mb = await startEmulator({ port: 0 });
    suite.idp = await startIdp();
    suite.stack = await startAuthzStack({
      emulator: suite.mb, issuer: suite.idp.issuer, audience: AUDIENCE, policy,
      env: options.env?.(suite.mb) ?? {}, files: options.files?.(suite.mb) ?? {},
    });
  });
  after(async () => {
    await suite.stack?.close();
    await suite.idp?.close();
    await suite.mb?.close();
  });
  return suite;
}
