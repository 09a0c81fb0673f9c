/**
 * Which collections a role may read, as the policy says (`all`, ids, subtrees, `root`), applied to
 * everything that lives in a collection. This sits on top of the role's Metabase credential, which
 * already limits what Metabase returns: a policy can only narrow what the credential shows.
 * Subtrees need each collection's location, which comes from the request's (single) collection list.
 */
import type { Collection } from '../metabase/types.js';
import { collectionHeld, type CollectionAccess } from '../policy/policy.js';

type CollectionKey = number | 'root';
type CollectionMap = ReadonlyMap<CollectionKey, Collection>;

/** What every collection check answers per object (memoized) and per list, from its `collection` answer. */
export abstract class CollectionCheck {
  readonly #memo = new WeakMap<object, Promise<boolean>>();

  abstract readonly unrestricted: boolean;

  /** May items directly in this collection be read (`null` is the root collection)? */
  abstract collection(id: CollectionKey | null): Promise<boolean>;

  /**
   * The same answer for an object, computed once per object per request (shield asks per field).
   * `undefined`: the object lives outside collections (a database or table).
   */
  object(root: object, collectionId: CollectionKey | null | undefined): Promise<boolean> {
    if (collectionId === undefined) return Promise.resolve(true);
    let answer = this.#memo.get(root);
    if (!answer) {
      answer = this.collection(collectionId);
      this.#memo.set(root, answer);
    }
    return answer;
  }

  /** The items whose collection may be read, in order. */
  async filter<T>(items: readonly T[], collectionOf: (item: T) => CollectionKey | null): Promise<T[]> {
    if (this.unrestricted) return [...items];
    const keep = await Promise.all(items.map((item) => this.collection(collectionOf(item))));
    return items.filter((_, i) => keep[i]);
  }
}

export class AccessChecker extends CollectionCheck {
  constructor(private readonly access: CollectionAccess, private readonly collections: () => Promise<CollectionMap>) {
    super();
  }

  /** Whether the role may see everything Metabase shows it (no per-collection check needed). */
  get unrestricted(): boolean {
    return this.access.all;
  }

  /** May the role read items directly in this collection (`null` is the root collection)? */
  collection(id: CollectionKey | null): Promise<boolean> {
    return collectionHeld(this.access, id, async () => {
      const found = id === null || id === 'root' ? undefined : (await this.collections()).get(id);
      return found ? ancestors(found) : [];
    });
  }
}

/** Ids above a collection, from its location (`/1/3/` → 1, 3). */
export function ancestors(c: Collection): number[] {
  return (c.location ?? '/').split('/').filter(Boolean).map(Number);
}
