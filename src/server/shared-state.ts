/**
 * What the gateway's instances share, from the configuration. With Redis (REDIS_URL or
 * REDIS_CLUSTER_NODES): request and run limits counted across every instance, caches and kept runs
 * every instance reads, identical runs shared across instances, and a store whose state /readyz
 * reports, and agents' recent runs for the risk flags. Without it, the same in this process's memory,
 * for this instance alone.
 */
import type { Config } from '../config/config.js';
import { MemoryAccessStore, RedisAccessStore, type AccessStore } from '../access/records.js';
import { RunStore } from '../metabase/stored-runs.js';
import { localConcurrencyLimiter, localRequestLimiter, type ConcurrencyLimiter, type RequestLimiter } from '../store/rate-limiter.js';
import { SharedCache } from '../store/shared-cache.js';
import { sharedConcurrencyLimiter, sharedRequestLimiter } from '../store/shared-rate-limiter.js';
import { MemoryStore, RedisStore, type SharedStore, type StoreLogger, type StoreState } from '../store/store.js';
import { LocalRiskHistory, SharedRiskHistory, type RiskHistory } from './risk-flags.js';

export interface SharedState {
  readonly store: SharedStore;
  readonly limiter: RequestLimiter;
  readonly concurrency: ConcurrencyLimiter;
  /** Metadata and result caches and shared runs; null when CACHE=off. */
  readonly cache: SharedCache | null;
  /** Runs kept for `queryRun(id)`; null when RUN_STORE_TTL_MS=0. */
  readonly runs: RunStore | null;
  /** What agent callers ran in the last minute, for the risk flags. */
  readonly risks: RiskHistory;
  /** Access requests and grants (every instance sees a revocation at its next request). */
  readonly access: AccessStore;
  /** The Redis store's state; absent without Redis. */
  readonly storeState?: () => StoreState;
  close(): Promise<void>;
}

type Settings = Pick<Config, 'redis' | 'cache' | 'runStore'> & { readonly metabase: Pick<Config['metabase'], 'timeoutMs'> };

export function openSharedState(settings: Settings, logger?: StoreLogger): SharedState {
  const redis = settings.redis;
  // A run's lease outlives the longest run (its Metabase call's timeout), with a margin.
  const leaseMs = settings.metabase.timeoutMs + 5_000;
  const store: SharedStore = redis
    ? new RedisStore({
      ...(redis.url ? { url: redis.url } : redis.sentinels ? { sentinels: redis.sentinels } : { cluster: redis.cluster! }),
      ...(redis.password ? { password: redis.password } : {}), prefix: redis.prefix, timeoutMs: redis.timeoutMs, ...(logger ? { logger } : {}),
    })
    : new MemoryStore({ maxBytes: settings.cache.memoryMaxBytes });
  const cache = settings.cache.enabled ? new SharedCache(store, { maxValueBytes: settings.cache.maxValueBytes, localMaxBytes: settings.cache.localMaxBytes }) : null;
  const runs = settings.runStore.ttlMs > 0 ? new RunStore(store, { ttlMs: settings.runStore.ttlMs, maxBytes: settings.runStore.maxBytes }) : null;
  if (store instanceof RedisStore) {
    return {
      store, cache, runs,
      limiter: sharedRequestLimiter(store), concurrency: sharedConcurrencyLimiter(store, leaseMs), risks: new SharedRiskHistory(store), access: new RedisAccessStore(store),
      storeState: () => store.state, close: () => store.close(),
    };
  }
  return { store, cache, runs, limiter: localRequestLimiter(), concurrency: localConcurrencyLimiter(), risks: new LocalRiskHistory(), access: new MemoryAccessStore(), close: () => store.close() };
}
