/** What every resolver is given: who is asking, in which role, and the loaders bound to that role. */
import type { Loaders } from '../graph/loaders.js';
import type { Viewer } from '../identity/viewer.js';
import type { MetabaseClient } from '../metabase/client.js';

export interface GatewayContext {
  readonly requestId: string;
  readonly viewer: Viewer;
  /** The role whose Metabase credential this request uses. */
  readonly role: { readonly name: string; readonly client: MetabaseClient };
  readonly loaders: Loaders;
  readonly limits: { readonly maxPageSize: number };
}
