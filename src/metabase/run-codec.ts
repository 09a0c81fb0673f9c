/**
 * A query result as stored text (result cache, single-flight hand-over, stored runs): Metabase's own
 * run body shape, with the rows spliced in as the JSON text they came as. Reading it back goes
 * through the same strict check and reader as an answer from Metabase (scanRunBody, then
 * readQueryResult), so a damaged or foreign entry is refused, never served; the rows stay text.
 *
 * JSON was measured against MessagePack for a 2,000-row run (`npm run bench -- codec`): see the
 * README's Benchmarks section for the figures and why JSON was kept.
 */
import { Reader } from './decode.js';
import { scanRunBody } from './raw-rows.js';
import { readQueryResult, type QueryResult } from './types.js';

/** The stored text of `result`: at most `count` rows (all by default), and when it was stored. */
export function encodeRun(result: QueryResult, storedAt: number, count?: number): string {
  const all = result.rowsJson ?? result.rows;
  const n = count === undefined ? all.length : Math.max(0, Math.min(count, all.length));
  const rows = result.rowsJson ? result.rowsJson.json(n).text : JSON.stringify(n < result.rows.length ? result.rows.slice(0, n) : result.rows);
  const cols = JSON.stringify(result.columns.map((c) => ({
    name: c.name, display_name: c.displayName, base_type: c.baseType, effective_type: c.effectiveType, semantic_type: c.semanticType,
  })));
  const rest = JSON.stringify({
    status: 'completed', row_count: n, running_time: result.runningTimeMs, started_at: result.startedAt,
    cached: result.cached ? true : null, context: result.context, stored_at: storedAt,
  });
  const truncated = result.truncatedAt === null ? '' : `,"rows_truncated":${result.truncatedAt}`;
  // `rest` is an object's text: its opening brace is replaced by `data` and a comma.
  return `{"data":{"cols":${cols}${truncated},"rows":${rows}},${rest.slice(1)}`;
}

export interface StoredRun {
  readonly result: QueryResult;
  /** When it was stored, in ms since the epoch. */
  readonly storedAt: number;
}

/** Reads stored text back; throws (a SyntaxError or a ShapeError) when it is not a stored run. */
export function decodeRun(text: string): StoredRun {
  const scanned = scanRunBody(text);
  let body: unknown;
  if (scanned) {
    ((scanned.rest as { data: Record<string, unknown> }).data)['rows'] = scanned.rows;
    body = scanned.rest;
  } else {
    body = JSON.parse(text);
  }
  const r = Reader.of(body, 'stored run');
  return { result: readQueryResult(r), storedAt: r.int('stored_at') };
}
