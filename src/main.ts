/**
 * Entry point: `npm start`. With no settings it runs the demo; with METABASE_URL and OIDC settings it
 * serves a real Metabase. The only file that reads the process environment, handles signals or exits.
 */
import 'reflect-metadata';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { createGateway, type Gateway } from './app.js';
import { startDemo } from './demo.js';
import { createTokenVerifier } from './identity/verifier.js';
import { MetabaseClient, createMetabasePool } from './metabase/client.js';

async function production(config: Config): Promise<{ url: string; close(): Promise<void>; gateway: Gateway }> {
  const pool = createMetabasePool();
  const roles = config.roles.map((r) => ({
    name: r.name, groups: r.groups,
    client: new MetabaseClient({ baseUrl: config.metabase.url!, credential: r.credential, dispatcher: pool, timeoutMs: config.metabase.timeoutMs, maxConcurrent: config.metabase.maxConcurrent }),
  }));
  const oidc = config.oidc!;
  const gateway = await createGateway(config, {
    roles,
    verifyToken: createTokenVerifier({ issuer: oidc.issuer, audience: oidc.audience, algorithms: oidc.algorithms }),
    metabaseReady: () => roles[0]!.client.health(),
    groupsClaim: oidc.groupsClaim,
    logger: { redact: ['req.headers.authorization', 'req.headers.cookie'] },
  });
  const url = await gateway.listen(config.port, config.host);
  return {
    url, gateway,
    async close() {
      await gateway.close();
      await Promise.all(roles.map((r) => r.client.close()));
      await pool.close();
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  let close: () => Promise<void>;
  if (config.mode === 'demo') {
    const demo = await startDemo(config);
    close = () => demo.close();
    console.log(`Gateway:          ${demo.gatewayUrl}/graphql`);
    console.log(`Metabase (emulated): ${demo.emulator.url}`);
    console.log(`Identity issuer:  ${demo.issuer.issuer}`);
    console.log('\nBearer tokens of the demo users (valid 12 hours, signed by a key made at start):');
    for (const [user, token] of Object.entries(demo.tokens)) console.log(`\n  ${user}:\n  ${token}`);
    console.log(`\nTry:\n  curl -s ${demo.gatewayUrl}/graphql -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \\
    -d '{"query":"{ dashboard(id: 1) { name cards { question { name } run { rowCount rows } } } }"}'`);
  } else {
    const server = await production(config);
    close = () => server.close();
    console.log(`Gateway listening on ${server.url}/graphql`);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining in-flight requests (up to ${config.drainGraceMs} ms)…`);
    close().then(() => process.exit(0), (err: unknown) => {
      console.error('shutdown failed:', err instanceof Error ? err.message : err);
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err instanceof Error ? `failed to start: ${err.message}` : err);
  process.exit(1);
});
