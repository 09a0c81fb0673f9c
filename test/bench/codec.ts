/**
 * `npm run bench -- codec`: the stored form of a query result (src/metabase/run-codec.ts: Metabase's
 * run body as JSON text, the rows spliced in as the text they came as) against MessagePack (msgpackr),
 * for one 2,000-row run of mixed columns (integers, floats, strings, ISO timestamps, nulls). For each
 * codec: encoded bytes, encode µs, decode µs (into a QueryResult, checked by the same reader as an
 * answer from Metabase), and decode + the rows' JSON text for the response (what the gateway always
 * needs at the end: its answers are JSON). Every operation is timed one call at a time; median and p90
 * of the measured calls, the codecs alternating in ABBA rounds after a warm-up, in one process, CPU
 * only (no store). The round trip is checked first: the decoded rows must deep-equal the original rows
 * and their response text must equal Metabase's rows text, or the run fails.
 *
 * Settings: BENCH_CODEC_ITERATIONS (measured calls per operation and codec, 200, split over the
 * rounds), BENCH_CODEC_WARMUP (calls per operation and codec first, 50), BENCH_ROUNDS (4).
 */
import { isDeepStrictEqual } from 'node:util';
import { pack, unpack } from 'msgpackr';
import { Reader } from '../../src/metabase/decode.js';
import { scanRunBody } from '../../src/metabase/raw-rows.js';
import { decodeRun, encodeRun } from '../../src/metabase/run-codec.js';
import { readQueryResult, type QueryResult } from '../../src/metabase/types.js';

function setting(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min) throw new TypeError(`${name} must be a whole number of at least ${min}, received "${raw}"`);
  return n;
}

const ROWS = 2000;
const STORED_AT = Date.UTC(2025, 0, 15, 12, 0, 0);

// --- the run ------------------------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32), so every run measures the same body. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ADJECTIVES = ['Rustic', 'Ergonomic', 'Sleek', 'Durable', 'Lightweight', 'Heavy-Duty', 'Synergistic', 'Incredible', 'Mediocre', 'Practical', 'Gorgeous', 'Enormous'];
const MATERIALS = ['Paper', 'Wool', 'Steel', 'Granite', 'Cotton', 'Leather', 'Marble', 'Aluminum', 'Silk', 'Bronze', 'Plastic', 'Copper'];
const THINGS = ['Clock', 'Hat', 'Bottle', 'Bench', 'Lamp', 'Knife', 'Keyboard', 'Shoes', 'Wallet', 'Chair', 'Computer', 'Table'];
const CATEGORIES = ['Doohickey', 'Gadget', 'Gizmo', 'Widget'];
const NAMES = ['hudson', 'borer', 'mraz', 'schmitt', 'kuhic', 'ondricka', 'wuckert', 'okuneva', 'rempel', 'lemke', 'zieme', 'dach'];
const DOMAINS = ['gmail.com', 'yahoo.com', 'hotmail.com', 'example.org'];

/** Metabase's column metadata as a run sends it (`data.cols`), for the columns of the rows below. */
function column(id: number, name: string, displayName: string, baseType: string, semanticType: string | null, databaseType: string): Record<string, unknown> {
  return {
    description: null, table_id: name === 'EMAIL' ? 3 : name === 'TITLE' || name === 'CATEGORY' ? 1 : 2, name, settings: null,
    source: 'fields', field_ref: ['field', id, null], effective_type: baseType, nfc_path: null, parent_id: null, id,
    visibility_type: 'normal', display_name: displayName, fingerprint: null, base_type: baseType, semantic_type: semanticType,
    database_type: databaseType, coercion_strategy: null,
  };
}

/** A 2,000-row run body, as Metabase sends it for a join of orders, people and products. */
function metabaseRunBody(): string {
  const rnd = random(20250115);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const start = Date.UTC(2022, 0, 1);
  const rows: unknown[][] = [];
  for (let i = 0; i < ROWS; i++) {
    const createdAt = new Date(start + Math.floor(rnd() * 3 * 365 * 86_400_000)).toISOString().replace('Z', '+00:00');
    const email = rnd() < 0.05 ? null : `${pick(NAMES)}.${pick(NAMES)}${Math.floor(rnd() * 100)}@${pick(DOMAINS)}`;
    const quantity = 1 + Math.floor(rnd() * 12);
    const price = Math.round((10 + rnd() * 90) * 100) / 100;
    // Full double precision, as Metabase's sample database has its totals.
    const total = price * quantity * (1 + rnd() * 0.1);
    const discount = rnd() < 0.9 ? null : Math.round(rnd() * 800) / 100;
    rows.push([10_001 + i, createdAt, email, `${pick(ADJECTIVES)} ${pick(MATERIALS)} ${pick(THINGS)}`, pick(CATEGORIES), quantity, total, discount]);
  }
  const cols = [
    column(41, 'ID', 'ID', 'type/BigInteger', 'type/PK', 'BIGINT'),
    column(42, 'CREATED_AT', 'Created At', 'type/DateTimeWithLocalTZ', 'type/CreationTimestamp', 'TIMESTAMP WITH TIME ZONE'),
    column(31, 'EMAIL', 'User → Email', 'type/Text', 'type/Email', 'CHARACTER VARYING'),
    column(11, 'TITLE', 'Product → Title', 'type/Text', 'type/Title', 'CHARACTER VARYING'),
    column(12, 'CATEGORY', 'Product → Category', 'type/Text', 'type/Category', 'CHARACTER VARYING'),
    column(43, 'QUANTITY', 'Quantity', 'type/Integer', 'type/Quantity', 'INTEGER'),
    column(44, 'TOTAL', 'Total', 'type/Float', null, 'DOUBLE PRECISION'),
    column(45, 'DISCOUNT', 'Discount', 'type/Float', 'type/Discount', 'DOUBLE PRECISION'),
  ];
  const sql = 'SELECT "ORDERS"."ID", "ORDERS"."CREATED_AT", "PEOPLE"."EMAIL", "PRODUCTS"."TITLE", "PRODUCTS"."CATEGORY", "ORDERS"."QUANTITY", "ORDERS"."TOTAL", "ORDERS"."DISCOUNT" FROM "ORDERS" LEFT JOIN "PEOPLE" ON "ORDERS"."USER_ID" = "PEOPLE"."ID" LEFT JOIN "PRODUCTS" ON "ORDERS"."PRODUCT_ID" = "PRODUCTS"."ID" LIMIT 2000';
  return JSON.stringify({
    data: {
      rows, cols, native_form: { query: sql, params: null }, results_timezone: 'UTC', results_metadata: { columns: cols },
      'format-rows?': true, is_sandboxed: false,
    },
    row_count: ROWS, status: 'completed', running_time: 84, started_at: '2025-01-15T11:59:59.912Z',
    json_query: { database: 1, type: 'native', native: { query: sql }, constraints: { 'max-results': 10000, 'max-results-bare-rows': 2000 } },
    database_id: 1, context: 'question', average_execution_time: null, cached: null,
  });
}

/** A Metabase body read as the transport reads it (parseBody): the rows stay text. */
function readBody(text: string): QueryResult {
  const scanned = scanRunBody(text);
  if (!scanned) throw new Error('the bench body has no data.rows for scanRunBody');
  ((scanned.rest as { data: Record<string, unknown> }).data)['rows'] = scanned.rows;
  return readQueryResult(Reader.of(scanned.rest, 'result'));
}

// --- the codecs ---------------------------------------------------------------------------------

interface Codec {
  readonly name: string;
  readonly encode: () => string | Buffer;
  readonly decode: (stored: string | Buffer) => { result: QueryResult; storedAt: number };
  /** Decoded and the rows' JSON text for the response. */
  readonly serve: (stored: string | Buffer) => string;
}

/** What the JSON codec keeps besides the rows, in the same shape (Metabase's run body), for MessagePack. */
function metadata(result: QueryResult): Record<string, unknown> {
  return {
    data: {
      cols: result.columns.map((c) => ({
        name: c.name, display_name: c.displayName, base_type: c.baseType, effective_type: c.effectiveType, semantic_type: c.semanticType,
      })),
      ...(result.truncatedAt === null ? {} : { rows_truncated: result.truncatedAt }),
    },
    status: 'completed', row_count: result.rowCount, running_time: result.runningTimeMs, started_at: result.startedAt,
    cached: result.cached ? true : null, context: result.context, stored_at: STORED_AT,
  };
}

/** An unpacked body (its `data.rows` already set) through the same reader as stored JSON. */
function readUnpacked(body: unknown): { result: QueryResult; storedAt: number } {
  const r = Reader.of(body, 'stored run');
  return { result: readQueryResult(r), storedAt: r.int('stored_at') };
}

function codecs(result: QueryResult): Codec[] {
  const meta = metadata(result);
  const metaData = meta['data'] as Record<string, unknown>;
  return [
    {
      name: 'JSON (run-codec), string',
      encode: () => encodeRun(result, STORED_AT),
      decode: (s) => decodeRun(s as string),
      serve: (s) => decodeRun(s as string).result.rowsJson!.json().text,
    },
    {
      // As a byte store (Redis, SQLite blobs) holds it: UTF-8 bytes, like MessagePack's output.
      name: 'JSON (run-codec), UTF-8 bytes',
      encode: () => Buffer.from(encodeRun(result, STORED_AT), 'utf8'),
      decode: (s) => decodeRun((s as Buffer).toString('utf8')),
      serve: (s) => decodeRun((s as Buffer).toString('utf8')).result.rowsJson!.json().text,
    },
    {
      // MessagePack keeps values, not JSON text: the rows are parsed to pack them, and encoded again to serve them.
      name: 'MessagePack, rows as values',
      encode: () => pack({ ...meta, data: { ...metaData, rows: result.rowsJson!.parse() } }),
      decode: (s) => readUnpacked(unpack(s as Buffer)),
      serve: (s) => JSON.stringify(readUnpacked(unpack(s as Buffer)).result.rows),
    },
    {
      // The rows' text as one MessagePack string: it must be checked again (scanned) before it is served.
      name: 'MessagePack, rows as one JSON string',
      encode: () => pack({ ...meta, rowsText: result.rowsJson!.json().text }),
      decode: (s) => readUnpackedText(unpack(s as Buffer)),
      serve: (s) => readUnpackedText(unpack(s as Buffer)).result.rowsJson!.json().text,
    },
  ];
}

/** `{ ...meta, rowsText }` back to a result: the text scanned as strictly as a body from Metabase. */
function readUnpackedText(body: { data: Record<string, unknown>; rowsText: string }): { result: QueryResult; storedAt: number } {
  const scanned = scanRunBody(`{"data":{"rows":${body.rowsText}}}`);
  if (!scanned) throw new SyntaxError('the stored rows are not one JSON array');
  const { rowsText: _, ...rest } = body;
  return readUnpacked({ ...rest, data: { ...body.data, rows: scanned.rows } });
}

// --- measuring ----------------------------------------------------------------------------------

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Microseconds of each of `n` calls of `fn`. */
function time(fn: () => unknown, n: number, into: number[]): void {
  let sink: unknown;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    sink = fn();
    into.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  if (sink === undefined) throw new Error('a measured call returned nothing');
}

function checkRoundTrip(codec: Codec, rowsText: string, rows: unknown[][], original: QueryResult): void {
  const stored = codec.encode();
  const { result, storedAt } = codec.decode(stored);
  const fail = (what: string): never => {
    throw new Error(`codec bench: "${codec.name}" does not round-trip: ${what}`);
  };
  if (storedAt !== STORED_AT) fail(`storedAt ${storedAt}`);
  if (!isDeepStrictEqual(result.rows, rows)) fail('the decoded rows differ from the original rows');
  const { rows: _a, rowsJson: _b, ...meta } = result;
  const { rows: _c, rowsJson: _d, ...originalMeta } = original;
  if (!isDeepStrictEqual(meta, originalMeta)) fail(`the metadata differs: ${JSON.stringify(meta)} against ${JSON.stringify(originalMeta)}`);
  if (codec.serve(stored) !== rowsText) fail('the rows\' response text differs from the rows\' text Metabase sent');
}

export async function runCodecBench(): Promise<void> {
  const iterations = setting('BENCH_CODEC_ITERATIONS', 200, 1);
  const warmUp = setting('BENCH_CODEC_WARMUP', 50, 0);
  const rounds = setting('BENCH_ROUNDS', 4, 1);
  const body = metabaseRunBody();
  const result = readBody(body);
  const rowsText = result.rowsJson!.json().text;
  const rows = JSON.parse(rowsText) as unknown[][];
  const all = codecs(result);
  for (const codec of all) checkRoundTrip(codec, rowsText, rows, result);

  console.log(`scenario codec: a stored ${ROWS}-row run (8 columns: integers, floats, strings, ISO timestamps, nulls), JSON (run-codec) against MessagePack (msgpackr)`);
  console.log(`Metabase's body ${(Buffer.byteLength(body) / 1024).toFixed(1)} KiB, its rows ${(Buffer.byteLength(rowsText) / 1024).toFixed(1)} KiB; `
    + `per codec and operation ${warmUp} warm-up calls, then ${iterations} measured in ${rounds} ABBA rounds, one process, CPU only; round trips checked\n`);

  // Each codec's stored form, copied (msgpackr may hand out a window on a buffer it reuses).
  const stored = new Map(all.map((c) => {
    const s = c.encode();
    return [c.name, typeof s === 'string' ? s : Buffer.from(s)] as const;
  }));
  const ops = {
    encode: (c: Codec) => () => c.encode(),
    decode: (c: Codec) => () => c.decode(stored.get(c.name)!),
    serve: (c: Codec) => () => c.serve(stored.get(c.name)!),
  };
  type Op = keyof typeof ops;
  const samples = new Map<string, number[]>();
  for (const codec of all) {
    for (const op of Object.keys(ops) as Op[]) {
      time(ops[op](codec), warmUp, []);
      samples.set(`${codec.name}/${op}`, []);
    }
  }
  const perRound = Math.ceil(iterations / rounds);
  for (let round = 0; round < rounds; round++) {
    for (const codec of round % 2 === 0 ? all : [...all].reverse()) {
      for (const op of Object.keys(ops) as Op[]) time(ops[op](codec), perRound, samples.get(`${codec.name}/${op}`)!);
    }
  }

  const figure = (codec: Codec, op: Op): { median: number; p90: number } => {
    const sorted = [...samples.get(`${codec.name}/${op}`)!].sort((a, b) => a - b);
    return { median: percentile(sorted, 50), p90: percentile(sorted, 90) };
  };
  const cell = (f: { median: number; p90: number }): string => `${f.median.toFixed(0)} / ${f.p90.toFixed(0)}`;
  const header = ['codec', 'stored bytes', 'encode µs (p50 / p90)', 'decode µs (p50 / p90)', 'decode + rows JSON µs (p50 / p90)'];
  const table = all.map((c) => {
    const s = stored.get(c.name)!;
    return [c.name, String(typeof s === 'string' ? Buffer.byteLength(s) : s.length), cell(figure(c, 'encode')), cell(figure(c, 'decode')), cell(figure(c, 'serve'))];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of table) console.log(line(r));

  const json = all[0]!;
  const values = all[2]!;
  const ratio = (op: Op): string => (figure(values, op).median / figure(json, op).median).toFixed(2);
  console.log('\nThe JSON string\'s encode is V8 joining three texts lazily (a rope): the copy is paid once, by whatever first reads or writes it; '
    + 'the UTF-8 bytes row pays it, and the UTF-8 encoding, as a byte store (Redis) would.');
  console.log(`MessagePack (rows as values) against JSON (string), medians: ${ratio('encode')}x the encode time, ${ratio('decode')}x the decode time, `
    + `${ratio('serve')}x the decode + rows JSON time, ${(stored.get(values.name)!.length / Buffer.byteLength(stored.get(json.name)!)).toFixed(2)}x the bytes`);
}
