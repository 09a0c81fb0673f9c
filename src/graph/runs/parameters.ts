/**
 * Checking parameter values against what a question or dashboard declares, before any upstream call:
 * unknown names, missing required values and values of the wrong type are BAD_USER_INPUT errors that
 * name the parameter and say what was expected.
 */
import { BadUserInputError } from '../../errors/index.js';
import type { Parameter } from '../../metabase/types.js';
import { describeValue } from '../common/ids.js';
import type { ParameterValueInput } from '../common/parameter.type.js';

export interface ResolvedValue {
  readonly parameter: Parameter;
  readonly value: unknown;
}

const DATE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** What a parameter type takes, as a predicate and as words for the error message. */
function expectation(type: string): { ok: (v: unknown) => boolean; words: string } {
  const many = (ok: (v: unknown) => boolean) => (v: unknown) => (Array.isArray(v) ? v.length > 0 && v.every(ok) : ok(v));
  const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const isStr = (v: unknown) => typeof v === 'string';
  if (type === 'number/between') return { ok: (v) => Array.isArray(v) && v.length === 2 && v.every((x) => x === null || isNum(x)) && v.some(isNum), words: 'a pair of numbers [min, max] (one may be null)' };
  if (type === 'number' || type.startsWith('number/')) return { ok: many(isNum), words: 'a number or a list of numbers' };
  if (type === 'boolean' || type.startsWith('boolean/')) return { ok: (v) => typeof v === 'boolean', words: 'true or false' };
  if (type === 'date' || type === 'date/single') return { ok: (v) => isStr(v) && DATE.test(v as string), words: 'a date such as "2026-01-31"' };
  if (type === 'date/range') return { ok: (v) => isStr(v) && /^(\d{4}-\d{2}-\d{2})?~(\d{4}-\d{2}-\d{2})?$/.test(v as string) && v !== '~', words: 'a range such as "2026-01-01~2026-03-31"' };
  if (type === 'date/month-year') return { ok: (v) => isStr(v) && /^\d{4}-\d{2}$/.test(v as string), words: 'a month such as "2026-03"' };
  if (type === 'date/quarter-year') return { ok: (v) => isStr(v) && /^Q[1-4]-\d{4}$/.test(v as string), words: 'a quarter such as "Q1-2026"' };
  if (type.startsWith('date/') || type === 'temporal-unit') return { ok: (v) => isStr(v) && (v as string).length > 0, words: 'a non-empty string' };
  if (type === 'id' || type === 'category') return { ok: many((v) => isStr(v) || isNum(v) || typeof v === 'boolean'), words: 'a string or number, or a list of them' };
  return { ok: many(isStr), words: 'a string or a list of strings' };
}

/**
 * Matches inputs to declared parameters by id or slug and checks each value.
 * @param owner how the owner is named in messages, e.g. `question 2`.
 */
export function resolveParameterValues(declared: readonly Parameter[], inputs: readonly ParameterValueInput[] | null | undefined, owner: string): ResolvedValue[] {
  const seen = new Set<string>();
  const resolved: ResolvedValue[] = [];
  const names = declared.map((p) => `${p.slug} (${p.type})`).join(', ') || 'none';
  for (const input of inputs ?? []) {
    const byId = input.id ?? null;
    const bySlug = input.slug ?? null;
    if ((byId === null) === (bySlug === null)) {
      throw new BadUserInputError(`Each parameter value of ${owner} needs exactly one of \`id\` or \`slug\`.`, { details: { argument: 'parameters' } });
    }
    const parameter = declared.find((p) => (byId !== null ? p.id === byId : p.slug === bySlug));
    const name = String(byId ?? bySlug).slice(0, 64);
    if (!parameter) {
      throw new BadUserInputError(`Unknown parameter "${name}" for ${owner}; expected one of: ${names}.`, { details: { argument: 'parameters', parameter: name } });
    }
    if (seen.has(parameter.id)) throw new BadUserInputError(`Parameter "${parameter.slug}" of ${owner} is given twice.`, { details: { argument: 'parameters', parameter: parameter.slug } });
    seen.add(parameter.id);
    const value = input.value ?? null;
    if (value !== null) {
      const { ok, words } = expectation(parameter.type);
      if (!ok(value)) {
        throw new BadUserInputError(`Parameter "${parameter.slug}" of ${owner} (${parameter.type}) expects ${words}, received ${describeValue(value)}.`, { details: { argument: 'parameters', parameter: parameter.slug } });
      }
    }
    resolved.push({ parameter, value });
  }
  for (const p of declared) {
    const given = resolved.find((r) => r.parameter.id === p.id);
    if (p.required && (p.default === null || p.default === undefined) && (!given || given.value === null)) {
      throw new BadUserInputError(`Parameter "${p.slug}" of ${owner} is required: it expects ${expectation(p.type).words}.`, { details: { argument: 'parameters', parameter: p.slug } });
    }
  }
  return resolved;
}
