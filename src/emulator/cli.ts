/**
 * `npm run emulator [-- flags]`: runs the Metabase emulator alone and prints, for each demo group,
 * an API key and a login. Keys and passwords are made at start and live only in this process.
 */
import { parseArgs } from 'node:util';
import { startEmulator, type FailureStyle, type QueryFailureMode } from './server.js';

const USAGE = `Usage: npm run emulator -- [options]
  --port N                 port to listen on (default 3000; 0 picks a free one)
  --host ADDR              interface to listen on (default 127.0.0.1)
  --seed N                 seed of the sample data (default 20260301)
  --latency-ms N           milliseconds added to every request (default 0)
  --failure-rate X         share of requests answered as failures, 0 to 1 (default 0)
  --failure-style STYLE    what those failures answer: exception (default; a 500 with Metabase's
                           exception body), json-message (a 500 naming the app database) or
                           proxy-502 (a proxy's HTML page naming the internal upstream)
  --hide-stacktraces       Metabase's hide-stacktraces setting: 500s say only "Something went wrong"
                           and failed runs carry no via/stacktrace (default: shown, as Metabase)
  --failure-mode MODE      failed query runs: http-status (default) or legacy-202
  --failing-card-ids LIST  comma-separated card ids whose runs fail, quoting the card's SQL
  --abort-mid-stream       cut query-run responses half-way
  --run-latency-ms N       milliseconds added to query runs, on top of --latency-ms (default 0)
  --oversize-body-bytes N  answer every authenticated call but login, logout and health with a
                           streamed JSON body of N bytes (default 0: off)
  --oversize-chunked       send oversized bodies chunked instead of with content-length
  --oversize-gzip          gzip oversized bodies on the fly when the client accepts gzip
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

function cardIds(raw: string | undefined): number[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((part) => {
    const v = part.trim();
    if (!/^[0-9]{1,9}$/.test(v) || Number(v) < 1) throw new TypeError(`--failing-card-ids must be positive integers separated by commas, received "${raw}"`);
    return Number(v);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' }, host: { type: 'string' }, seed: { type: 'string' },
      'latency-ms': { type: 'string' }, 'failure-rate': { type: 'string' }, 'failure-mode': { type: 'string' },
      'abort-mid-stream': { type: 'boolean' }, 'session-age-minutes': { type: 'string' }, help: { type: 'boolean' },
      'failure-style': { type: 'string' }, 'hide-stacktraces': { type: 'boolean' }, 'failing-card-ids': { type: 'string' },
      'run-latency-ms': { type: 'string' }, 'oversize-body-bytes': { type: 'string' }, 'oversize-chunked': { type: 'boolean' },
      'oversize-gzip': { type: 'boolean' },
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
  const failureStyle = values['failure-style'] ?? 'exception';
  if (failureStyle !== 'exception' && failureStyle !== 'json-message' && failureStyle !== 'proxy-502') {
    throw new TypeError(`--failure-style must be exception, json-message or proxy-502, received "${failureStyle}"`);
  }
  const emulator = await startEmulator({
    port: number('port', values.port, 3000, { max: 65535 }),
    host: values.host ?? '127.0.0.1',
    seed: number('seed', values.seed, 20260301),
    latencyMs: number('latency-ms', values['latency-ms'], 0),
    failureRate: number('failure-rate', values['failure-rate'], 0, { max: 1 }),
    queryFailureMode: failureMode as QueryFailureMode,
    abortMidStream: values['abort-mid-stream'] ?? false,
    failureStyle: failureStyle as FailureStyle,
    hideStacktraces: values['hide-stacktraces'] ?? false,
    failingCardIds: cardIds(values['failing-card-ids']),
    runLatencyMs: number('run-latency-ms', values['run-latency-ms'], 0),
    oversizeBodyBytes: number('oversize-body-bytes', values['oversize-body-bytes'], 0, { max: Number.MAX_SAFE_INTEGER }),
    oversizeDeclareLength: !(values['oversize-chunked'] ?? false),
    oversizeGzip: values['oversize-gzip'] ?? false,
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
