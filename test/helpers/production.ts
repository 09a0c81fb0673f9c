/**
 * The gateway as it runs in production, in its own process: the real entry point with its own
 * issuer (oidc-provider), the emulator as Metabase and a policy file, so that a request that could
 * crash or stall the process shows as a dead or silent child, not as a failed test runner.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentialOf, emulator, groupKeys, type Emulator } from './emulator.js';
import { startEntryPoint, type EntryPoint } from './entry.js';
import { AUDIENCE, startIdp, type Idp } from './idp.js';

/** How the production policies read tokens: groups from `groups`, and the IdP's agent client is of kind agent. */
export const PRODUCTION_CLAIMS = `
claims:
  groups: [groups]
  clientKind:
    rules:
      - { kind: agent, clientIds: [reporting-agent] }
`;

/** Four roles on the emulator's groups; the agent role is vetted-only. */
export const PRODUCTION_POLICY = `${PRODUCTION_CLAIMS}roles:
  - name: analyst
    match: { groups: [analysts], clientKinds: [human] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
    canViewSql: true
    canRunNativeSql: true
  - name: sales
    match: { groups: [sales], clientKinds: [human] }
    metabase: { apiKey: { env: SALES_KEY } }
    collections: [root, { subtree: 2 }]
  - name: agent
    match: { clientKinds: [agent] }
    metabase: { apiKey: { env: AGENTS_KEY } }
    collections: [{ subtree: 7 }]
    vettedOnly: true
`;

export interface Production {
  readonly entry: EntryPoint;
  /** The GraphQL endpoint. */
  readonly url: string;
  /** The gateway's base URL (for /healthz). */
  readonly base: string;
  readonly dir: string;
  /** POSTs a body (an object is sent as JSON) with a bearer token and extra headers. */
  post(body: unknown, token?: string, headers?: Record<string, string>): Promise<{ status: number; text: string; headers: Headers; ms: number }>;
  /** Whether /healthz answers within the time given. */
  healthy(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * @param options.auditFile write the audit trail to `audit.log` in the returned `dir` (otherwise it is off).
 */
export async function startProduction(options: { emulator: Emulator; idp: Idp; policy?: string; env?: Record<string, string>; auditFile?: boolean }): Promise<Production> {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-production-'));
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, options.policy ?? PRODUCTION_POLICY);
  const keys = groupKeys(options.emulator);
  const entry = await startEntryPoint({
    METABASE_URL: options.emulator.url, OIDC_ISSUER: options.idp.issuer, OIDC_AUDIENCE: AUDIENCE, POLICY_FILE: policyFile,
    ANALYSTS_KEY: keys.analyst, SALES_KEY: keys.sales, AGENTS_KEY: keys.agents, SUPPORT_PASSWORD: credentialOf(options.emulator, 'Support').password,
    LOG_LEVEL: 'warn', ...(options.auditFile ? { AUDIT: 'on', AUDIT_LOG_FILE: join(dir, 'audit.log') } : { AUDIT: 'off' }), ...options.env,
  });
  const base = entry.url.replace(/\/graphql$/, '');
  return {
    entry, url: entry.url, base, dir,
    async post(body, token, headers = {}) {
      const started = performance.now();
      const res = await fetch(entry.url, {
        method: 'POST', signal: AbortSignal.timeout(30_000),
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, text, headers: res.headers, ms: performance.now() - started };
    },
    async healthy(timeoutMs = 2_000) {
      try {
        const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
        return res.status === 200;
      } catch {
        return false;
      }
    },
    async close() {
      entry.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ProductionStack {
  readonly mb: Emulator;
  readonly idp: Idp;
  readonly gw: Production;
  /** Stops the gateway, then the issuer, then the emulator. */
  close(): Promise<void>;
}

/**
 * The emulator, the real OIDC test issuer and the production gateway in its own process, started
 * in that order; `beforeGateway` runs once the issuer is up (to set claims for its login form).
 */
export async function startProductionStack(options: Omit<Parameters<typeof startProduction>[0], 'emulator' | 'idp'> & { beforeGateway?: (idp: Idp) => void } = {}): Promise<ProductionStack> {
  const { beforeGateway, ...rest } = options;
  const mb = await emulator();
  const idp = await startIdp();
  beforeGateway?.(idp);
  const gw = await startProduction({ emulator: mb, idp, ...rest });
  return {
    mb, idp, gw,
    async close() {
      await gw.close();
      await idp.close();
      await mb.close();
    },
  };
}

