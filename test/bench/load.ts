/**
 * The load side of `npm run bench`, run in its own process so the load generator shares an event loop
 * with none of the servers it measures. One generator drives every side: `connections` workers, each
 * starting its next operation when the previous one ends, over keep-alive connections (undici), until
 * the time is up; each operation started is finished, so upstream calls per operation count exactly.
 * Reads one job as JSON from argv, prints one result as JSON.
 *   graphql: one POST per operation: a 200 without `errors`.
 *   mcp:     one POST of a JSON-RPC `tools/call` per operation (stateless streamable HTTP, no initialize):
 *            a 200 with a `result` that is not `isError`, has `structuredContent` and lists no `errors`.
 *   rest:    the hand-written client: GET the dashboard, then run every card (in parallel).
 */
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';

export interface LoadJob {
  readonly mode: 'graphql' | 'mcp' | 'rest';
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly connections: number;
  readonly durationSeconds: number;
  /** rest: the dashboard to fetch and run. */
  readonly dashboardId?: number;
}

export interface LoadResult {
  /** Operations that succeeded. */
  readonly operations: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failures: number;
  /** The first failure's status or message, to say why figures are not comparable. */
  readonly firstFailure?: string;
}

class Failed extends Error {}

interface McpResult { isError?: boolean; content?: unknown; structuredContent?: Record<string, unknown> }

type Call = (method: 'GET' | 'POST', path: string, body?: string) => Promise<unknown>;

function caller(job: LoadJob, dispatcher: Agent): Call {
  return async (method, path, body) => {
    const res = await request(`${job.url}${path}`, {
      dispatcher, method, headers: { ...job.headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body,
    });
    const json = (await res.body.json()) as { errors?: unknown[]; error?: unknown; result?: McpResult };
    if (job.mode === 'rest' ? res.statusCode >= 300 : res.statusCode !== 200) throw new Failed(`${method} ${path}: ${res.statusCode} ${JSON.stringify(json).slice(0, 300)}`);
    if (job.mode === 'graphql' && json.errors) throw new Failed(`${method} ${path}: ${JSON.stringify(json.errors).slice(0, 300)}`);
    if (job.mode === 'mcp') {
      const r = json.result;
      if (json.error || !r) throw new Failed(`${method} ${path}: no result: ${JSON.stringify(json.error ?? json).slice(0, 300)}`);
      if (r.isError === true) throw new Failed(`${method} ${path}: isError: ${JSON.stringify(r.content).slice(0, 300)}`);
      if (typeof r.structuredContent !== 'object' || r.structuredContent === null) throw new Failed(`${method} ${path}: no structuredContent`);
      if (r.structuredContent['errors']) throw new Failed(`${method} ${path}: ${JSON.stringify(r.structuredContent['errors']).slice(0, 300)}`);
    }
    return json;
  };
}

/** One operation of the job: resolves when it is whole, throws when it failed. */
function operation(job: LoadJob, call: Call): () => Promise<unknown> {
  if (job.mode !== 'rest') return () => call('POST', '', job.body);
  const runBody = JSON.stringify({ parameters: [] });
  return async () => {
    const d = (await call('GET', `/api/dashboard/${job.dashboardId}`)) as { dashcards: { id: number; card_id: number | null; card?: { name?: string } }[] };
    return Promise.all(d.dashcards.filter((dc) => dc.card_id !== null && dc.card?.name).map((dc) =>
      call('POST', `/api/dashboard/${job.dashboardId}/dashcard/${dc.id}/card/${dc.card_id}/query`, runBody)));
  };
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

export async function drive(job: LoadJob): Promise<LoadResult> {
  // REST runs a dashboard's cards in parallel: room for each worker's calls at once.
  const dispatcher = new Agent({ connections: job.mode === 'rest' ? job.connections * 8 : job.connections, keepAliveTimeout: 30_000 });
  const op = operation(job, caller(job, dispatcher));
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;
  const until = performance.now() + job.durationSeconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      const t0 = performance.now();
      try {
        await op();
        latencies.push(performance.now() - t0);
      } catch (err) {
        failures++;
        firstFailure ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: job.connections }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  return {
    operations: latencies.length, opsPerSecond: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), failures,
    ...(firstFailure ? { firstFailure } : {}),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await drive(JSON.parse(process.argv[2]!) as LoadJob);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
