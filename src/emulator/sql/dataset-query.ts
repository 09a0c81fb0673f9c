/**
 * The three `dataset_query` shapes of API-CONTRACT.md §4.3 (MBQL 5, legacy native, legacy MBQL) read into one
 * normalized form, and written back out in either wire shape.
 *
 * The normalized form only holds what the emulator can run: one stage, a source table of the Sample Database,
 * filters, aggregations, breakouts (optionally bucketed by a temporal unit), order-by and limit. Anything Metabase
 * knows but the emulator cannot honour (joins, expressions, nested queries, binning, segments, …) is rejected with
 * `invalid-query` instead of being dropped, because silently ignoring a clause would return wrong rows. Keys the
 * emulator does not know at all are ignored, as clients may send extra metadata.
 */
import { createHash } from 'node:crypto';
import { QueryError } from '../query-error.js';
import { fieldById, tableById } from '../sample-schema.js';

export type FieldRefId = number;
export type Literal = string | number | boolean;

/** Truncation units a breakout or order-by may bucket a date-time by. Extraction units (`month-of-year`, …) are not supported. */
export type TemporalUnit = 'minute' | 'hour' | 'day' | 'week' | 'month' | 'quarter' | 'year';
export const TEMPORAL_UNITS: readonly TemporalUnit[] = ['minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'];

export interface TemplateTag {
  id: string;
  name: string;
  'display-name': string;
  /** `text`, `number`, `date`, `boolean`, `dimension`; also `temporal-unit`, `snippet`, `card`, `table`, which the emulator cannot run. */
  type: string;
  required?: boolean;
  default?: unknown;
  /** Field filters: the filtered field, always in the legacy form `["field", id, null]`. */
  dimension?: ['field', FieldRefId, null];
  'widget-type'?: string;
  options?: { 'case-sensitive'?: boolean };
}

export interface NativeQuery {
  kind: 'native';
  database: number;
  sql: string;
  templateTags: Record<string, TemplateTag>;
}

export type StringMatchOp = 'contains' | 'does-not-contain' | 'starts-with' | 'ends-with';

export type Filter =
  | { op: '=' | '!='; field: FieldRefId; values: Literal[] }
  | { op: '<' | '>' | '<=' | '>='; field: FieldRefId; value: Literal }
  | { op: 'between'; field: FieldRefId; min: Literal; max: Literal }
  | { op: StringMatchOp; field: FieldRefId; values: string[]; caseSensitive?: boolean }
  | { op: 'is-null' | 'not-null' | 'is-empty' | 'not-empty'; field: FieldRefId }
  | { op: 'and' | 'or'; clauses: Filter[] }
  | { op: 'not'; clause: Filter };

export type Aggregation =
  | { op: 'count'; field?: FieldRefId; name?: string; displayName?: string }
  | { op: 'sum' | 'avg' | 'min' | 'max' | 'distinct'; field: FieldRefId; name?: string; displayName?: string };

export type OrderBy =
  | { direction: 'asc' | 'desc'; field: FieldRefId; temporalUnit?: TemporalUnit }
  | { direction: 'asc' | 'desc'; aggregation: number };

export interface StructuredQuery {
  kind: 'structured';
  database: number;
  sourceTable: number;
  fields?: FieldRefId[];
  /** Implicitly ANDed. Top-level `and` clauses are always split into this list, so each query has one normal form. */
  filters: Filter[];
  aggregations: Aggregation[];
  breakouts: number[] /* field ids */;
  /** Temporal bucketing of `breakouts`, index for index; present only when at least one breakout is bucketed. */
  breakoutUnits?: (TemporalUnit | null)[];
  orderBy: OrderBy[];
  limit?: number;
}

export type NormalizedQuery = NativeQuery | StructuredQuery;

// --- Reading -------------------------------------------------------------------------------------------------------

type Dialect = 'legacy' | 'mbql5';
type Obj = Record<string, unknown>;

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (x: unknown): string => {
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
};
const invalid = (message: string): QueryError => new QueryError('invalid-query', `Invalid query: ${message}`);

/** Reads any of the three shapes; throws `QueryError('invalid-query', …)` saying what was expected. */
export function normalizeDatasetQuery(q: unknown): NormalizedQuery {
  if (!isObj(q)) throw invalid(`expected a dataset_query object, got ${show(q)}`);
  if (q['lib/type'] === 'mbql/query' || 'stages' in q) return readMbql5(q);
  if (q['type'] === 'native') return readLegacyNative(q);
  if (q['type'] === 'query') {
    if (!isObj(q['query'])) throw invalid(`expected "query" to be an object with "source-table", got ${show(q['query'])}`);
    return readStructured(readDatabase(q), q['query'], 'legacy');
  }
  throw invalid('expected an MBQL 5 query ({"lib/type": "mbql/query", "stages": [...]}) or a legacy query ' +
    `with "type": "native" or "type": "query", got ${show(q)}`);
}

function readDatabase(q: Obj): number {
  const db = q['database'];
  if (typeof db !== 'number' || !Number.isInteger(db) || db <= 0) {
    throw invalid(`expected "database" to be a positive integer database id, got ${show(db)}`);
  }
  return db;
}

function readMbql5(q: Obj): NormalizedQuery {
  const database = readDatabase(q);
  const stages = q['stages'];
  if (!Array.isArray(stages) || stages.length === 0) throw invalid(`expected "stages" to be a non-empty list, got ${show(stages)}`);
  if (stages.length > 1) throw invalid('queries with more than one stage are not supported by this Metabase emulator');
  const stage: unknown = stages[0];
  if (!isObj(stage)) throw invalid(`expected a stage object, got ${show(stage)}`);
  const type = stage['lib/type'];
  if (type === 'mbql.stage/native') {
    const sql = stage['native'];
    if (typeof sql !== 'string') throw invalid(`expected the native stage's "native" to be the SQL string, got ${show(sql)}`);
    return { kind: 'native', database, sql, templateTags: readTemplateTags(stage['template-tags']) };
  }
  if (type === 'mbql.stage/mbql') return readStructured(database, stage, 'mbql5');
  throw invalid(`unknown stage type ${show(type)}; expected "mbql.stage/native" or "mbql.stage/mbql"`);
}

function readLegacyNative(q: Obj): NativeQuery {
  const database = readDatabase(q);
  const native = q['native'];
  if (!isObj(native) || typeof native['query'] !== 'string') {
    throw invalid(`expected "native" to be {"query": "<SQL>", "template-tags": {...}}, got ${show(native)}`);
  }
  return { kind: 'native', database, sql: native['query'], templateTags: readTemplateTags(native['template-tags']) };
}

function readTemplateTags(raw: unknown): Record<string, TemplateTag> {
  if (raw === undefined || raw === null) return {};
  if (!isObj(raw)) throw invalid(`expected "template-tags" to be a map of tag name to tag, got ${show(raw)}`);
  // A null prototype: a tag named `constructor` or `__proto__` must not find Object's members.
  const tags: Record<string, TemplateTag> = Object.create(null) as Record<string, TemplateTag>;
  for (const [key, t] of Object.entries(raw)) {
    if (!isObj(t) || typeof t['type'] !== 'string') {
      throw invalid(`expected template tag "${key}" to be an object with a "type", got ${show(t)}`);
    }
    const name = t['name'] ?? key;
    if (name !== key) throw invalid(`template tag "${key}" has the name ${show(name)}; the key of each tag must equal its name`);
    // Metabase always writes an id and a display name; a hand-written ad-hoc query may leave them out.
    const tag: TemplateTag = {
      id: typeof t['id'] === 'string' && t['id'] !== '' ? t['id'] : key,
      name: key,
      'display-name': typeof t['display-name'] === 'string' ? t['display-name'] : key,
      type: t['type'],
    };
    if (typeof t['required'] === 'boolean') tag.required = t['required'];
    if (t['default'] !== undefined && t['default'] !== null) tag.default = t['default'];
    if (t['type'] === 'dimension' || t['type'] === 'temporal-unit') {
      if (t['dimension'] === undefined) throw invalid(`field filter tag "${key}" needs a "dimension" such as ["field", 12, null]`);
      tag.dimension = ['field', readFieldRef(t['dimension'], `the dimension of tag "${key}"`).id, null];
    }
    if (typeof t['widget-type'] === 'string') tag['widget-type'] = t['widget-type'];
    const options = t['options'];
    if (isObj(options) && typeof options['case-sensitive'] === 'boolean') tag.options = { 'case-sensitive': options['case-sensitive'] };
    tags[key] = tag;
  }
  return tags;
}

/** Clauses the emulator recognizes but cannot run. Failing is better than silently returning different rows. */
const UNSUPPORTED_KEYS = ['joins', 'expressions', 'source-query', 'source-card', 'page'];

function readStructured(database: number, s: Obj, d: Dialect): StructuredQuery {
  for (const key of UNSUPPORTED_KEYS) {
    if (s[key] !== undefined && s[key] !== null) throw invalid(`"${key}" is not supported by this Metabase emulator`);
  }
  const sourceTable = s['source-table'];
  if (typeof sourceTable !== 'number' || !Number.isInteger(sourceTable)) {
    throw invalid(`expected "source-table" to be a table id, got ${show(sourceTable)}`);
  }
  if (!tableById(sourceTable)) throw invalid(`table ${sourceTable} does not exist`);

  const out: StructuredQuery = {
    kind: 'structured', database, sourceTable, filters: [], aggregations: [], breakouts: [], orderBy: [],
  };
  if (s['fields'] !== undefined && s['fields'] !== null) {
    out.fields = list(s['fields'], '"fields"').map((f) => plainField(f, 'a field in "fields"'));
  }

  // Legacy has one `filter` clause, MBQL 5 a `filters` list.
  const rawFilters = d === 'legacy'
    ? (s['filter'] === undefined || s['filter'] === null ? [] : [s['filter']])
    : list(s['filters'] ?? [], '"filters"');
  out.filters = flattenAnd(rawFilters.map((f) => readFilter(f, d)));

  const uuids: string[] = [];
  out.aggregations = list(s['aggregation'] ?? [], '"aggregation"').map((a) => {
    const { aggregation, uuid } = readAggregation(a, d);
    uuids.push(uuid ?? '');
    return aggregation;
  });

  const units: (TemporalUnit | null)[] = [];
  out.breakouts = list(s['breakout'] ?? [], '"breakout"').map((b) => {
    const ref = readFieldRef(b, 'a breakout');
    units.push(ref.unit ?? null);
    return ref.id;
  });
  if (units.some((u) => u !== null)) out.breakoutUnits = units;

  out.orderBy = list(s['order-by'] ?? [], '"order-by"').map((o) => readOrderBy(o, d, uuids, out.aggregations.length));

  const limit = s['limit'];
  if (limit !== undefined && limit !== null) {
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
      throw invalid(`expected "limit" to be a non-negative integer, got ${show(limit)}`);
    }
    out.limit = limit;
  }
  return out;
}

function list(x: unknown, what: string): unknown[] {
  if (!Array.isArray(x)) throw invalid(`expected ${what} to be a list, got ${show(x)}`);
  return x;
}

/** Splits top-level `and`s (recursively) into the implicit-AND list: the one normal form both wire shapes map to. */
function flattenAnd(filters: Filter[]): Filter[] {
  return filters.flatMap((f) => (f.op === 'and' ? flattenAnd(f.clauses) : [f]));
}

interface FieldRef {
  id: FieldRefId;
  unit?: TemporalUnit;
}

/**
 * A field reference in either shape: legacy `["field", 12, null | {...}]` (also MBQL 3's `["field-id", 12]`) or
 * MBQL 5 `["field", {...}, 12]`. Options the emulator cannot honour (joins, implicit joins through `source-field`,
 * binning, extraction units) are rejected.
 */
function readFieldRef(x: unknown, what: string): FieldRef {
  if (!Array.isArray(x)) throw invalid(`expected ${what} to be a field reference such as ["field", 12, null], got ${show(x)}`);
  let id: unknown;
  let opts: unknown = null;
  if (x[0] === 'field' && typeof x[1] === 'number') [id, opts] = [x[1], x[2] ?? null];
  else if (x[0] === 'field' && isObj(x[1]) && typeof x[2] === 'number') [id, opts] = [x[2], x[1]];
  else if (x[0] === 'field-id' && typeof x[1] === 'number') id = x[1];
  else if (x[0] === 'field' && (typeof x[1] === 'string' || typeof x[2] === 'string')) {
    throw invalid(`field references by name (${show(x)}) are not supported by this Metabase emulator; expected a field id`);
  } else {
    throw invalid(`expected ${what} to be a field reference such as ["field", 12, null], got ${show(x)}`);
  }
  if (!Number.isInteger(id) || !fieldById(id as number)) throw invalid(`field ${show(id)} does not exist`);
  const ref: FieldRef = { id: id as number };
  if (opts !== null && !isObj(opts)) throw invalid(`expected the options of ${show(x)} to be a map or null`);
  if (isObj(opts)) {
    for (const key of ['join-alias', 'source-field', 'binning']) {
      if (opts[key] !== undefined && opts[key] !== null) {
        throw invalid(`"${key}" in field reference ${show(x)} is not supported by this Metabase emulator`);
      }
    }
    const unit = opts['temporal-unit'];
    if (unit !== undefined && unit !== null && unit !== 'default') {
      if (!TEMPORAL_UNITS.includes(unit as TemporalUnit)) {
        throw invalid(`temporal unit ${show(unit)} is not supported by this Metabase emulator; expected one of ${TEMPORAL_UNITS.join(', ')}`);
      }
      const baseType = fieldById(ref.id)!.baseType;
      if (baseType !== 'type/DateTime' && baseType !== 'type/Date') {
        throw invalid(`temporal unit ${show(unit)} in ${show(x)} needs a date or date-time field, not ${baseType}`);
      }
      ref.unit = unit as TemporalUnit;
    }
  }
  return ref;
}

/** A field reference without temporal bucketing (fields, filters, aggregation arguments). */
function plainField(x: unknown, what: string): FieldRefId {
  const ref = readFieldRef(x, what);
  if (ref.unit) throw invalid(`temporal bucketing is only supported in breakouts and order-by, not in ${what}: ${show(x)}`);
  return ref.id;
}

/** A clause's tag, options and arguments. MBQL 5 puts the options map second; legacy clauses have none there. */
function splitClause(x: unknown, d: Dialect, what: string): { tag: string; opts: Obj; args: unknown[] } {
  if (!Array.isArray(x) || typeof x[0] !== 'string') throw invalid(`expected ${what} clause such as ["=", ...], got ${show(x)}`);
  if (d === 'mbql5' && isObj(x[1])) return { tag: x[0], opts: x[1], args: x.slice(2) };
  return { tag: x[0], opts: {}, args: x.slice(1) };
}

function literal(x: unknown, clause: unknown): Literal {
  if (typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x))) return x;
  throw invalid(`expected a literal value (a string, number or boolean) in ${show(clause)}, got ${show(x)}`);
}

function arity(args: unknown[], n: number, x: unknown): void {
  if (args.length !== n) throw invalid(`expected ${n} argument${n === 1 ? '' : 's'} in ${show(x)}`);
}

const STRING_OPS: readonly string[] = ['contains', 'does-not-contain', 'starts-with', 'ends-with'];

function readFilter(x: unknown, d: Dialect): Filter {
  const { tag, opts, args } = splitClause(x, d, 'a filter');
  switch (tag) {
    case 'and':
    case 'or':
      if (args.length === 0) throw invalid(`expected at least one clause in ${show(x)}`);
      return { op: tag, clauses: args.map((c) => readFilter(c, d)) };
    case 'not':
      arity(args, 1, x);
      return { op: 'not', clause: readFilter(args[0], d) };
    case '=':
    case '!=': {
      if (args.length < 2) throw invalid(`expected a field and at least one value in ${show(x)}`);
      const field = plainField(args[0], 'a filter');
      // `["=", field, null]` is how Metabase spells "is empty" for non-text columns.
      if (args.length === 2 && args[1] === null) return { op: tag === '=' ? 'is-null' : 'not-null', field };
      return { op: tag, field, values: args.slice(1).map((v) => literal(v, x)) };
    }
    case '<':
    case '>':
    case '<=':
    case '>=':
      arity(args, 2, x);
      return { op: tag, field: plainField(args[0], 'a filter'), value: literal(args[1], x) };
    case 'between':
      arity(args, 3, x);
      return { op: 'between', field: plainField(args[0], 'a filter'), min: literal(args[1], x), max: literal(args[2], x) };
    case 'is-null':
    case 'not-null':
    case 'is-empty':
    case 'not-empty':
      arity(args, 1, x);
      return { op: tag, field: plainField(args[0], 'a filter') };
    default:
      if (STRING_OPS.includes(tag)) return readStringFilter(tag as StringMatchOp, x as unknown[], opts, args, d);
      throw invalid(`unsupported filter clause ${show(tag)} in ${show(x)}; this Metabase emulator supports =, !=, <, >, <=, >=, ` +
        'between, contains, does-not-contain, starts-with, ends-with, is-null, not-null, is-empty, not-empty, and, or, not');
  }
}

/**
 * Legacy string filters carry their options last in the binary form (`["contains", f, "x", {...}]`) and first in
 * the variadic form (`["contains", {...}, f, "x", "y"]`); MBQL 5 always puts them first.
 */
function readStringFilter(op: StringMatchOp, x: unknown[], opts: Obj, args: unknown[], d: Dialect): Filter {
  let options = opts;
  let rest = args;
  if (d === 'legacy') {
    if (isObj(rest[0])) [options, rest] = [rest[0], rest.slice(1)];
    else if (isObj(rest[rest.length - 1])) [options, rest] = [rest[rest.length - 1] as Obj, rest.slice(0, -1)];
  }
  if (rest.length < 2) throw invalid(`expected a field and at least one string in ${show(x)}`);
  const values = rest.slice(1).map((v) => {
    if (typeof v !== 'string') throw invalid(`expected a string in ${show(x)}, got ${show(v)}`);
    return v;
  });
  const f: Filter = { op, field: plainField(rest[0], 'a filter'), values };
  if (typeof options['case-sensitive'] === 'boolean') f.caseSensitive = options['case-sensitive'];
  return f;
}

function readAggregation(x: unknown, d: Dialect): { aggregation: Aggregation; uuid?: string } {
  let clause = x;
  let named: Obj = {};
  // Legacy names an aggregation by wrapping it; MBQL 5 keeps the name in the clause's own options.
  if (d === 'legacy' && Array.isArray(x) && x[0] === 'aggregation-options') {
    if (!isObj(x[2])) throw invalid(`expected ["aggregation-options", <aggregation>, {"name": ...}], got ${show(x)}`);
    [clause, named] = [x[1], x[2]];
  }
  const { tag, opts, args } = splitClause(clause, d, 'an aggregation');
  if (d === 'mbql5') named = opts;
  let aggregation: Aggregation;
  if (tag === 'count') {
    if (args.length > 1) throw invalid(`expected at most one field in ${show(x)}`);
    aggregation = args.length === 1 ? { op: 'count', field: plainField(args[0], 'an aggregation') } : { op: 'count' };
  } else if (tag === 'sum' || tag === 'avg' || tag === 'min' || tag === 'max' || tag === 'distinct') {
    arity(args, 1, clause);
    aggregation = { op: tag, field: plainField(args[0], 'an aggregation') };
  } else {
    throw invalid(`unsupported aggregation ${show(tag)} in ${show(x)}; this Metabase emulator supports count, sum, avg, min, max and distinct`);
  }
  if (typeof named['name'] === 'string') aggregation.name = named['name'];
  if (typeof named['display-name'] === 'string') aggregation.displayName = named['display-name'];
  const uuid = opts['lib/uuid'];
  return typeof uuid === 'string' ? { aggregation, uuid } : { aggregation };
}

function readOrderBy(x: unknown, d: Dialect, aggregationUuids: string[], aggregationCount: number): OrderBy {
  const { tag, args } = splitClause(x, d, 'an order-by');
  if (tag !== 'asc' && tag !== 'desc') throw invalid(`expected an order-by clause ["asc" | "desc", <ref>], got ${show(x)}`);
  arity(args, 1, x);
  const ref = args[0];
  if (Array.isArray(ref) && ref[0] === 'aggregation') {
    // Legacy points at an aggregation by index, MBQL 5 by the aggregation clause's lib/uuid.
    let index = -1;
    if (typeof ref[1] === 'number') index = ref[1];
    else if (typeof ref[2] === 'string') index = aggregationUuids.indexOf(ref[2]);
    if (!Number.isInteger(index) || index < 0 || index >= aggregationCount) {
      throw invalid(`order-by ${show(x)} refers to an aggregation the query does not have`);
    }
    return { direction: tag, aggregation: index };
  }
  const field = readFieldRef(ref, 'an order-by');
  return field.unit ? { direction: tag, field: field.id, temporalUnit: field.unit } : { direction: tag, field: field.id };
}

// --- Writing -------------------------------------------------------------------------------------------------------

/**
 * Deterministic `lib/uuid`s: hashes of the query and a counter, shaped like v4 UUIDs. The same query always gets the
 * same uuids, so responses are stable and can be compared across runs.
 */
function uuidSource(q: NormalizedQuery): () => string {
  const seed = createHash('sha256').update(JSON.stringify(q)).digest('hex');
  let n = 0;
  return () => {
    const h = createHash('sha256').update(`${seed}:${n++}`).digest('hex');
    const variant = '89ab'[parseInt(h[16]!, 16) & 3]!;
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  };
}

interface Writer {
  field(id: FieldRefId, unit?: TemporalUnit): unknown[];
  clause(tag: string, args: unknown[], opts?: Obj): unknown[];
}

function mbql5Writer(uuid: () => string): Writer {
  return {
    field(id, unit) {
      const base = fieldById(id)?.baseType;
      const opts: Obj = { 'lib/uuid': uuid() };
      if (base) Object.assign(opts, { 'base-type': base, 'effective-type': base });
      if (unit) opts['temporal-unit'] = unit;
      return ['field', opts, id];
    },
    clause: (tag, args, opts = {}) => [tag, { 'lib/uuid': uuid(), ...opts }, ...args],
  };
}

const legacyWriter: Writer = {
  field: (id, unit) => ['field', id, unit ? { 'temporal-unit': unit } : null],
  clause: (tag, args) => [tag, ...args],
};

/** The MBQL 5 shape (`"lib/type": "mbql/query"`), as `GET /api/card/:id` returns it since v0.57. */
export function toMbql5(q: NormalizedQuery): object {
  const w = mbql5Writer(uuidSource(q));
  if (q.kind === 'native') {
    return {
      'lib/type': 'mbql/query',
      database: q.database,
      stages: [{ 'lib/type': 'mbql.stage/native', native: q.sql, 'template-tags': writeTags(q.templateTags, w) }],
    };
  }
  const stage: Obj = { 'lib/type': 'mbql.stage/mbql', 'source-table': q.sourceTable };
  if (q.fields) stage['fields'] = q.fields.map((f) => w.field(f));
  if (q.filters.length) stage['filters'] = q.filters.map((f) => writeFilter(f, w, 'mbql5'));
  const aggregations = q.aggregations.map((a) => {
    const named: Obj = {};
    if (a.name !== undefined) named['name'] = a.name;
    if (a.displayName !== undefined) named['display-name'] = a.displayName;
    return w.clause(a.op, a.field === undefined ? [] : [w.field(a.field)], named);
  });
  if (aggregations.length) stage['aggregation'] = aggregations;
  if (q.breakouts.length) stage['breakout'] = q.breakouts.map((b, i) => w.field(b, q.breakoutUnits?.[i] ?? undefined));
  if (q.orderBy.length) {
    stage['order-by'] = q.orderBy.map((o) => w.clause(o.direction, ['aggregation' in o
      ? w.clause('aggregation', [(aggregations[o.aggregation]![1] as Obj)['lib/uuid']])
      : w.field(o.field, o.temporalUnit)]));
  }
  if (q.limit !== undefined) stage['limit'] = q.limit;
  return { 'lib/type': 'mbql/query', database: q.database, stages: [stage] };
}

/** The legacy shape (`"type": "native"` or `"type": "query"`), as `?legacy-mbql=true` returns it. */
export function toLegacy(q: NormalizedQuery): object {
  const w = legacyWriter;
  if (q.kind === 'native') {
    return { type: 'native', database: q.database, native: { query: q.sql, 'template-tags': writeTags(q.templateTags, w) } };
  }
  const inner: Obj = { 'source-table': q.sourceTable };
  if (q.fields) inner['fields'] = q.fields.map((f) => w.field(f));
  if (q.filters.length === 1) inner['filter'] = writeFilter(q.filters[0]!, w, 'legacy');
  else if (q.filters.length > 1) inner['filter'] = ['and', ...q.filters.map((f) => writeFilter(f, w, 'legacy'))];
  if (q.aggregations.length) {
    inner['aggregation'] = q.aggregations.map((a) => {
      const clause = [a.op, ...(a.field === undefined ? [] : [w.field(a.field)])];
      if (a.name === undefined && a.displayName === undefined) return clause;
      const named: Obj = {};
      if (a.name !== undefined) named['name'] = a.name;
      if (a.displayName !== undefined) named['display-name'] = a.displayName;
      return ['aggregation-options', clause, named];
    });
  }
  if (q.breakouts.length) inner['breakout'] = q.breakouts.map((b, i) => w.field(b, q.breakoutUnits?.[i] ?? undefined));
  if (q.orderBy.length) {
    inner['order-by'] = q.orderBy.map((o) =>
      [o.direction, 'aggregation' in o ? ['aggregation', o.aggregation] : w.field(o.field, o.temporalUnit)]);
  }
  if (q.limit !== undefined) inner['limit'] = q.limit;
  return { type: 'query', database: q.database, query: inner };
}

function writeTags(tags: Record<string, TemplateTag>, w: Writer): Record<string, Obj> {
  const out: Record<string, Obj> = {};
  for (const [key, tag] of Object.entries(tags)) {
    const t: Obj = { ...tag };
    if (tag.dimension) t['dimension'] = w.field(tag.dimension[1]);
    if (tag.options) t['options'] = { ...tag.options };
    out[key] = t;
  }
  return out;
}

function writeFilter(f: Filter, w: Writer, d: Dialect): unknown[] {
  switch (f.op) {
    case 'and':
    case 'or':
      return w.clause(f.op, f.clauses.map((c) => writeFilter(c, w, d)));
    case 'not':
      return w.clause('not', [writeFilter(f.clause, w, d)]);
    case '=':
    case '!=':
      return w.clause(f.op, [w.field(f.field), ...f.values]);
    case '<':
    case '>':
    case '<=':
    case '>=':
      return w.clause(f.op, [w.field(f.field), f.value]);
    case 'between':
      return w.clause('between', [w.field(f.field), f.min, f.max]);
    case 'is-null':
    case 'not-null':
    case 'is-empty':
    case 'not-empty':
      return w.clause(f.op, [w.field(f.field)]);
    default: {
      const opts: Obj = f.caseSensitive === undefined ? {} : { 'case-sensitive': f.caseSensitive };
      if (d === 'mbql5') return w.clause(f.op, [w.field(f.field), ...f.values], opts);
      // Legacy: options last in the binary form, first (and mandatory) in the variadic form.
      if (f.values.length === 1) return [f.op, w.field(f.field), f.values[0], ...(f.caseSensitive === undefined ? [] : [opts])];
      return [f.op, opts, w.field(f.field), ...f.values];
    }
  }
}
