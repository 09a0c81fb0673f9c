/** Parsing ids from GraphQL arguments: Metabase ids are positive integers; collections also take `root`. */
import { BadUserInputError } from '../../errors/index.js';

export function parseId(raw: string | number, what: string): number {
  const s = String(raw).trim();
  if (!/^[0-9]{1,15}$/.test(s) || Number(s) < 1) {
    throw new BadUserInputError(`Expected ${what} id to be a positive integer, received ${JSON.stringify(String(raw)).slice(0, 60)}.`, { details: { argument: 'id' } });
  }
  return Number(s);
}

export function parseCollectionId(raw: string | number): number | 'root' {
  return String(raw).trim() === 'root' ? 'root' : parseId(raw, 'a collection');
}

/** Whether an item with this `collection_id` sits directly in the collection (`root` holds null). */
export const isIn = (itemCollectionId: number | null, collection: number | 'root'): boolean =>
  collection === 'root' ? itemCollectionId === null : itemCollectionId === collection;
