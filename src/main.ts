#!/usr/bin/env node
/**
 * Entry point. `npm start`: with no settings it runs the demo; with METABASE_URL, OIDC settings and
 * POLICY_FILE it serves a real Metabase. `explain <token>` prints how a token is read under the same
 * settings. The only file that reads the process environment, handles signals or exits.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { createGateway } from './app.js';
import { VettedOperations } from './gate/persisted.js';
import { startDemo } from './demo.js';
import { openSharedState } from './server/shared-state.js';
import { explainToken } from './explain.js';
import { createAuditLog, NO_AUDIT, type AuditLog } from './audit/audit.js';
import { IssuerRegistry } from './identity/issuers.js';
import { createLogger } from './logging/logger.js';
import { createMetabasePool } from './metabase/client.js';
import { effectiveIssuers, environmentIssuer, loadPolicyFile, PolicyError } from './policy/policy.js';
import { metabaseSettings, PolicyStore } from './policy/store.js';

/** What the drain may take beyond the grace period before the process exits regardless. */
const SHUTDOWN_MARGIN_MS = 3_000;

interface Running {
  readonly url: string;
  readonly policy: PolicyStore;
  close(): Promise<void>;
}

function auditLogOf(config: Config): AuditLog {
  return config.audit.enabled
    ? createAuditLog({ file: config.audit.file, format: config.audit.format, redactVariables: config.audit.redactVariables })
    : NO_AUDIT;
}

async function production(config: Config): Promise<Running> {
  const logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'info', pretty: config.logPretty });
  const audit = auditLogOf(config);
  const pool = createMetabasePool();
  const vetted = VettedOperations.load();
  const policy = await PolicyStore.open({
    file: config.policyFile!, vettedOperations: vetted.names, env: process.env, logger, drainGraceMs: config.drainGraceMs, watchIntervalMs: config.policyWatchIntervalMs,
    metabase: metabaseSettings(config, config.metabase.url!, pool),
    ...(config.oidc ? { defaultIssuer: environmentIssuer(config.oidc), defaultIssuerExclusive: true } : {}),
  });
  policy.watch();
  const tokens = new IssuerRegistry(() => policy.current.issuers, {
    maxTokenBytes: config.tokens.maxBytes, keyRefreshCooldownMs: config.tokens.keyRefreshCooldownMs, verifiedTokenMaxAgeMs: config.tokens.cacheMaxAgeMs, env: process.env,
    onKeyRefreshError: (issuer, err) => logger.warn({ event: 'idp.keys.refresh-failed', issuer, problem: (err as Error).message }, 'identity provider keys could not be refreshed; cached keys stay in use'),
  });
  // Keys fetched before the first request; if an IdP is down now, requests retry it (spaced out).
  await tokens.warmUp((issuer, err) => logger.warn({ event: 'idp.keys.unavailable', issuer, problem: (err as Error).message }, 'identity provider keys could not be fetched at start'));
  const shared = openSharedState(config, logger);
  const gateway = await createGateway(config, {
    policy,
    tokens,
    metabaseReady: () => policy.clients()[0]!.health(),
    logger,
    audit,
    shared,
    vetted,
  });
  const url = await gateway.listen(config.port, config.host);
  return {
    url, policy,
    async close() {
      try {
        await gateway.close();
      } finally {
        // Every request has finished and its record is written: make sure the records reach the file.
        await audit.close();
        await policy.close();
        await pool.close();
        await shared.close();
        logger.flush();
      }
    },
  };
}

async function serve(config: Config): Promise<void> {
  let running: Running;
  if (config.mode === 'demo') {
    const audit = auditLogOf(config);
    const demo = await startDemo(config, { logger: createLogger({ level: process.env['LOG_LEVEL'] ?? 'warn', pretty: config.logPretty }), audit });
    running = {
      url: demo.gatewayUrl, policy: demo.policy,
      async close() {
        try {
          await demo.close();
        } finally {
          await audit.close();
        }
      },
    };
    console.log(`Gateway:          ${demo.gatewayUrl}/graphql`);
    console.log(`Explorer:         ${demo.gatewayUrl}/graphiql   (open it in a browser and choose a demo user)`);
    console.log(`MCP (for agents): ${demo.gatewayUrl}/mcp   (the agent's token below; see the README's MCP section)`);
    console.log(`Metabase (emulated): ${demo.emulator.url}`);
    console.log(`Identity issuer:  ${demo.issuer.issuer}`);
    console.log(`Policy:           ${demo.policy.current.policy.source} (edit it, or send SIGHUP, to reload)`);
    console.log('\nBearer tokens of the demo users (valid 12 hours, signed by a key made at start):');
    for (const [user, token] of Object.entries(demo.tokens)) console.log(`\n  ${user}:\n  ${token}`);
    console.log(`\nTry:\n  curl -s ${demo.gatewayUrl}/graphql -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \\
    -d '{"query":"{ viewer { role availableRoles } dashboard(id: 1) { name cards { question { name } run { rowCount rows } } } }"}'`);
  } else {
    running = await production(config);
    console.log(`Gateway listening on ${running.url}/graphql`);
    if (config.explorer.enabled) console.log(`Explorer at ${running.url}/graphiql${config.explorer.clientId ? '' : ' (no EXPLORER_CLIENT_ID: sign in by pasting a token)'}`);
    // npm does not pass SIGTERM on to the process it started: in production the gateway must be
    // the process that receives it (`node dist/main.js`, or `exec` in a container's entry point).
    if (process.env['npm_lifecycle_event'] !== undefined) {
      console.warn('Started through npm: a SIGTERM sent to npm does not reach the gateway, so it cannot drain. Run `node dist/main.js` (after `npm run build`) in production.');
    }
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining in-flight requests (up to ${config.drainGraceMs} ms)…`);
    // The drain ends within the grace period plus half a second; this is the bound if anything hangs.
    const bound = setTimeout(() => {
      console.error(`shutdown did not finish within ${config.drainGraceMs + SHUTDOWN_MARGIN_MS} ms; exiting`);
      process.exit(1);
    }, config.drainGraceMs + SHUTDOWN_MARGIN_MS);
    bound.unref();
    running.close().then(() => process.exit(0), (err: unknown) => {
      console.error('shutdown failed:', err instanceof Error ? err.message : err);
      process.exit(1);
    });
  };
  // `on`, not `once`: a second signal must find a listener, or the process dies before the drain ends.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP reads the policy file and every credential source again; a bad policy is refused and logged.
  process.on('SIGHUP', () => void running.policy.reload('SIGHUP'));
}

async function explain(config: Config, arg: string | undefined): Promise<void> {
  if (!arg) throw new ConfigError(['usage: explain <token>, or explain - to read the token from standard input']);
  if (!config.policyFile) {
    throw new ConfigError(['explain reads the server\'s settings: set METABASE_URL and POLICY_FILE (and OIDC_ISSUER and OIDC_AUDIENCE unless the policy lists issuers) as for the server']);
  }
  const token = (arg === '-' ? readFileSync(0, 'utf8') : arg).trim().replace(/^Bearer\s+/i, '');
  const policy = await loadPolicyFile(config.policyFile);
  const issuers = effectiveIssuers(policy, config.oidc ? environmentIssuer(config.oidc) : undefined, true);
  const result = await explainToken(token, policy, issuers, new IssuerRegistry(() => issuers, { maxTokenBytes: config.tokens.maxBytes, env: process.env }));
  console.log(result.lines.join('\n'));
  process.exitCode = result.verified ? 0 : 2;
}

async function main(): Promise<void> {
  const [command, arg] = process.argv.slice(2);
  const config = loadConfig(process.env);
  if (command === 'explain') return explain(config, arg);
  if (command !== undefined && command !== 'serve') throw new ConfigError([`unknown command "${command}"; expected serve (the default) or explain <token>`]);
  return serve(config);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError || err instanceof PolicyError ? err.message : err instanceof Error ? `failed to start: ${err.message}` : err);
  process.exit(1);
});
