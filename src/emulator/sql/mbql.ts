/**
 * Structured (query-builder) queries compiled to SQLite, with the result columns Metabase reports for them
 * (API-CONTRACT.md §4.5).
 *
 * One source table, no joins: every field the query touches must belong to the source table. The SQL follows
 * what Metabase's SQL compiler produces: breakouts first, then aggregations; GROUP BY the breakouts; breakouts not
 * ordered explicitly are appended to ORDER BY ascending (Metabase's "implicit breakout order-by"); `!=` and negated
 * text matches keep NULLs. Every value is bound as a `?` parameter.
 */
import { QueryError } from '../query-error.js';
import { fieldById, fieldByName, tableById, type FieldDef, type TableDef } from '../sample-schema.js';
import type { Aggregation, Filter, Literal, StructuredQuery, TemporalUnit } from './dataset-query.js';
import { fieldFilterClause, textMatch, type FieldFilterOptions, type SqlFragment } from './field-filter.js';

/** One entry of `data.cols` (§4.5). Native results (built elsewhere) use `source: "native"` and name-based refs. */
export interface ResultColumn {
  name: string;
  display_name: string;
  base_type: string;
  effective_type: string;
  semantic_type: string | null;
  database_type?: string;
  source: 'fields' | 'breakout' | 'aggregation' | 'native';
  field_ref: unknown[];
  id?: number;
  table_id?: number;
  visibility_type?: 'normal';
  /** The temporal bucket of a bucketed breakout. */
  unit?: TemporalUnit;
}

export interface CompiledQuery {
  sql: string;
  params: unknown[];
  cols: ResultColumn[];
  /** At least one aggregation: the caller applies the 10,000-row constraint instead of 2,000 (§6). */
  aggregated: boolean;
}

export interface ExtraFilter {
  fieldId: number;
  parameterType: string;
  value: unknown;
}

/**
 * Compiles `q`. `extraFilters` are dashboard filter values mapped onto this card's fields; they are ANDed with the
 * query's own filters (a null value means "not applied"). `options.now` fixes the clock for relative dates.
 */
export function compileStructuredQuery(
  q: StructuredQuery,
  extraFilters: ExtraFilter[] = [],
  options: Pick<FieldFilterOptions, 'now'> = {},
): CompiledQuery {
  const table = tableById(q.sourceTable);
  if (!table) throw new QueryError('invalid-query', `Invalid query: table ${q.sourceTable} does not exist`);
  const c = new Compiler(table);
  const params: unknown[] = [];
  const select: string[] = [];
  const cols: ResultColumn[] = [];
  const uniqueName = nameGenerator();
  const grouped = q.breakouts.length > 0 || q.aggregations.length > 0;

  // SELECT: breakouts then aggregations, or the plain fields (all of the table's, in schema order, by default).
  const breakoutExprs = q.breakouts.map((id, i) => {
    const unit = q.breakoutUnits?.[i] ?? undefined;
    const f = c.field(id, 'a breakout');
    const expr = unit ? c.bucketed(f, unit) : quote(f);
    const col = fieldColumn(f, 'breakout', uniqueName(f.name), unit);
    select.push(`${expr} AS ${ident(col.name)}`);
    cols.push(col);
    return { id, unit, expr };
  });
  const aggregationExprs = q.aggregations.map((a, i) => {
    const f = a.field === undefined ? undefined : c.field(a.field, 'an aggregation');
    const expr = aggregationSql(a, f);
    const col = aggregationColumn(a, i, f, uniqueName(a.name ?? AGGREGATION_NAMES[a.op]));
    select.push(`${expr} AS ${ident(col.name)}`);
    cols.push(col);
    return expr;
  });
  if (!grouped) {
    const ids = q.fields ?? table.columns.map((col) => c.byName(col.name).id);
    for (const id of ids) {
      const f = c.field(id, 'a field');
      const col = fieldColumn(f, 'fields', uniqueName(f.name));
      select.push(`${quote(f)} AS ${ident(col.name)}`);
      cols.push(col);
    }
  }

  // WHERE: the query's filters and the dashboard's, all ANDed.
  const where: string[] = [];
  for (const filter of q.filters) {
    const frag = c.filter(filter);
    where.push(frag.sql);
    params.push(...frag.params);
  }
  for (const extra of extraFilters) {
    const frag = fieldFilterClause(quote(c.field(extra.fieldId, 'a dashboard filter')), extra.parameterType, extra.value, options);
    if (!frag) continue;
    where.push(frag.sql);
    params.push(...frag.params);
  }

  // ORDER BY: explicit clauses, then (grouped queries) every breakout not already ordered, ascending.
  const orderBy: string[] = [];
  const orderedBreakouts = new Set<number>();
  for (const o of q.orderBy) {
    const dir = o.direction === 'desc' ? 'DESC' : 'ASC';
    if ('aggregation' in o) {
      const expr = aggregationExprs[o.aggregation];
      if (expr === undefined) throw new QueryError('invalid-query', `Invalid query: order-by refers to aggregation ${o.aggregation}, which does not exist`);
      orderBy.push(`${expr} ${dir}`);
      continue;
    }
    const f = c.field(o.field, 'an order-by');
    if (grouped) {
      const i = breakoutExprs.findIndex((b) => b.id === o.field && b.unit === o.temporalUnit);
      if (i < 0) {
        throw new QueryError('invalid-query',
          `Invalid query: an aggregated query can only be ordered by its breakouts or aggregations, not by field ${o.field} (${f.tableName}.${f.name})`);
      }
      orderedBreakouts.add(i);
      orderBy.push(`${breakoutExprs[i]!.expr} ${dir}`);
    } else {
      orderBy.push(`${o.temporalUnit ? c.bucketed(f, o.temporalUnit) : quote(f)} ${dir}`);
    }
  }
  breakoutExprs.forEach((b, i) => {
    if (!orderedBreakouts.has(i)) orderBy.push(`${b.expr} ASC`);
  });

  let sql = `SELECT ${select.join(', ')} FROM ${ident(table.name)}`;
  if (where.length) sql += ` WHERE ${where.map((w) => (where.length > 1 ? `(${w})` : w)).join(' AND ')}`;
  if (breakoutExprs.length) sql += ` GROUP BY ${breakoutExprs.map((b) => b.expr).join(', ')}`;
  if (orderBy.length) sql += ` ORDER BY ${orderBy.join(', ')}`;
  if (q.limit !== undefined) {
    sql += ' LIMIT ?';
    params.push(q.limit);
  }
  return { sql, params, cols, aggregated: q.aggregations.length > 0 };
}

// --- Fields --------------------------------------------------------------------------------------------------------

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const quote = (f: FieldDef): string => `${ident(f.tableName)}.${ident(f.name)}`;

class Compiler {
  constructor(private readonly table: TableDef) {}

  /** The field, which must belong to the source table: the emulator does no joins, implicit or explicit. */
  field(id: number, what: string): FieldDef {
    const f = fieldById(id);
    if (!f) throw new QueryError('invalid-query', `Invalid query: field ${id} does not exist`);
    if (f.tableId !== this.table.id) {
      throw new QueryError('invalid-query',
        `Invalid query: ${what} uses field ${id} (${f.tableName}.${f.name}), which is not in the source table ` +
        `${this.table.name}; joins are not supported by this Metabase emulator`);
    }
    return f;
  }

  /** Temporal buckets only make sense for dates and date-times. */
  bucketed(f: FieldDef, unit: TemporalUnit): string {
    if (f.baseType !== 'type/DateTime' && f.baseType !== 'type/Date') {
      throw new QueryError('invalid-query',
        `Invalid query: temporal unit "${unit}" needs a date or date-time field, not ${f.tableName}.${f.name} (${f.baseType})`);
    }
    return bucket(quote(f), unit);
  }

  byName(column: string): FieldDef {
    return this.field(fieldByName(this.table.name, column).id, 'a field');
  }

  filter(f: Filter): SqlFragment {
    switch (f.op) {
      case 'and':
      case 'or': {
        const parts = f.clauses.map((x) => this.filter(x));
        return {
          sql: parts.length === 1 ? parts[0]!.sql : `(${parts.map((p) => p.sql).join(f.op === 'and' ? ' AND ' : ' OR ')})`,
          params: parts.flatMap((p) => p.params),
        };
      }
      case 'not': {
        const inner = this.filter(f.clause);
        // Metabase: "does not contain x" keeps rows whose column is NULL.
        const c = f.clause;
        if (c.op === 'contains' || c.op === 'starts-with' || c.op === 'ends-with') {
          return { sql: `(NOT (${inner.sql}) OR ${quote(this.field(c.field, 'a filter'))} IS NULL)`, params: inner.params };
        }
        return { sql: `NOT (${inner.sql})`, params: inner.params };
      }
      case '=':
      case '!=': {
        const field = this.field(f.field, 'a filter');
        const terms = f.values.map((v) => comparand(field, v));
        const sameExpr = terms.every((t) => t.expr === terms[0]!.expr);
        const values = terms.map((t) => t.value);
        const col = quote(field);
        if (f.op === '=') {
          if (sameExpr) {
            return values.length === 1 ? { sql: `${terms[0]!.expr} = ?`, params: values }
              : { sql: `${terms[0]!.expr} IN (${values.map(() => '?').join(', ')})`, params: values };
          }
          return { sql: `(${terms.map((t) => `${t.expr} = ?`).join(' OR ')})`, params: values };
        }
        // `!=` keeps NULLs, as Metabase's SQL compiler makes it do.
        const not = sameExpr
          ? (values.length === 1 ? `${terms[0]!.expr} <> ?` : `${terms[0]!.expr} NOT IN (${values.map(() => '?').join(', ')})`)
          : terms.map((t) => `${t.expr} <> ?`).join(' AND ');
        return { sql: `((${not}) OR ${col} IS NULL)`, params: values };
      }
      case '<':
      case '>':
      case '<=':
      case '>=': {
        const t = comparand(this.field(f.field, 'a filter'), f.value);
        return { sql: `${t.expr} ${f.op} ?`, params: [t.value] };
      }
      case 'between': {
        const field = this.field(f.field, 'a filter');
        const [lo, hi] = [comparand(field, f.min), comparand(field, f.max)];
        return lo.expr === hi.expr
          ? { sql: `${lo.expr} BETWEEN ? AND ?`, params: [lo.value, hi.value] }
          : { sql: `(${lo.expr} >= ? AND ${hi.expr} <= ?)`, params: [lo.value, hi.value] };
      }
      case 'is-null':
      case 'not-null': {
        const col = quote(this.field(f.field, 'a filter'));
        return { sql: `${col} IS ${f.op === 'is-null' ? '' : 'NOT '}NULL`, params: [] };
      }
      case 'is-empty':
      case 'not-empty': {
        const field = this.field(f.field, 'a filter');
        const col = quote(field);
        // Text is empty when NULL or ''; other types only when NULL.
        if (field.baseType !== 'type/Text') return { sql: `${col} IS ${f.op === 'is-empty' ? '' : 'NOT '}NULL`, params: [] };
        return f.op === 'is-empty'
          ? { sql: `(${col} IS NULL OR ${col} = '')`, params: [] }
          : { sql: `(${col} IS NOT NULL AND ${col} <> '')`, params: [] };
      }
      default:
        return textMatch(quote(this.field(f.field, 'a filter')), f.op, f.values, f.caseSensitive ?? true);
    }
  }
}

/**
 * The column expression and bound value for comparing `field` with a literal. Date-times are stored as ISO text,
 * so a date literal compares with the date part (`"2024-05-15"` means that whole day, as Metabase's day-bucketed
 * date filters do), a local date-time with the same number of characters, and a date-time with an offset is
 * converted to the stored UTC form. Booleans are stored as 0/1; numbers compared with text columns are bound as text.
 */
function comparand(field: FieldDef, v: Literal): { expr: string; value: unknown } {
  const col = quote(field);
  if (typeof v === 'boolean') return { expr: col, value: v ? 1 : 0 };
  // better-sqlite3 binds numbers as REAL, which a TEXT column would read as "83702.0".
  if (typeof v === 'number' && field.baseType === 'type/Text') return { expr: col, value: String(v) };
  if (typeof v === 'string' && (field.baseType === 'type/DateTime' || field.baseType === 'type/Date')) {
    if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return { expr: `substr(${col}, 1, 10)`, value: v };
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v)) return { expr: `substr(${col}, 1, ${v.length})`, value: v };
    const t = /^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(v) ? new Date(v) : null;
    if (t && !Number.isNaN(t.getTime())) return { expr: col, value: t.toISOString() };
  }
  return { expr: col, value: v };
}

// --- Temporal buckets ----------------------------------------------------------------------------------------------

/**
 * The start of the bucket as ISO text in UTC, the form Metabase returns bucketed values in
 * (`"2024-05-01T00:00:00Z"`). Weeks start on Sunday, Metabase's default `start-of-week`.
 */
function bucket(col: string, unit: TemporalUnit): string {
  switch (unit) {
    case 'minute': return `strftime('%Y-%m-%dT%H:%M:00Z', ${col})`;
    case 'hour': return `strftime('%Y-%m-%dT%H:00:00Z', ${col})`;
    case 'day': return `strftime('%Y-%m-%dT00:00:00Z', ${col})`;
    // Six days back, then forward to the next Sunday: the Sunday on or before the date.
    case 'week': return `strftime('%Y-%m-%dT00:00:00Z', ${col}, '-6 days', 'weekday 0')`;
    case 'month': return `strftime('%Y-%m-01T00:00:00Z', ${col})`;
    case 'quarter':
      return `(strftime('%Y-', ${col}) || printf('%02d', ((CAST(strftime('%m', ${col}) AS INTEGER) - 1) / 3) * 3 + 1) || '-01T00:00:00Z')`;
    case 'year': return `strftime('%Y-01-01T00:00:00Z', ${col})`;
  }
}

// --- Result columns ------------------------------------------------------------------------------------------------

function fieldColumn(f: FieldDef, source: 'fields' | 'breakout', name: string, unit?: TemporalUnit): ResultColumn {
  const col: ResultColumn = {
    name,
    // Newer Metabase names a bucketed column after its unit: "Created At: Month".
    display_name: unit ? `${f.displayName}: ${unit[0]!.toUpperCase()}${unit.slice(1)}` : f.displayName,
    base_type: f.baseType,
    effective_type: f.baseType,
    semantic_type: f.semanticType,
    database_type: f.databaseType,
    source,
    field_ref: ['field', f.id, unit ? { 'temporal-unit': unit } : null],
    id: f.id,
    table_id: f.tableId,
    visibility_type: 'normal',
  };
  if (unit) col.unit = unit;
  return col;
}

/** Machine names of aggregation columns; `distinct` counts, so it is called `count` too. */
const AGGREGATION_NAMES: Record<Aggregation['op'], string> = {
  count: 'count', sum: 'sum', avg: 'avg', min: 'min', max: 'max', distinct: 'count',
};

function aggregationSql(a: Aggregation, f: FieldDef | undefined): string {
  const col = f ? quote(f) : '*';
  switch (a.op) {
    case 'count': return `COUNT(${col})`;
    case 'distinct': return `COUNT(DISTINCT ${col})`;
    case 'sum': return `SUM(${col})`;
    case 'avg': return `AVG(${col})`;
    case 'min': return `MIN(${col})`;
    case 'max': return `MAX(${col})`;
  }
}

function aggregationColumn(a: Aggregation, index: number, f: FieldDef | undefined, name: string): ResultColumn {
  const of = f ? ` of ${f.displayName}` : '';
  const displayName = {
    count: `Count${of}`, sum: `Sum${of}`, avg: `Average${of}`, min: `Min${of}`, max: `Max${of}`,
    distinct: `Distinct values${of}`,
  }[a.op];
  const counting = a.op === 'count' || a.op === 'distinct';
  // Sums, minimums and maximums keep the field's type; averages are fractional; counts are quantities. A sum of
  // keys is not a key, so PK/FK semantic types are not carried over.
  const baseType = counting ? 'type/BigInteger' : a.op === 'avg' ? 'type/Float' : f!.baseType;
  const semantic = counting ? 'type/Quantity'
    : f!.semanticType === 'type/PK' || f!.semanticType === 'type/FK' ? null : f!.semanticType;
  return {
    name,
    display_name: a.displayName ?? displayName,
    base_type: baseType,
    effective_type: baseType,
    semantic_type: semantic,
    source: 'aggregation',
    field_ref: ['aggregation', index],
  };
}

/** Metabase's unique-name generator: a repeated name gets `_2`, `_3`, …, compared case-insensitively like SQL names. */
function nameGenerator(): (name: string) => string {
  const used = new Set<string>();
  return (name) => {
    let candidate = name;
    for (let i = 2; used.has(candidate.toLowerCase()); i++) candidate = `${name}_${i}`;
    used.add(candidate.toLowerCase());
    return candidate;
  };
}
