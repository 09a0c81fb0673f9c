/**
 * One parameter value turned into a SQL condition on one column (API-CONTRACT.md §5): the SQL a native field
 * filter (`WHERE {{category}}`) expands to, and the WHERE condition a dashboard filter adds to a query-builder card.
 *
 * Semantics follow Metabase's query processor (`metabase.driver.sql.parameters.substitution`,
 * `metabase.query-processor.parameters.{operators,dates}`), translated to SQLite over the emulator's storage:
 * date-times are ISO text (`2024-05-15T08:04:04.580Z`, UTC), dates `YYYY-MM-DD`, booleans 0/1.
 *
 * Security rule: values are only ever bound as `?` parameters. The SQL text built here contains nothing but the
 * column expression the caller gave, fixed keywords and placeholders.
 */
import { QueryError } from '../query-error.js';

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

export interface FieldFilterOptions {
  /**
   * The clock for relative dates (`past30days`, `thisyear`). Defaults to the current time. Dates are computed in
   * UTC, the emulator's report timezone (`results_timezone: "UTC"`).
   */
  readonly now?: Date;
  /**
   * For `string/contains`, `string/does-not-contain`, `string/starts-with` and `string/ends-with`. Metabase matches
   * case-sensitively unless the tag or parameter options say `"case-sensitive": false`.
   */
  readonly caseSensitive?: boolean;
}

/**
 * The condition for `column` (an already-quoted SQL expression such as `"PRODUCTS"."CATEGORY"`) under a parameter
 * of type `parameterType` with `value`, or null when the value means "no filter" (null, undefined, an empty array or
 * an array of nulls). Throws `QueryError('invalid-parameter')` for values of the wrong type and for unknown types.
 */
export function fieldFilterClause(
  column: string,
  parameterType: string,
  value: unknown,
  options: FieldFilterOptions = {},
): SqlFragment | null {
  if (isAbsent(value)) return null;
  const t = parameterType;
  switch (t) {
    case 'string/=':
    case 'text':
      return equality(column, listOf(value).map((v) => stringValue(t, v)));
    case 'category':
    case 'id':
      // Widget types: the value's own type decides (text, number or boolean), as Metabase infers it from the field.
      return equality(column, listOf(value).map((v) => scalarValue(t, v)));
    case 'number':
      // A raw `number` value may be a comma-separated string ("1,2,3"), a leftover of old Metabase behaviour.
      return equality(column, listOf(value).flatMap((v) => (typeof v === 'string' ? v.split(',') : [v])).map((v) => numberValue(t, v)));
    case 'number/=':
      return equality(column, listOf(value).map((v) => numberValue(t, v)));
    case 'boolean':
    case 'boolean/=':
      return equality(column, listOf(value).map((v) => booleanValue(t, v)));
    case 'string/!=':
      return notEqual(column, listOf(value).map((v) => stringValue(t, v)));
    case 'number/!=':
      return notEqual(column, listOf(value).map((v) => numberValue(t, v)));
    case 'string/contains':
    case 'string/does-not-contain':
    case 'string/starts-with':
    case 'string/ends-with':
      return stringMatch(column, t, listOf(value).map((v) => stringValue(t, v)), options.caseSensitive ?? true);
    case 'number/between':
      return between(column, t, value);
    case 'number/>=':
    case 'number/<=':
      return unaryComparison(column, t, value);
    case 'date':
    case 'date/single':
      return singleDate(column, t, dateString(t, value));
    case 'date/range':
    case 'date/month-year':
    case 'date/quarter-year':
    case 'date/relative':
    case 'date/all-options':
      // Like Metabase, every range-like date type accepts every date shape; the value decides.
      return anyDate(column, t, dateString(t, value), options.now ?? new Date());
    default:
      if (t.startsWith('location/')) return equality(column, listOf(value).map((v) => stringValue(t, v)));
      throw new QueryError('invalid-parameter', `Unrecognized parameter type: ${t}. It cannot be used to filter a field.`);
  }
}

// --- Values ------------------------------------------------------------------------------------------------------

function isAbsent(value: unknown): boolean {
  return value === null || value === undefined || (Array.isArray(value) && value.every((v) => v === null || v === undefined));
}

/** A scalar for a list type is a one-element list; nulls inside a list are dropped. */
function listOf(value: unknown): unknown[] {
  return (Array.isArray(value) ? value : [value]).filter((v) => v !== null && v !== undefined);
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

function invalid(type: string, expected: string, got: unknown): QueryError {
  return new QueryError('invalid-parameter', `Invalid value for parameter type ${type}: expected ${expected}, got ${show(got)}`);
}

/**
 * Numbers sent for text types are bound as their text (Metabase binds `(str value)`): better-sqlite3 binds every
 * JavaScript number as REAL, and a REAL 83702.0 compared with a TEXT column reads "83702.0", never "83702".
 */
function stringValue(type: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw invalid(type, 'a string', v);
}

/**
 * `category` and `id` do not say whether the column holds text or numbers, so numbers are bound as text too:
 * SQLite converts the text back to a number for INTEGER and REAL columns (numeric affinity) and compares it as text
 * with TEXT columns, so `"4"` finds ID 4 and `"83702"` finds ZIP 83702.
 */
function scalarValue(type: string, v: unknown): string | number {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw invalid(type, 'a string, a number or a boolean', v);
}

/**
 * A number, or a string holding one ("42", "-1.5"). Like Metabase's `parse-number`, a string without a dot must be
 * an integer; integers beyond JavaScript's safe range are bound as BigInt so they keep every digit.
 */
export function numberValue(type: string, v: unknown): number | bigint {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string') {
    if (/^[+-]?\d+$/.test(v)) {
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : BigInt(v);
    }
    if (/^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return Number(v);
  }
  throw invalid(type, 'a number', v);
}

/** Booleans are stored as 0/1. */
export function booleanValue(type: string, v: unknown): 0 | 1 {
  if (v === true || v === 'true') return 1;
  if (v === false || v === 'false') return 0;
  throw invalid(type, 'true or false', v);
}

function dateString(type: string, value: unknown): string {
  // Date widgets send a single string; a one-element list is accepted as well.
  const v = Array.isArray(value) && value.length === 1 ? value[0] : value;
  if (typeof v !== 'string') throw invalid(type, 'a date string', value);
  return v;
}

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

// --- Equality and comparison -------------------------------------------------------------------------------------

function equality(column: string, values: unknown[]): SqlFragment {
  return values.length === 1
    ? { sql: `${column} = ?`, params: values }
    : { sql: `${column} IN (${placeholders(values.length)})`, params: values };
}

/** Metabase's `!=` also keeps rows where the column is NULL ("is not Widget" includes products with no category). */
function notEqual(column: string, values: unknown[]): SqlFragment {
  return values.length === 1
    ? { sql: `(${column} <> ? OR ${column} IS NULL)`, params: values }
    : { sql: `(${column} NOT IN (${placeholders(values.length)}) OR ${column} IS NULL)`, params: values };
}

function between(column: string, type: string, value: unknown): SqlFragment {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new QueryError('invalid-parameter',
      `Invalid value for parameter type ${type}: expected [min, max], got ${show(value)} (Operations Invalid arity: expected 2)`);
  }
  const [lo, hi] = value as [unknown, unknown];
  // One open end: Metabase rewrites the parameter to number/>= or number/<=.
  if (hi === null || hi === undefined) return { sql: `${column} >= ?`, params: [numberValue(type, lo)] };
  if (lo === null || lo === undefined) return { sql: `${column} <= ?`, params: [numberValue(type, hi)] };
  return { sql: `${column} BETWEEN ? AND ?`, params: [numberValue(type, lo), numberValue(type, hi)] };
}

function unaryComparison(column: string, type: 'number/>=' | 'number/<=', value: unknown): SqlFragment {
  const values = listOf(value);
  if (values.length !== 1) {
    throw new QueryError('invalid-parameter',
      `Invalid value for parameter type ${type}: expected one number, got ${show(value)} (Operations Invalid arity: expected 1)`);
  }
  return { sql: `${column} ${type === 'number/>=' ? '>=' : '<='} ?`, params: [numberValue(type, values[0])] };
}

// --- Text matching -----------------------------------------------------------------------------------------------

/**
 * GLOB, not LIKE: SQLite's LIKE ignores case for ASCII, while Metabase matches case-sensitively by default. GLOB's
 * wildcards in the value are escaped as one-character classes, so `*`, `?` and `[` match themselves.
 */
export function globPattern(op: 'contains' | 'starts-with' | 'ends-with', text: string): string {
  const escaped = text.replace(/[*?[]/g, (c) => `[${c}]`);
  return op === 'contains' ? `*${escaped}*` : op === 'starts-with' ? `${escaped}*` : `*${escaped}`;
}

/**
 * `contains` / `starts-with` / `ends-with` over several values match any of them; `does-not-contain` must miss all
 * of them and, like Metabase's `not`, keeps NULLs.
 */
export function textMatch(
  column: string,
  op: 'contains' | 'does-not-contain' | 'starts-with' | 'ends-with',
  values: readonly (string | number)[],
  caseSensitive: boolean,
): SqlFragment {
  const expr = caseSensitive ? column : `lower(${column})`;
  const pattern = (v: string | number): string => {
    const p = globPattern(op === 'does-not-contain' ? 'contains' : op, String(v));
    return caseSensitive ? p : p.toLowerCase();
  };
  if (op === 'does-not-contain') {
    const parts = values.map(() => `(NOT (${expr} GLOB ?) OR ${column} IS NULL)`);
    return { sql: parts.length === 1 ? parts[0]! : `(${parts.join(' AND ')})`, params: values.map(pattern) };
  }
  const parts = values.map(() => `${expr} GLOB ?`);
  return { sql: parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`, params: values.map(pattern) };
}

function stringMatch(column: string, type: string, values: string[], caseSensitive: boolean): SqlFragment {
  const op = type.slice('string/'.length) as 'contains' | 'does-not-contain' | 'starts-with' | 'ends-with';
  return textMatch(column, op, values, caseSensitive);
}

// --- Dates -------------------------------------------------------------------------------------------------------

/**
 * A range over a prefix of the stored ISO text: 10 characters compare days, 13 hours, 16 minutes, 19 seconds.
 * Closed ranges are inclusive at that resolution (Metabase: "past30days" means whole days); the open ranges of
 * `"2025-01-01~"` (after) and `"~2025-01-01"` (before) exclude the given day, as Metabase's do.
 */
type DateRange =
  | { readonly prefix: number; readonly start: string; readonly end: string }
  | { readonly prefix: number; readonly after: string }
  | { readonly prefix: number; readonly before: string };

function rangeSql(column: string, r: DateRange): SqlFragment {
  const e = `substr(${column}, 1, ${r.prefix})`;
  if ('after' in r) return { sql: `${e} > ?`, params: [r.after] };
  if ('before' in r) return { sql: `${e} < ?`, params: [r.before] };
  if (r.start === r.end) return { sql: `${e} = ?`, params: [r.start] };
  return { sql: `${e} BETWEEN ? AND ?`, params: [r.start, r.end] };
}

interface ParsedDate {
  /** The value cut to its resolution: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`. */
  readonly text: string;
  readonly hasTime: boolean;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?$/;

function validDay(y: number, m: number, d: number): boolean {
  return m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
}

/**
 * A calendar date, or a local date-time that Metabase compares at minute resolution (its date pickers stop at
 * minutes). Anything else, including offsets and impossible dates such as 2025-02-30, is rejected.
 */
function parseDate(s: string): ParsedDate | null {
  let m = DATE_RE.exec(s);
  if (m) return validDay(+m[1]!, +m[2]!, +m[3]!) ? { text: s, hasTime: false } : null;
  m = DATE_TIME_RE.exec(s);
  if (m && validDay(+m[1]!, +m[2]!, +m[3]!) && +m[4]! < 24 && +m[5]! < 60 && (m[6] === undefined || +m[6] < 60)) {
    return { text: s.slice(0, 16), hasTime: true };
  }
  return null;
}

function singleDate(column: string, type: string, s: string): SqlFragment {
  const d = parseDate(s);
  if (!d) throw invalid(type, 'a date like "2025-01-31" (or "2025-01-31T10:30")', s);
  return rangeSql(column, { prefix: d.hasTime ? 16 : 10, start: d.text, end: d.text });
}

function anyDate(column: string, type: string, s: string, now: Date): SqlFragment {
  const relative = relativeRange(s, now);
  if (relative) return rangeSql(column, relative);
  const exclusion = exclusionClause(column, type, s);
  if (exclusion) return exclusion;
  const absolute = absoluteRange(type, s);
  if (absolute) return rangeSql(column, absolute);
  if (type === 'date/relative') {
    throw new QueryError('invalid-parameter',
      `Invalid value for parameter type date/relative: unsupported relative date ${show(s)}. This emulator supports ` +
      'today, yesterday, past<N><unit>s, next<N><unit>s (optionally followed by "~" or "-from-<N><unit>s"), ' +
      'last<unit> and this<unit>, with unit second, minute, hour, day, week, month, quarter or year.');
  }
  throw invalid(type,
    'a date ("2025-01-31"), a range ("2025-01-01~2025-03-31", "2025-01-01~", "~2025-03-31"), a month ("2025-03"), ' +
    'a quarter ("Q1-2025"), a relative date ("past30days", "thisyear") or an exclusion ("exclude-days-Mon")', s);
}

function absoluteRange(type: string, s: string): DateRange | null {
  let m = /^(\d{4})-(\d{2})$/.exec(s);
  if (m) {
    const y = +m[1]!, mo = +m[2]!;
    if (mo < 1 || mo > 12) return null;
    return { prefix: 10, start: ymd(y, mo, 1), end: ymd(y, mo, daysInMonth(y, mo)) };
  }
  m = /^Q([1-4])-(\d{4})$/.exec(s);
  if (m) {
    const q = +m[1]!, y = +m[2]!;
    return { prefix: 10, start: ymd(y, q * 3 - 2, 1), end: ymd(y, q * 3, daysInMonth(y, q * 3)) };
  }
  const single = parseDate(s);
  if (single) return { prefix: single.hasTime ? 16 : 10, start: single.text, end: single.text };
  m = /^([^~]*)~([^~]*)$/.exec(s);
  if (!m) return null;
  const [a, b] = [m[1]!, m[2]!];
  const [da, db] = [a === '' ? null : parseDate(a), b === '' ? null : parseDate(b)];
  if ((a !== '' && !da) || (b !== '' && !db) || (!da && !db)) return null;
  if (da && !db) return { prefix: da.hasTime ? 16 : 10, after: da.text };
  if (!da && db) return { prefix: db.hasTime ? 16 : 10, before: db.text };
  // Both ends: compare at minutes if either end has a time, covering whole days at date-only ends.
  const withTime = da!.hasTime || db!.hasTime;
  const start = withTime && !da!.hasTime ? `${da!.text}T00:00` : da!.text;
  const end = withTime && !db!.hasTime ? `${db!.text}T23:59` : db!.text;
  if (start > end) {
    throw new QueryError('invalid-parameter', `Invalid value for parameter type ${type}: the range ${show(s)} starts after it ends`);
  }
  return { prefix: withTime ? 16 : 10, start, end };
}

// Relative dates, after Metabase's `relative-date-string-decoders`.

type Unit = 'second' | 'minute' | 'hour' | 'day' | 'week' | 'month' | 'quarter' | 'year';
const UNIT = '(second|minute|hour|day|week|month|quarter|year)';
const PAST_NEXT_RE = new RegExp(`^(past|next)(\\d+)${UNIT}s(~|-from-(\\d+)${UNIT}s)?$`);
const LAST_THIS_RE = new RegExp(`^(last|this)${UNIT}$`);

function relativeRange(s: string, now: Date): DateRange | null {
  const today = startOf(now, 'day');
  if (s === 'today') return unitRange(today, today, 'day');
  if (s === 'yesterday') {
    const d = plus(today, 'day', -1);
    return unitRange(d, d, 'day');
  }
  let m = PAST_NEXT_RE.exec(s);
  if (m) {
    const [, dir, n, unit, suffix, fromN, fromUnit] = m as unknown as [string, 'past' | 'next', string, Unit, string?, string?, Unit?];
    const sign = dir === 'past' ? -1 : 1;
    // "-from-<N><unit>s" shifts the window; "~" includes the current (partial) unit.
    const shifted = fromUnit ? plus(now, fromUnit, sign * Number(fromN)) : now;
    const base = reduceResolution(unit, shifted);
    const near = suffix === '~' ? 0 : 1;
    return dir === 'past'
      ? unitRange(plus(base, unit, -Number(n)), plus(base, unit, -near), unit)
      : unitRange(plus(base, unit, near), plus(base, unit, Number(n)), unit);
  }
  m = LAST_THIS_RE.exec(s);
  if (m) {
    const unit = m[2] as Unit;
    const base = reduceResolution(unit, now);
    const d = m[1] === 'last' ? plus(base, unit, -1) : base;
    return unitRange(d, d, unit);
  }
  return null;
}

/** Units of a day or longer work on dates; shorter ones keep the time. */
const reduceResolution = (unit: Unit, d: Date): Date =>
  unit === 'second' || unit === 'minute' || unit === 'hour' ? d : startOf(d, 'day');

/** From the start of `start`'s unit to the end of `end`'s unit, inclusive, at the unit's resolution. */
function unitRange(start: Date, end: Date, unit: Unit): DateRange {
  const resolution = { second: 19, minute: 16, hour: 13 } as Record<Unit, number | undefined>;
  const prefix = resolution[unit] ?? 10;
  const first = startOf(start, unit);
  const last = prefix === 10 ? plus(plus(startOf(end, unit), unit, 1), 'day', -1) : startOf(end, unit);
  return { prefix, start: first.toISOString().slice(0, prefix), end: last.toISOString().slice(0, prefix) };
}

/** Start of the unit containing `d`, in UTC. Weeks start on Sunday, Metabase's default `start-of-week`. */
function startOf(d: Date, unit: Unit): Date {
  const y = d.getUTCFullYear(), mo = d.getUTCMonth(), day = d.getUTCDate();
  switch (unit) {
    case 'second': return new Date(Date.UTC(y, mo, day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()));
    case 'minute': return new Date(Date.UTC(y, mo, day, d.getUTCHours(), d.getUTCMinutes()));
    case 'hour': return new Date(Date.UTC(y, mo, day, d.getUTCHours()));
    case 'day': return new Date(Date.UTC(y, mo, day));
    case 'week': return new Date(Date.UTC(y, mo, day - d.getUTCDay()));
    case 'month': return new Date(Date.UTC(y, mo, 1));
    case 'quarter': return new Date(Date.UTC(y, mo - (mo % 3), 1));
    case 'year': return new Date(Date.UTC(y, 0, 1));
  }
}

/** Calendar arithmetic as java.time does it: adding months clamps the day to the month's end (Jan 31 + 1 month = Feb 28). */
function plus(d: Date, unit: Unit, n: number): Date {
  const fixed: Partial<Record<Unit, number>> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 };
  const ms = fixed[unit];
  if (ms !== undefined) return new Date(d.getTime() + n * ms);
  const months = n * (unit === 'year' ? 12 : unit === 'quarter' ? 3 : 1);
  const total = d.getUTCFullYear() * 12 + d.getUTCMonth() + months;
  const y = Math.floor(total / 12), mo = total - y * 12;
  const day = Math.min(d.getUTCDate(), daysInMonth(y, mo + 1));
  return new Date(Date.UTC(y, mo, day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()));
}

function daysInMonth(y: number, month1: number): number {
  return new Date(Date.UTC(y, month1, 0)).getUTCDate();
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
const ymd = (y: number, m: number, d: number): string => `${pad(y, 4)}-${pad(m)}-${pad(d)}`;

// Exclusions ("exclude-days-Mon-Tue"), after Metabase's `date-exclude-regex`: the parts of the date to leave out.

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function exclusionClause(column: string, type: string, s: string): SqlFragment | null {
  const m = /^exclude-(hour|day|month|quarter)s-([-A-Za-z0-9]+)$/.exec(s);
  if (!m) return null;
  const unit = m[1]!;
  const parts = m[2]!.split('-');
  const values = parts.map((p): number => {
    const n = unit === 'day' ? WEEKDAYS.indexOf(p)
      : unit === 'month' ? MONTHS.indexOf(p) + 1 || -1
      : /^\d+$/.test(p) ? Number(p) : -1;
    const ok = unit === 'day' ? n >= 0 : unit === 'month' ? n >= 1 : unit === 'hour' ? n >= 0 && n <= 23 : n >= 1 && n <= 4;
    if (!ok) throw invalid(type, `an exclusion such as "exclude-days-Mon-Tue", "exclude-months-Jan", "exclude-quarters-1" or "exclude-hours-0-23"`, s);
    return n;
  });
  // strftime reads the stored ISO text (a trailing "Z" included); %w numbers weekdays from Sunday = 0.
  const expr = {
    hour: `CAST(strftime('%H', ${column}) AS INTEGER)`,
    day: `CAST(strftime('%w', ${column}) AS INTEGER)`,
    month: `CAST(strftime('%m', ${column}) AS INTEGER)`,
    quarter: `((CAST(strftime('%m', ${column}) AS INTEGER) + 2) / 3)`,
  }[unit]!;
  return { sql: `(${expr} NOT IN (${placeholders(values.length)}) OR ${column} IS NULL)`, params: values };
}
