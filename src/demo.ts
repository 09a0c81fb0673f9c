/**
 * The self-contained demo that `npm start` runs with no settings: the Metabase emulator, a local
 * OpenID issuer whose key is made at start, and the gateway, with one role per demo group. Tests and
 * the benchmark start the same stack.
 */
import type { Config } from './config/config.js';
import { createGateway, type Gateway } from './app.js';
import { startEmulator, type Emulator } from './emulator/server.js';
import { startDevIssuer, type DevIssuer } from './identity/dev-issuer.js';
import { createTokenVerifier } from './identity/verifier.js';
import { MetabaseClient, createMetabasePool } from './metabase/client.js';
import { apiKeyCredential } from './metabase/credentials.js';

/** Demo users: each one's token carries a group that selects the role of the same emulator group. */
export const DEMO_USERS = [
  { user: 'analyst', subject: 'ana', name: 'Ana Analyst', email: 'ana@example.test', group: 'analysts', emulatorGroup: 'Analysts' },
  { user: 'sales', subject: 'sam', name: 'Sam Seller', email: 'sam@example.test', group: 'sales', emulatorGroup: 'Sales' },
  { user: 'support', subject: 'sue', name: 'Sue Support', email: 'sue@example.test', group: 'support', emulatorGroup: 'Support' },
  { user: 'agent', subject: 'reporting-agent', name: 'Reporting Agent', email: null, group: 'agents', emulatorGroup: 'Agents' },
] as const;

export type DemoUser = (typeof DEMO_USERS)[number]['user'];

export interface DemoStack {
  readonly gatewayUrl: string;
  readonly emulator: Emulator;
  readonly issuer: DevIssuer;
  /** A ready bearer token per demo user. */
  readonly tokens: Readonly<Record<DemoUser, string>>;
  readonly gateway: Gateway;
  close(): Promise<void>;
}

export const DEMO_AUDIENCE = 'metabase-gateway';

export async function startDemo(config: Config, options: { emulatorPort?: number; logger?: boolean } = {}): Promise<DemoStack> {
  const emulator = await startEmulator({ port: options.emulatorPort ?? 0 });
  const issuer = await startDevIssuer({ audience: DEMO_AUDIENCE });
  const pool = createMetabasePool();
  const clientFor = (group: string): MetabaseClient => {
    const credential = emulator.credentials.find((c) => c.group === group)!;
    return new MetabaseClient({
      baseUrl: emulator.url, credential: apiKeyCredential(credential.apiKey), dispatcher: pool,
      timeoutMs: config.metabase.timeoutMs, maxConcurrent: config.metabase.maxConcurrent,
    });
  };
  const roles = DEMO_USERS.map((u) => ({ name: u.user, groups: [u.group], client: clientFor(u.emulatorGroup) }));
  const gateway = await createGateway(config, {
    roles,
    verifyToken: createTokenVerifier({ issuer: issuer.issuer, audience: DEMO_AUDIENCE }),
    metabaseReady: () => roles[0]!.client.health(),
    logger: options.logger ?? false,
  });
  const gatewayUrl = await gateway.listen(config.port, config.host);
  const tokens = Object.fromEntries(await Promise.all(DEMO_USERS.map(async (u) =>
    [u.user, await issuer.issue(u.subject, { groups: [u.group], name: u.name, ...(u.email ? { email: u.email } : {}) })] as const))) as Record<DemoUser, string>;
  return {
    gatewayUrl, emulator, issuer, tokens, gateway,
    async close() {
      await gateway.close();
      await Promise.all(roles.map((r) => r.client.close()));
      await pool.close();
      await issuer.close();
      await emulator.close();
    },
  };
}
