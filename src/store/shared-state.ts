/**
 * What the gateway's instances share, from the configuration: with Redis (REDIS_URL or
 * REDIS_CLUSTER_NODES), request limits counted across every instance and a store whose state
 * /readyz reports; without it, each instance limits on its own.
 */
import type { Config } from '../config/config.js';
import { localRequestLimiter, type RequestLimiter } from './rate-limiter.js';
import { sharedRequestLimiter } from './shared-rate-limiter.js';
import { RedisStore, type StoreLogger, type StoreState } from './store.js';

export interface SharedState {
  readonly limiter: RequestLimiter;
  /** The Redis store's state; absent without Redis. */
  readonly storeState?: () => StoreState;
  close(): Promise<void>;
}

export function openSharedState(settings: Config['redis'], logger?: StoreLogger): SharedState {
  if (!settings) return { limiter: localRequestLimiter(), close: async () => undefined };
  const store = new RedisStore({
    ...(settings.url ? { url: settings.url } : { cluster: settings.cluster! }),
    prefix: settings.prefix, timeoutMs: settings.timeoutMs, ...(logger ? { logger } : {}),
  });
  return { limiter: sharedRequestLimiter(store), storeState: () => store.state, close: () => store.close() };
}
