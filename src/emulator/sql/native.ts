/**
 * Template tags in native SQL: `{{tag}}` variables, `[[ … ]]` optional clauses and field filters
 * (API-CONTRACT.md §5), after Metabase's `metabase.lib.parse`, `metabase.query-processor.parameters.values` and
 * `metabase.driver.sql.parameters.substitute`.
 *
 * Security rule: the SQL text around the tags is copied unchanged, and every value is bound as a `?` parameter.
 * A value can therefore never change the statement, whatever characters it contains.
 */
import { QueryError } from '../query-error.js';
import type { TemplateTag } from './dataset-query.js';
import { booleanValue, fieldFilterClause, numberValue, type FieldFilterOptions } from './field-filter.js';

export interface ExpandedSql {
  sql: string;
  params: unknown[];
}

/**
 * Expands `sql`. `values` holds the parameter values sent for each tag, by tag name (`type` is the sent parameter
 * type, used by field filters); a tag without an entry falls back to its `default`. `resolveField` turns a field id
 * into its quoted column, e.g. `"PRODUCTS"."CATEGORY"`. `options.now` fixes the clock for relative dates.
 */
export function expandNativeQuery(
  sql: string,
  tags: Record<string, TemplateTag>,
  values: ReadonlyMap<string, { type: string; value: unknown }>,
  resolveField: (fieldId: number) => string,
  options: Pick<FieldFilterOptions, 'now'> = {},
): ExpandedSql {
  const parsed = parse(sql);
  const ctx: Context = { tags, values, resolveField, now: options.now, cache: new Map() };
  const { text, params, missing } = substitute(parsed, ctx, false);
  if (missing.length > 0) {
    // Metabase prints the Clojure set of the names: #{"a" "b"}.
    const names = [...new Set(missing)].map((n) => JSON.stringify(n)).join(' ');
    throw new QueryError('missing-required-parameter', `Cannot run the query: missing required parameters: #{${names}}`);
  }
  // Metabase trims the expanded statement; nothing else of the text is touched.
  return { sql: text.trim(), params };
}

// --- Parsing -------------------------------------------------------------------------------------------------------

type Node = string | { readonly param: string } | { readonly optional: readonly Node[] };

type TokenKind = '[[' | ']]' | '{{' | '}}' | "'" | '/*' | '*/' | '--' | '\n';
type Token = string | { readonly kind: TokenKind };

/**
 * Splits the SQL into text and the tokens Metabase's parser knows. `{{` only counts when not followed by another
 * `{`, so that `{{{x}}}` reads as `{` + `{{x}}` + `}`.
 */
function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let text = '';
  const kinds: readonly TokenKind[] = ['[[', ']]', '{{', '}}', "'", '/*', '*/', '--', '\n'];
  for (let i = 0; i < sql.length;) {
    const kind = kinds.find((k) => sql.startsWith(k, i) && !(k === '{{' && sql[i + 2] === '{'));
    if (kind) {
      if (text) out.push(text);
      text = '';
      out.push({ kind });
      i += kind.length;
    } else {
      text += sql[i];
      i += 1;
    }
  }
  if (text) out.push(text);
  return out;
}

class ParseError extends QueryError {
  constructor(message: string) {
    super('invalid-query', message);
  }
}

interface ParseState {
  readonly tokens: readonly Token[];
  pos: number;
}

/** Text, `{{param}}` and `[[optional]]` nodes. Throws `invalid-query` for unbalanced or empty constructs. */
function parse(sql: string): Node[] {
  const state: ParseState = { tokens: tokenize(sql), pos: 0 };
  return merge(parseUntil(state, 0, 0, false, null));
}

/**
 * Metabase's `parse-tokens*`: reads until the closing token of the construct being read (`]]` when
 * optionalLevel > 0, `}}` when paramLevel > 0). Tags inside SQL comments (line or block) stay text, and a
 * construct opened inside a string literal that fails to parse is kept as plain text.
 */
function parseUntil(
  s: ParseState, optionalLevel: number, paramLevel: number, inString: boolean, comment: '--' | '/*' | null,
): Node[] {
  const acc: Node[] = [];
  for (;;) {
    const tok = s.tokens[s.pos];
    if (tok === undefined) {
      if (optionalLevel > 0 || paramLevel > 0) {
        throw new ParseError("Invalid query: found '[[' or '{{' with no matching ']]' or '}}'");
      }
      return acc;
    }
    s.pos += 1;
    if (typeof tok === 'string') {
      acc.push(tok);
      continue;
    }
    switch (tok.kind) {
      case '[[':
      case '{{': {
        if (comment) {
          acc.push(tok.kind);
          break;
        }
        const resume = s.pos;
        try {
          const inner = tok.kind === '[[' ? parseUntil(s, optionalLevel + 1, paramLevel, inString, comment)
            : parseUntil(s, optionalLevel, paramLevel + 1, inString, comment);
          acc.push(tok.kind === '[[' ? optionalNode(inner) : paramNode(inner));
        } catch (e) {
          // Inside '…' a stray "[[" or "{{" is just text, as in Metabase.
          if (!(inString && e instanceof ParseError)) throw e;
          s.pos = resume;
          acc.push(tok.kind);
        }
        break;
      }
      case '--':
      case '/*':
        if (comment || optionalLevel > 0 || paramLevel > 0 || inString) acc.push(tok.kind);
        else acc.push(tok.kind, ...parseUntil(s, optionalLevel, paramLevel, inString, tok.kind));
        break;
      case '*/':
        acc.push(tok.kind);
        if (comment === '/*') return acc;
        break;
      case '\n':
        acc.push(tok.kind);
        if (comment === '--') return acc;
        break;
      case ']]':
        if (optionalLevel > 0 && !comment) return acc;
        acc.push(tok.kind);
        break;
      case '}}':
        if (paramLevel > 0 && !comment) return acc;
        acc.push(tok.kind);
        break;
      case "'":
        acc.push(tok.kind);
        inString = !inString;
        break;
    }
  }
}

function merge(nodes: Node[]): Node[] {
  const out: Node[] = [];
  for (const n of nodes) {
    const last = out[out.length - 1];
    if (typeof n === 'string' && typeof last === 'string') out[out.length - 1] = last + n;
    else out.push(n);
  }
  return out;
}

function paramNode(inner: Node[]): Node {
  const parts = merge(inner);
  if (parts.length > 1 || (parts.length === 1 && typeof parts[0] !== 'string')) {
    throw new ParseError("Invalid '{{...}}' clause: expected a param name");
  }
  const name = ((parts[0] as string | undefined) ?? '').trim();
  if (name === '') throw new ParseError("'{{...}}' clauses cannot be empty.");
  return { param: name };
}

function optionalNode(inner: Node[]): Node {
  const contents = merge(inner);
  if (!contents.some((n) => typeof n !== 'string' && 'param' in n)) {
    throw new ParseError("[[...]] clauses must contain at least one '{{...}}' clause.");
  }
  return { optional: contents };
}

// --- Values --------------------------------------------------------------------------------------------------------

const NO_VALUE = Symbol('no value');

interface Context {
  readonly tags: Record<string, TemplateTag>;
  readonly values: ReadonlyMap<string, { type: string; value: unknown }>;
  readonly resolveField: (fieldId: number) => string;
  readonly now: Date | undefined;
  /** Each tag's replacement, computed once even when the tag appears several times. */
  readonly cache: Map<string, Replacement | typeof NO_VALUE>;
}

interface Replacement {
  readonly sql: string;
  readonly params: readonly unknown[];
  readonly fieldFilter: boolean;
}

const RAW_TYPES = ['text', 'number', 'date', 'boolean'];

/** Metabase's "no value": nothing, or a list of nothing. */
const isEmpty = (v: unknown): boolean =>
  v === null || v === undefined || (Array.isArray(v) && v.every((x) => x === null || x === undefined));

function missingRequired(tag: TemplateTag): QueryError {
  return new QueryError('missing-required-parameter',
    `You'll need to pick a value for '${tag['display-name'] || tag.name}' before this query can run.`);
}

function replacementFor(name: string, ctx: Context): Replacement | typeof NO_VALUE {
  const cached = ctx.cache.get(name);
  if (cached !== undefined) return cached;
  const tag = Object.hasOwn(ctx.tags, name) ? ctx.tags[name] : undefined;
  if (!tag) {
    throw new QueryError('invalid-query',
      `Invalid query: the SQL uses {{${name}}} but the query has no template tag named "${name}".`);
  }
  let r: Replacement | typeof NO_VALUE;
  if (tag.type === 'dimension') r = fieldFilterReplacement(tag, ctx);
  else if (RAW_TYPES.includes(tag.type)) r = rawReplacement(tag, ctx);
  else throw new QueryError('invalid-query', `Template tag type "${tag.type}" is not supported by this Metabase emulator`);
  ctx.cache.set(name, r);
  return r;
}

/**
 * A raw variable's value, in Metabase's order: a sent value wins; a parameter sent without a value means "no
 * value" unless the tag is required; otherwise the tag's default; otherwise a required tag is an error.
 */
function rawReplacement(tag: TemplateTag, ctx: Context): Replacement | typeof NO_VALUE {
  const sent = ctx.values.get(tag.name);
  let value: unknown;
  if (sent && !isEmpty(sent.value)) value = sent.value;
  else if (sent && !tag.required) return NO_VALUE;
  else if (tag.default !== undefined && tag.default !== null) value = tag.default;
  else if (tag.required) throw missingRequired(tag);
  else return NO_VALUE;
  const bound = rawValues(tag, value);
  if (bound.length === 0) return NO_VALUE;
  // Several values become a comma-separated list of placeholders, for `IN ({{ids}})`.
  return { sql: bound.map(() => '?').join(', '), params: bound, fieldFilter: false };
}

function rawInvalid(tag: TemplateTag, expected: string, got: unknown): QueryError {
  return new QueryError('invalid-parameter',
    `Invalid value for template tag "${tag.name}" of type ${tag.type}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
}

function rawValues(tag: TemplateTag, value: unknown): unknown[] {
  const items = (Array.isArray(value) ? value : [value]).filter((v) => v !== null && v !== undefined);
  switch (tag.type) {
    case 'number':
      // Metabase's `value->number` also splits "1,2,3" into a list; the emulator does not, so that a
      // value can never change the statement (`LIMIT {{n}}` with "3,2" would become an offset).
      return items.map((v) => {
        try {
          return numberValue('number', v);
        } catch {
          throw rawInvalid(tag, 'a number', v);
        }
      });
    case 'boolean':
      return items.map((v) => {
        try {
          return booleanValue('boolean', v);
        } catch {
          throw rawInvalid(tag, 'true or false', v);
        }
      });
    case 'date':
      return items.map((v) => dateValue(tag, v));
    default: // text: Metabase binds `(str value)`.
      return items.map((v) => {
        if (typeof v === 'string') return v;
        if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') return String(v);
        throw rawInvalid(tag, 'a string', v);
      });
  }
}

/**
 * A date variable compares with the stored ISO text, so it is bound as text: a date or local date-time as sent, a
 * date-time with an offset converted to the stored UTC form (`…T08:04:04.580Z`) so the comparison stays exact.
 */
function dateValue(tag: TemplateTag, v: unknown): string {
  if (typeof v === 'string') {
    const m = /^(\d{4})-(\d{2})-(\d{2})(T(\d{2}):(\d{2})(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(v);
    if (m) {
      const [y, mo, d] = [+m[1]!, +m[2]!, +m[3]!];
      const day = new Date(Date.UTC(y, mo - 1, d));
      const validDay = day.getUTCFullYear() === y && day.getUTCMonth() === mo - 1 && day.getUTCDate() === d;
      if (validDay && (!m[4] || (+m[5]! < 24 && +m[6]! < 60))) {
        if (!m[9]) return v;
        const t = new Date(v);
        if (!Number.isNaN(t.getTime())) return t.toISOString();
      }
    }
  }
  throw rawInvalid(tag, 'a date like "2025-01-31" or a date-time like "2025-01-31T10:30:00"', v);
}

/**
 * A field filter's value, after Metabase's `field-filter-value`: a sent value wins; a parameter sent without a
 * value means "no filter" (even when there is a default) unless the tag is required; a required tag falls back to
 * its default or fails.
 */
function fieldFilterReplacement(tag: TemplateTag, ctx: Context): Replacement | typeof NO_VALUE {
  const fieldId = tag.dimension?.[1];
  if (typeof fieldId !== 'number') throw new QueryError('invalid-query', `Invalid query: field filter tag "${tag.name}" has no dimension`);
  const widget = tag['widget-type'] && tag['widget-type'] !== 'none' ? tag['widget-type'] : 'category';
  const sent = ctx.values.get(tag.name);
  let type = widget;
  let value: unknown;
  if (sent && !isEmpty(sent.value)) [type, value] = [sent.type || widget, sent.value];
  else if (sent && !tag.required) return NO_VALUE;
  else if (tag.default !== undefined && tag.default !== null) value = tag.default;
  else if (tag.required) throw missingRequired(tag);
  else return NO_VALUE;
  const clause = fieldFilterClause(ctx.resolveField(fieldId), type, value, {
    caseSensitive: tag.options?.['case-sensitive'] ?? true,
    ...(ctx.now ? { now: ctx.now } : {}),
  });
  return clause ? { sql: clause.sql, params: clause.params, fieldFilter: true } : NO_VALUE;
}

// --- Substitution --------------------------------------------------------------------------------------------------

interface Substituted {
  text: string;
  params: unknown[];
  /** Tags without a value: they drop the enclosing optional clause, or fail the query outside one. */
  missing: string[];
}

/**
 * Metabase's `substitute*`. A field filter without a value is `1 = 1` outside optional clauses; inside one it drops
 * the clause like any other tag without a value. Nested optional clauses are dropped on their own.
 */
function substitute(nodes: readonly Node[], ctx: Context, inOptional: boolean): Substituted {
  const out: Substituted = { text: '', params: [], missing: [] };
  for (const node of nodes) {
    if (typeof node === 'string') {
      out.text += node;
    } else if ('param' in node) {
      const r = replacementFor(node.param, ctx);
      if (r !== NO_VALUE) {
        out.text += r.sql;
        out.params.push(...r.params);
      } else if (!inOptional && ctx.tags[node.param]?.type === 'dimension') {
        out.text += '1 = 1';
      } else {
        out.missing.push(node.param);
      }
    } else {
      const inner = substitute(node.optional, ctx, true);
      if (inner.missing.length === 0) {
        out.text += inner.text;
        out.params.push(...inner.params);
      }
    }
  }
  return out;
}
