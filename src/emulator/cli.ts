/**
 * `npm run emulator [-- flags]`: runs the Metabase emulator alone and prints, for each demo group,
 * an API key and a login. Keys and passwords are made at start and live only in this process.
 */
import { parseArgs } from 'node:util';
import { startEmulator, type QueryFailureMode } from './server.js';

const USAGE = `Usage: npm run emulator -- [options]
  --port N                 port to listen on (default 3000; 0 picks a free one)
  --host ADDR              interface to listen on (default 127.0.0.1)
  --seed N                 seed of the sample data (default 20260301)
  --latency-ms N           milliseconds added to every request (default 0)
  --failure-rate X         share of requests answered 500, 0 to 1 (default 0)
  --failure-mode MODE      failed query runs: http-status (default) or legacy-202
  --abort-mid-stream       cut query-run responses half-way
  --session-age-minutes N  session lifetime (default 20160)
  --help                   show this text`;

function number(name: string, raw: string | undefined, fallback: number, { min = 0, max = Infinity } = {}): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new TypeError(`--${name} must be a number from ${min} to ${max}, received "${raw}"`);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' }, host: { type: 'string' }, seed: { type: 'string' },
      'latency-ms': { type: 'string' }, 'failure-rate': { type: 'string' }, 'failure-mode': { type: 'string' },
      'abort-mid-stream': { type: 'boolean' }, 'session-age-minutes': { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const failureMode = values['failure-mode'] ?? 'http-status';
  if (failureMode !== 'http-status' && failureMode !== 'legacy-202') {
    throw new TypeError(`--failure-mode must be http-status or legacy-202, received "${failureMode}"`);
  }
  const emulator = await startEmulator({
    port: number('port', values.port, 3000, { max: 65535 }),
    host: values.host ?? '127.0.0.1',
    seed: number('seed', values.seed, 20260301),
    latencyMs: number('latency-ms', values['latency-ms'], 0),
    failureRate: number('failure-rate', values['failure-rate'], 0, { max: 1 }),
    queryFailureMode: failureMode as QueryFailureMode,
    abortMidStream: values['abort-mid-stream'] ?? false,
    sessionAgeMinutes: number('session-age-minutes', values['session-age-minutes'], 20_160, { min: 1 }),
  });
  console.log(`Metabase emulator listening on ${emulator.url}`);
  console.log('Demo credentials (made at start; valid until this process stops):');
  for (const c of emulator.credentials) {
    console.log(`  ${c.group.padEnd(15)} X-API-Key: ${c.apiKey}`);
    console.log(`  ${''.padEnd(15)} login:     ${c.email} / ${c.password}`);
  }
  console.log(`Try: curl -H "X-API-Key: <key>" ${emulator.url}/api/user/current`);
  const stop = (): void => {
    emulator.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
