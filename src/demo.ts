/**
 * The self-contained demo that `npm start` runs with no settings: the Metabase emulator, a local
 * OpenID issuer whose key is made at start, and the gateway, with one role per demo group. Tests and
 * the benchmark start the same stack.
 */
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { AuditLog } from './audit/audit.js';
import type { Config } from './config/config.js';
import { createGateway, type Gateway } from './app.js';
import { startEmulator, type Emulator } from './emulator/server.js';
import { startDevIssuer, type DevIssuer } from './identity/dev-issuer.js';
import { IssuerRegistry } from './identity/issuers.js';
import { createMetabasePool } from './metabase/client.js';
import { environmentIssuer } from './policy/policy.js';
import { PolicyStore } from './policy/store.js';

/** The demo's policy file: every policy feature, on the emulator's groups. */
export const DEMO_POLICY_FILE = fileURLToPath(new URL('./demo-policy.yaml', import.meta.url));

/**
 * Demo users. Their tokens carry claims in the shapes real IdPs use: a `groups` claim, Keycloak's
 * `realm_access.roles` (support), an agent's `azp` (its OAuth client), and a contractor whose group
 * fits no role, to show how the gateway explains that.
 */
export const DEMO_USERS = [
  { user: 'analyst', subject: 'ana', name: 'Ana Analyst', email: 'ana@example.test', claims: { groups: ['analysts'] } },
  { user: 'sales', subject: 'sam', name: 'Sam Seller', email: 'sam@example.test', claims: { groups: ['sales'] } },
  { user: 'support', subject: 'sue', name: 'Sue Support', email: 'sue@example.test', claims: { realm_access: { roles: ['support'] } } },
  { user: 'agent', subject: 'reporting-agent', name: 'Reporting Agent', email: null, claims: { azp: 'reporting-agent', scope: 'metabase:read' } },
  { user: 'contractor', subject: 'cora', name: 'Cora Contractor', email: 'cora@example.test', claims: { groups: ['contractors'] } },
] as const;

export type DemoUser = (typeof DEMO_USERS)[number]['user'];

export interface DemoStack {
  readonly gatewayUrl: string;
  readonly emulator: Emulator;
  readonly issuer: DevIssuer;
  /** A ready bearer token per demo user. */
  readonly tokens: Readonly<Record<DemoUser, string>>;
  readonly gateway: Gateway;
  readonly policy: PolicyStore;
  close(): Promise<void>;
}

export const DEMO_AUDIENCE = 'metabase-gateway';

/** The emulator's secrets as the variables the demo policy names. */
export function demoSecrets(emulator: Emulator): Record<string, string> {
  const of = (group: string) => emulator.credentials.find((c) => c.group === group)!;
  return {
    DEMO_METABASE_KEY_ANALYSTS: of('Analysts').apiKey,
    DEMO_METABASE_KEY_SALES: of('Sales').apiKey,
    DEMO_METABASE_KEY_AGENTS: of('Agents').apiKey,
    DEMO_METABASE_PASSWORD_SUPPORT: of('Support').password,
  };
}

export async function startDemo(config: Config, options: { emulatorPort?: number; logger?: Logger; policyFile?: string; audit?: AuditLog } = {}): Promise<DemoStack> {
  const emulator = await startEmulator({ port: options.emulatorPort ?? 0 });
  const issuer = await startDevIssuer({ audience: DEMO_AUDIENCE });
  const pool = createMetabasePool();
  const logger = options.logger ?? (await import('pino')).pino({ level: 'silent' });
  const policy = await PolicyStore.open({
    file: options.policyFile ?? config.policyFile ?? DEMO_POLICY_FILE,
    env: { ...process.env, ...demoSecrets(emulator) },
    metabase: { baseUrl: emulator.url, timeoutMs: config.metabase.timeoutMs, maxConcurrent: config.metabase.maxConcurrent, maxResponseBytes: config.metabase.maxResponseBytes, dispatcher: pool },
    logger, drainGraceMs: config.drainGraceMs, watchIntervalMs: config.policyWatchIntervalMs,
    // The demo's own issuer, read with the demo policy's claims (a policy file given with POLICY_FILE may list its own).
    defaultIssuer: environmentIssuer({ issuer: issuer.issuer, audiences: [DEMO_AUDIENCE], algorithms: ['RS256'] }),
  });
  policy.watch();
  const gateway = await createGateway(config, {
    policy,
    tokens: new IssuerRegistry(() => policy.current.issuers, { maxTokenBytes: config.tokens.maxBytes, env: process.env }),
    metabaseReady: () => policy.clients()[0]!.health(),
    logger,
    ...(options.audit ? { audit: options.audit } : {}),
  });
  const gatewayUrl = await gateway.listen(config.port, config.host);
  const tokens = Object.fromEntries(await Promise.all(DEMO_USERS.map(async (u) =>
    [u.user, await issuer.issue(u.subject, { ...u.claims, name: u.name, ...(u.email ? { email: u.email } : {}) })] as const))) as Record<DemoUser, string>;
  return {
    gatewayUrl, emulator, issuer, tokens, gateway, policy,
    async close() {
      await gateway.close();
      await policy.close();
      await pool.close();
      await issuer.close();
      await emulator.close();
    },
  };
}
