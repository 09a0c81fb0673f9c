/**
 * The values a filter may take (API-CONTRACT.md §4.15, §6): which sample fields stand behind a dashboard or
 * card parameter, and the SQL that reads their distinct values, optionally narrowed by a search string and by
 * the current values of other filters on the same table (chained filters).
 */
import type { CardDef, DashboardDef } from './content.js';
import { fieldById, type FieldDef } from './sample-schema.js';
import { cardById, cardParameters, cardQuery } from './serialize.js';

/** Metabase answers the first 1,000 values of a parameter (§6). */
export const MAX_PARAMETER_VALUES = 1_000;
/** Most current values one chained filter may send; more is refused rather than silently dropped. */
export const MAX_CHAINED_VALUES = 100;

/** Anything that runs a read-only statement and returns at most `limit` rows (the emulator's SqlExecutor). */
export interface ValuesExecutor {
  execute(sql: string, params: unknown[], limit: number): Promise<{ readonly rows: unknown[][] }>;
}

/** Another filter's current values, and the fields behind it. */
export interface ChainedConstraint {
  readonly fields: readonly FieldDef[];
  readonly values: readonly string[];
}

export interface ParameterValues {
  values: unknown[][];
  has_more_values: boolean;
}

const asObject = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/**
 * The field a parameter target stands for: `["dimension", ["field", id, …]]` directly, or
 * `["dimension", ["template-tag", name | {id}]]` through the card's field-filter tag. Variables have none.
 */
export function targetField(target: unknown, card: CardDef | undefined): FieldDef | undefined {
  if (!Array.isArray(target) || target[0] !== 'dimension' || !Array.isArray(target[1])) return undefined;
  const inner = target[1] as unknown[];
  if (inner[0] === 'field') return typeof inner[1] === 'number' ? fieldById(inner[1]) : undefined;
  if (inner[0] !== 'template-tag' || !card) return undefined;
  const q = cardQuery(card);
  if (q.kind !== 'native') return undefined;
  const ref = inner[1];
  const tag = typeof ref === 'string'
    ? (Object.hasOwn(q.templateTags, ref) ? q.templateTags[ref] : undefined)
    : Object.values(q.templateTags).find((t) => t.id === asObject(ref)?.['id']);
  const dim = tag?.type === 'dimension' ? tag.dimension : undefined;
  return Array.isArray(dim) && typeof dim[1] === 'number' ? fieldById(dim[1]) : undefined;
}

const byId = (fields: Iterable<FieldDef>): FieldDef[] => [...new Map([...fields].map((f) => [f.id, f])).values()].sort((a, b) => a.id - b.id);

/** The fields a dashboard parameter's mappings target, over every dashcard and series card. */
export function dashboardParameterFields(d: DashboardDef, parameterId: string): FieldDef[] {
  const fields: FieldDef[] = [];
  for (const dc of d.dashcards) {
    for (const m of dc.mappings ?? []) {
      if (m.parameterId !== parameterId) continue;
      const f = targetField(m.target, cardById(m.cardId));
      if (f) fields.push(f);
    }
  }
  return byId(fields);
}

/** The field behind a card parameter (its template tag's, for a field filter), as a list. */
export function cardParameterFields(card: CardDef, parameterId: string): FieldDef[] {
  const p = cardParameters(card).find((x) => x['id'] === parameterId);
  const f = p ? targetField(p['target'], card) : undefined;
  return f ? [f] : [];
}

const NUMERIC = new Set(['type/BigInteger', 'type/Integer', 'type/Float']);

/** A query-string value as the column stores it: numbers for numeric columns, 1/0 for booleans. */
function columnValue(field: FieldDef, v: string): unknown {
  if (NUMERIC.has(field.baseType) && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v) && Number.isFinite(Number(v))) return Number(v);
  if (field.baseType === 'type/Boolean' && (v === 'true' || v === 'false')) return v === 'true' ? 1 : 0;
  return v;
}

const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** `%`, `_` and the escape character itself match literally. */
export const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * SELECT DISTINCT of one field, not null, sorted, one row past the cap (to know whether there are more).
 * Constraints on other tables are ignored; one constraint's fields are ORed, constraints are ANDed.
 */
export function fieldValuesStatement(field: FieldDef, constraints: readonly ChainedConstraint[] = [], search?: string): { sql: string; params: unknown[] } {
  const col = quoted(field.name);
  const where = [`${col} IS NOT NULL`];
  const params: unknown[] = [];
  for (const c of constraints) {
    const sameTable = c.fields.filter((f) => f.tableId === field.tableId);
    if (sameTable.length === 0 || c.values.length === 0) continue;
    const alternatives = sameTable.map((f) => {
      for (const v of c.values) params.push(columnValue(f, v));
      return `${quoted(f.name)} IN (${c.values.map(() => '?').join(', ')})`;
    });
    where.push(alternatives.length === 1 ? alternatives[0]! : `(${alternatives.join(' OR ')})`);
  }
  if (search !== undefined && search !== '') {
    // SQLite's LOWER and LIKE fold ASCII only; folding the same letters here keeps both sides alike.
    where.push(`LOWER(CAST(${col} AS TEXT)) LIKE ? ESCAPE '\\'`);
    params.push(`%${escapeLike(search.replace(/[A-Z]/g, (ch) => ch.toLowerCase()))}%`);
  }
  const sql = `SELECT DISTINCT ${col} FROM ${quoted(field.tableName)} WHERE ${where.join(' AND ')} ORDER BY ${col} LIMIT ${MAX_PARAMETER_VALUES + 1}`;
  return { sql, params };
}

/** SQLite's order: numbers (numerically) before text (by UTF-8 bytes, i.e. code points). */
function compareValues(a: unknown, b: unknown): number {
  const an = typeof a === 'number', bn = typeof b === 'number';
  if (an && bn) return (a as number) - (b as number);
  if (an !== bn) return an ? -1 : 1;
  return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
}

/** The distinct values of every field, merged, sorted and capped at 1,000. No field: no values. */
export async function parameterValues(
  executor: ValuesExecutor, fields: readonly FieldDef[], constraints: readonly ChainedConstraint[] = [], search?: string,
): Promise<ParameterValues> {
  let more = false;
  const seen = new Map<string, unknown>();
  for (const field of fields) {
    const { sql, params } = fieldValuesStatement(field, constraints, search);
    const { rows } = await executor.execute(sql, params, MAX_PARAMETER_VALUES + 1);
    if (rows.length > MAX_PARAMETER_VALUES) more = true;
    for (const [v] of rows.slice(0, MAX_PARAMETER_VALUES)) seen.set(`${typeof v}:${String(v)}`, v);
  }
  const values = [...seen.values()].sort(compareValues);
  if (values.length > MAX_PARAMETER_VALUES) more = true;
  return { values: values.slice(0, MAX_PARAMETER_VALUES).map((v) => [v]), has_more_values: more };
}
