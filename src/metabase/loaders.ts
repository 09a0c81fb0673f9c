/**
 * Per-request loaders, bound to the caller's role credential. They dedupe (an object asked for twice
 * is fetched once), batch where Metabase allows it, and prime each other: the cards embedded in a
 * dashboard fill the card loader; collections and databases come once per request as lists.
 *
 * With a shared cache (`LoaderCache`), what they fetch outlives the request: metadata for its TTL
 * (served stale while refreshed), run results for the role's TTL, each under the credential's cache
 * scope, a fingerprint of the credential itself, so no role ever reads what another credential
 * fetched, and a rotated key starts afresh. Identical runs in flight at once share one Metabase call,
 * within the instance and across instances.
 */
import { createHash } from 'node:crypto';
import DataLoader from 'dataloader';
import { BadUserInputError, NotFoundError, QueryFailedError } from '../errors/index.js';
import type { CallOptions, MetabaseClient, RunParameter } from './client.js';
import type { Card, Collection, Dashboard, Database, ParameterValues, QueryResult } from './types.js';
import { Semaphore } from '../utils/semaphore.js';
import { RequestEnded, type CallScope } from './call-scope.js';
import { requestEndedError } from './transport.js';
import { jsonCodec, type Codec, type Freshness, type SharedCache } from '../store/shared-cache.js';
import { tagged } from '../store/store.js';
import { decodeRun, encodeRun } from './run-codec.js';

export type MetadataKind = 'cards' | 'dashboards' | 'collections' | 'databases';

export interface LoaderCache {
  readonly cache: SharedCache;
  /** The credential's cache scope: a fingerprint of the credential (see MetabaseClient.cacheScope), never the credential. */
  readonly scope: string;
  readonly metadata: Readonly<Record<MetadataKind, Freshness>>;
  /** How long a run's result is kept for later runs, in ms (the role's); 0: not kept. */
  readonly resultTtlMs: number;
  /** Whether ad-hoc SQL results are kept too (the role's). */
  readonly nativeResults: boolean;
  /** Waiting for another instance's identical run: at most this long, in ms. */
  readonly shareWaitMs: number;
  /** A run's lock lives this long at most (the Metabase call's timeout and a margin), in ms. */
  readonly shareLockMs: number;
}

/** Limits on a caller's query runs (runs per minute, runs at once), checked before each run. */
export interface RunGate {
  /** Counts one run against the caller's allowance; throws RATE_LIMITED when it is spent. */
  admit(): Promise<void>;
  /** Holds one of the caller's concurrent-run slots while `run` goes to Metabase; throws RATE_LIMITED when none is free. */
  hold<T>(run: () => Promise<T>): Promise<T>;
}

/** Where a run's result came from: Metabase now, the gateway's result cache, or an identical run in flight. */
export type RunSource = 'metabase' | 'cache' | 'shared';

export interface RunOutcome {
  readonly result: QueryResult;
  readonly source: RunSource;
}

export interface NativeRun {
  readonly databaseId: number;
  readonly sql: string;
  readonly templateTags: Record<string, unknown>;
  readonly parameters: readonly RunParameter[];
}

export interface LoaderLimits {
  readonly questionsListThreshold: number;
  readonly dashboardRunConcurrency: number;
}

export type RunKey =
  | { readonly kind: 'card'; readonly cardId: number; readonly parameters: readonly RunParameter[] }
  | { readonly kind: 'dashcard'; readonly dashboardId: number; readonly dashcardId: number; readonly cardId: number; readonly parameters: readonly { id: string; value: unknown }[] };

export interface Loaders {
  readonly card: DataLoader<number, Card>;
  readonly dashboard: DataLoader<number, Dashboard>;
  readonly databaseMetadata: DataLoader<number, Database>;
  /** Every readable card, one call per request (primes `card`). */
  cardList(): Promise<readonly Card[]>;
  /** Every readable dashboard, without cards, one call per request. */
  dashboardList(): Promise<readonly Dashboard[]>;
  /** Readable collections by id (`root` included), one call per request. */
  collections(): Promise<ReadonlyMap<number | 'root', Collection>>;
  /** Databases by id, one call per request. */
  databases(): Promise<ReadonlyMap<number, Database>>;
  /** Query runs; identical runs in one request share one upstream call (and, with a cache, with other requests). */
  readonly run: DataLoader<RunKey, RunOutcome, string>;
  /** Ad-hoc native SQL, under the same limits and sharing as saved questions. */
  native(run: NativeRun): Promise<RunOutcome>;
  /**
   * The values a dashboard filter or a question parameter may take (those containing `search`), through
   * the metadata cache of the dashboard's or the card's kind: an agent asking again is answered from it.
   */
  parameterValues(owner: 'dashboard' | 'card', id: number, parameterId: string, search: string | null): Promise<ParameterValues>;
  /** The request's call options (its scope), for the calls resolvers make themselves (search, native SQL). */
  readonly call: CallOptions;
}

const once = <T>(load: () => Promise<T>): (() => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => (p ??= load());
};

/**
 * @param scope the request the calls are made for (see call-scope.ts): its end cancels them, and a
 *   run waiting for one of the dashboard's slots stops waiting.
 */
export function createLoaders(client: MetabaseClient, limits: LoaderLimits, scope?: CallScope, shared?: { cache?: LoaderCache | null; gate?: RunGate | null }): Loaders {
  const options: CallOptions = scope ? { scope } : {};
  const signal = scope?.signal;
  const dashboardRuns = new Semaphore(limits.dashboardRunConcurrency);
  const cache = shared?.cache ?? null;
  const gate = shared?.gate ?? null;

  /** Metadata through the cache when there is one; a stale entry is refreshed outside any request. */
  const cached = async <T>(kind: MetadataKind, key: string, load: (o: CallOptions) => Promise<T>, codec: Codec<T>): Promise<T> => {
    if (!cache) return load(options);
    return (await cache.cache.read(`md:${cache.scope}:${key}`, cache.metadata[kind], codec, () => load(options), () => load({}))).value;
  };

  /** Holds one of the caller's concurrent-run slots while Metabase runs the query (taken after any wait for a dashboard slot). */
  const held = (call: () => Promise<QueryResult>): Promise<QueryResult> => (gate ? gate.hold(call) : call());

  /** A run through the gate, the result cache and single-flight; `upstream` holds its run slot itself. */
  const shareRun = async (key: string, keep: boolean, upstream: () => Promise<QueryResult>): Promise<RunOutcome> => {
    await gate?.admit();
    if (!cache) return { result: await upstream(), source: 'metabase' };
    const digest = createHash('sha256').update(key).digest('base64url');
    const shared = await cache.cache.share(`run:${tagged(`${cache.scope}:${digest}`)}`, RUN_CODEC, upstream, {
      keepMs: keep ? cache.resultTtlMs : 0, waitMs: cache.shareWaitMs, lockMs: cache.shareLockMs, ...(signal ? { signal } : {}),
      shareable: (err) => err instanceof QueryFailedError || err instanceof BadUserInputError,
    });
    return { result: shared.value, source: shared.outcome === 'ran' ? 'metabase' : shared.outcome };
  };

  const cardList = once(async () => {
    const cards = await cached('cards', 'cards', (o) => client.listCards({}, o), CARDS);
    for (const c of cards) card.prime(c.id, c);
    return cards;
  });

  const card: DataLoader<number, Card> = new DataLoader(async (ids) => {
    // Metabase has no batch read of full cards: one call per id (under the client's cap), or the
    // whole list in one heavy call when many are asked at once.
    if (ids.length > limits.questionsListThreshold) {
      const byId = new Map((await cardList()).map((c) => [c.id, c]));
      return ids.map((id) => byId.get(id) ?? new NotFoundError(`No question ${id} is visible to your role.`));
    }
    const settled = await Promise.allSettled(ids.map((id) => cached('cards', `card:${id}`, (o) => client.getCard(id, o), CARD)));
    return settled.map((s) => (s.status === 'fulfilled' ? s.value : asError(s.reason)));
  });

  const dashboard: DataLoader<number, Dashboard> = new DataLoader(async (ids) => {
    const settled = await Promise.allSettled(ids.map((id) => cached('dashboards', `dashboard:${id}`, (o) => client.getDashboard(id, o), DASHBOARD)));
    return settled.map((s) => {
      if (s.status === 'rejected') return asError(s.reason);
      for (const dc of s.value.dashcards) {
        for (const c of [dc.card, ...dc.series]) if (c && !('restricted' in c)) card.prime(c.id, c);
      }
      return s.value;
    });
  });

  const databaseMetadata: DataLoader<number, Database> = new DataLoader(async (ids) => {
    const settled = await Promise.allSettled(ids.map((id) => cached('databases', `database-metadata:${id}`, (o) => client.getDatabaseMetadata(id, {}, o), DATABASE)));
    return settled.map((s) => (s.status === 'fulfilled' ? s.value : asError(s.reason)));
  });

  const run = new DataLoader<RunKey, RunOutcome, string>(
    async (keys) => {
      const settled = await Promise.allSettled(keys.map((k) => shareRun(runKey(k), true, () =>
        k.kind === 'card'
          ? held(() => client.runCard(k.cardId, { parameters: k.parameters }, options))
          : dashboardRuns.run(() => held(() => client.runDashcard(k.dashboardId, k.dashcardId, k.cardId, { parameters: k.parameters }, options)), signal))));
      return settled.map((s) => (s.status === 'fulfilled' ? s.value : asError(s.reason)));
    },
    { cacheKeyFn: runKey },
  );

  const native = (n: NativeRun): Promise<RunOutcome> => shareRun(
    canonical({ kind: 'native', databaseId: n.databaseId, sql: n.sql, templateTags: n.templateTags, parameters: n.parameters }),
    cache?.nativeResults ?? false,
    () => held(() => client.runNative(n.databaseId, n.sql, { templateTags: n.templateTags, parameters: n.parameters }, options)),
  ).catch((err: unknown) => Promise.reject(asError(err)));

  return {
    card,
    dashboard,
    databaseMetadata,
    run,
    native,
    call: options,
    parameterValues: (owner, id, parameterId, search) => cached(owner === 'card' ? 'cards' : 'dashboards',
      `pv:${canonical({ owner, id, parameterId, search })}`, (o) => client.parameterValues(owner, id, parameterId, { search }, o), PARAMETER_VALUES),
    cardList,
    dashboardList: once(() => cached('dashboards', 'dashboards', (o) => client.listDashboards({}, o), DASHBOARDS)),
    collections: once(async () => new Map((await cached('collections', 'collections', (o) => client.listCollections({}, o), COLLECTIONS)).map((c) => [c.id, c]))),
    databases: once(async () => new Map((await cached('databases', 'databases', async (o) => (await client.listDatabases({}, o)).data, DATABASES)).map((d) => [d.id, d]))),
  };
}

/**
 * A run's identity: what it runs and with which values, parameters in id order (the order a caller
 * listed them in does not change the answer). The row cap is not part of it: the whole result is
 * kept, and each reader's cap applies on the way out.
 */
function runKey(k: RunKey): string {
  const parameters = [...k.parameters].sort((a, b) => (String(a.id ?? '') < String(b.id ?? '') ? -1 : String(a.id ?? '') > String(b.id ?? '') ? 1 : 0));
  return canonical({ ...k, parameters });
}

/** JSON with a fixed key order at the top level (values were checked and bounded by the gate). */
const canonical = (o: Record<string, unknown>): string => JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));

const CARD = jsonCodec<Card>();
const CARDS = jsonCodec<Card[]>();
const DASHBOARD = jsonCodec<Dashboard>();
const DASHBOARDS = jsonCodec<Dashboard[]>();
const COLLECTIONS = jsonCodec<Collection[]>();
const DATABASE = jsonCodec<Database>();
const DATABASES = jsonCodec<Database[]>();
const PARAMETER_VALUES = jsonCodec<ParameterValues>();
const RUN_CODEC: Codec<QueryResult> = {
  encode: (result, storedAt) => encodeRun(result, storedAt),
  decode: (text) => {
    const { result, storedAt } = decodeRun(text);
    return { value: result, storedAt };
  },
};

const asError = (reason: unknown): Error =>
  reason instanceof RequestEnded ? requestEndedError(reason, 'a dashboard run waiting for a slot') : reason instanceof Error ? reason : new Error(String(reason));
