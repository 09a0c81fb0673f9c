/**
 * The self-contained demo that `npm start` runs with no settings: the Metabase emulator, a local
 * OpenID issuer whose key is made at start, and the gateway, with one role per demo group. Tests and
 * the benchmark start the same stack.
 */
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { AuditLog } from './audit/audit.js';
import type { Config } from './config/config.js';
import { VettedOperations } from './gate/persisted.js';
import { createGateway, type Gateway } from './app.js';
import { startEmulator, type DemoCredential, type Emulator } from './emulator/server.js';
import { startDevIssuer, type DevIssuer } from './identity/dev-issuer.js';
import { IssuerRegistry } from './identity/issuers.js';
import { createMetabasePool } from './metabase/client.js';
import { environmentIssuer } from './policy/policy.js';
import { metabaseSettings, PolicyStore } from './policy/store.js';
import { openSharedState } from './server/shared-state.js';

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

/** The gateway half of the demo: issuer, policy and gateway, in front of a Metabase that runs elsewhere. */
export interface DemoGateway {
  readonly gatewayUrl: string;
  readonly issuer: DevIssuer;
  /** A ready bearer token per demo user. */
  readonly tokens: Readonly<Record<DemoUser, string>>;
  readonly gateway: Gateway;
  readonly policy: PolicyStore;
  close(): Promise<void>;
}

export interface DemoStack extends DemoGateway {
  readonly emulator: Emulator;
}

/** Where the demo's Metabase answers, and the groups' credentials it made at start. */
export interface DemoMetabase {
  readonly url: string;
  readonly credentials: readonly DemoCredential[];
}

export const DEMO_AUDIENCE = 'metabase-gateway';

/** The emulator's secrets as the variables the demo policy names. */
export function demoSecrets(emulator: Pick<DemoMetabase, 'credentials'>): Record<string, string> {
  const of = (group: string) => emulator.credentials.find((c) => c.group === group)!;
  return {
    DEMO_METABASE_KEY_ANALYSTS: of('Analysts').apiKey,
    DEMO_METABASE_KEY_SALES: of('Sales').apiKey,
    DEMO_METABASE_KEY_AGENTS: of('Agents').apiKey,
    DEMO_METABASE_PASSWORD_SUPPORT: of('Support').password,
  };
}

export interface DemoOptions {
  readonly logger?: Logger;
  readonly policyFile?: string;
  readonly audit?: AuditLog;
}

/** The emulator, then the gateway in front of it, in this process. */
export async function startDemo(config: Config, options: DemoOptions & { emulatorPort?: number } = {}): Promise<DemoStack> {
  const emulator = await startEmulator({ port: options.emulatorPort ?? 0 });
  try {
    const gateway = await startDemoGateway(config, emulator, options);
    return {
      ...gateway, emulator,
      async close() {
        await gateway.close();
        await emulator.close();
      },
    };
  } catch (err) {
    await emulator.close();
    throw err;
  }
}

/** The demo's issuer, policy and gateway in front of a Metabase (the emulator) that may run in another process. */
export async function startDemoGateway(config: Config, emulator: DemoMetabase, options: DemoOptions = {}): Promise<DemoGateway> {
  const issuer = await startDevIssuer({ audience: DEMO_AUDIENCE });
  const pool = createMetabasePool();
  const logger = options.logger ?? (await import('pino')).pino({ level: 'silent' });
  const vetted = VettedOperations.load();
  const policy = await PolicyStore.open({
    file: options.policyFile ?? config.policyFile ?? DEMO_POLICY_FILE, vettedOperations: vetted.names,
    env: { ...process.env, ...demoSecrets(emulator) },
    metabase: metabaseSettings(config, emulator.url, pool),
    logger, drainGraceMs: config.drainGraceMs, watchIntervalMs: config.policyWatchIntervalMs,
    // The demo's own issuer, read with the demo policy's claims (a policy file given with POLICY_FILE may list its own).
    defaultIssuer: environmentIssuer({ issuer: issuer.issuer, audiences: [DEMO_AUDIENCE], algorithms: ['RS256'] }),
  });
  policy.watch();
  const shared = openSharedState(config, logger);
  let demoUsers: { name: string; token: string }[] = [];
  const gateway = await createGateway(config, {
    demoUsers: () => demoUsers,
    policy,
    shared,
    vetted,
    tokens: new IssuerRegistry(() => policy.current.issuers, { maxTokenBytes: config.tokens.maxBytes, verifiedTokenMaxAgeMs: config.tokens.cacheMaxAgeMs, env: process.env }),
    metabaseReady: () => policy.clients()[0]!.health(),
    logger,
    ...(options.audit ? { audit: options.audit } : {}),
  });
  const gatewayUrl = await gateway.listen(config.port, config.host);
  const tokens = Object.fromEntries(await Promise.all(DEMO_USERS.map(async (u) =>
    [u.user, await issuer.issue(u.subject, { ...u.claims, name: u.name, ...(u.email ? { email: u.email } : {}) })] as const))) as Record<DemoUser, string>;
  demoUsers = Object.entries(tokens).map(([name, token]) => ({ name, token }));
  return {
    gatewayUrl, issuer, tokens, gateway, policy,
    async close() {
      await gateway.close();
      await policy.close();
      await pool.close();
      await issuer.close();
      await shared.close();
    },
  };
}
