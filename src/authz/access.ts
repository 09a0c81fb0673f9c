/**
 * Which collections a role may read, as the policy says (`all`, ids, subtrees, `root`), applied to
 * everything that lives in a collection. This sits on top of the role's Metabase credential, which
 * already limits what Metabase returns: a policy can only narrow what the credential shows.
 * Subtrees need each collection's location, which comes from the request's (single) collection list.
 */
import type { Collection } from '../metabase/types.js';
import type { CollectionAccess } from '../policy/policy.js';

type CollectionKey = number | 'root';
type CollectionMap = ReadonlyMap<CollectionKey, Collection>;

export class AccessChecker {
  readonly #memo = new WeakMap<object, Promise<boolean>>();

  constructor(private readonly access: CollectionAccess, private readonly collections: () => Promise<CollectionMap>) {}

  /** Whether the role may see everything Metabase shows it (no per-collection check needed). */
  get unrestricted(): boolean {
    return this.access.all;
  }

  /** May the role read items directly in this collection (`null` is the root collection)? */
  async collection(id: CollectionKey | null): Promise<boolean> {
    const a = this.access;
    if (a.all) return true;
    if (id === null || id === 'root') return a.root;
    if (a.ids.includes(id)) return true;
    if (a.subtrees.length === 0) return false;
    if (a.subtrees.includes(id)) return true;
    const found = (await this.collections()).get(id);
    return !!found && ancestors(found).some((ancestor) => a.subtrees.includes(ancestor));
  }

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

  /** The items whose collection the role may read, in order. */
  async filter<T>(items: readonly T[], collectionOf: (item: T) => CollectionKey | null): Promise<T[]> {
    if (this.access.all) return [...items];
    const keep = await Promise.all(items.map((item) => this.collection(collectionOf(item))));
    return items.filter((_, i) => keep[i]);
  }
}

/** Ids above a collection, from its location (`/1/3/` → 1, 3). */
export function ancestors(c: Collection): number[] {
  return (c.location ?? '/').split('/').filter(Boolean).map(Number);
}
