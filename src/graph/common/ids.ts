/** Parsing ids from GraphQL arguments: Metabase ids are positive integers; collections also take `root`. */
import { BadUserInputError } from '../../errors/index.js';

/**
 * What a caller's value is, in words, for error messages: its kind and size, never its content
 * (it may come from a variable, and may be large or private).
 */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return value === '' ? 'an empty string' : `a string of ${value.length} characters`;
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  if (Array.isArray(value)) return `a list of ${value.length} items`;
  return 'an object';
}

export function parseId(raw: string | number, what: string): number {
  const s = String(raw).trim();
  if (!/^[0-9]{1,15}$/.test(s) || Number(s) < 1) {
    throw new BadUserInputError(`Expected ${what} id to be a positive integer, received ${describeValue(raw)}.`, { details: { argument: 'id' } });
  }
  return Number(s);
}

export function parseCollectionId(raw: string | number): number | 'root' {
  return String(raw).trim() === 'root' ? 'root' : parseId(raw, 'a collection');
}

/** Whether an item with this `collection_id` sits directly in the collection (`root` holds null). */
export const isIn = (itemCollectionId: number | null, collection: number | 'root'): boolean =>
  collection === 'root' ? itemCollectionId === null : itemCollectionId === collection;
