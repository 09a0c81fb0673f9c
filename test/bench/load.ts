/**
 * The load side of `npm run bench`, run in its own process so the load generator does not share an
 * event loop with the servers it measures. Reads one job as JSON from argv, prints one result as JSON.
 *   graphql: one POST per operation, driven by autocannon.
 *   rest:    the hand-written client: GET the dashboard, then run every card (in parallel).
 */
import autocannon from 'autocannon';
import { Agent, request } from 'undici';

export interface LoadJob {
  readonly mode: 'graphql' | 'rest';
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Stop after this many operations instead of after the duration (for counting upstream calls). */
  readonly amount?: number;
  /** rest: the dashboard to fetch and run. */
  readonly dashboardId?: number;
}

export interface LoadResult {
  readonly operations: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failures: number;
  /** Operations started, finished or not (autocannon may send past `amount`). */
  readonly sent: number;
}

async function graphql(job: LoadJob): Promise<LoadResult> {
  if (job.amount) {
    // Counting mode: exactly `amount` whole operations, one after another (autocannon may overshoot).
    let failures = 0;
    for (let i = 0; i < job.amount; i++) {
      const res = await request(job.url, { method: 'POST', headers: job.headers, body: job.body });
      await res.body.dump();
      if (res.statusCode !== 200) failures++;
    }
    return { operations: job.amount - failures, opsPerSecond: 0, p50Ms: 0, p99Ms: 0, failures, sent: job.amount };
  }
  const r = await autocannon({ url: job.url, method: 'POST', headers: job.headers, body: job.body, connections: job.connections, duration: job.durationSeconds });
  return { operations: r.requests.total, opsPerSecond: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, failures: r.non2xx + r.errors, sent: r.requests.sent };
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function rest(job: LoadJob): Promise<LoadResult> {
  const dispatcher = new Agent({ connections: job.connections * 8 });
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const res = await request(`${job.url}${path}`, {
      dispatcher, method, headers: { ...job.headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.body.json();
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode}`);
    return json;
  };
  const latencies: number[] = [];
  let failures = 0;
  const until = performance.now() + job.durationSeconds * 1000;
  let started = 0;
  const more = (): boolean => (job.amount ? started++ < job.amount : performance.now() < until);
  const worker = async (): Promise<void> => {
    while (more()) {
      const t0 = performance.now();
      try {
        const d = (await call('GET', `/api/dashboard/${job.dashboardId}`)) as { dashcards: { id: number; card_id: number | null; card?: { name?: string } }[] };
        await Promise.all(d.dashcards.filter((dc) => dc.card_id !== null && dc.card?.name).map((dc) =>
          call('POST', `/api/dashboard/${job.dashboardId}/dashcard/${dc.id}/card/${dc.card_id}/query`, { parameters: [] })));
        latencies.push(performance.now() - t0);
      } catch {
        failures++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: job.connections }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  return { operations: latencies.length, opsPerSecond: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), failures, sent: latencies.length + failures };
}

const job = JSON.parse(process.argv[2]!) as LoadJob;
const result = await (job.mode === 'graphql' ? graphql(job) : rest(job));
process.stdout.write(`${JSON.stringify(result)}\n`);
