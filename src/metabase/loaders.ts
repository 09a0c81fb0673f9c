/**
 * Per-request loaders, bound to the caller's role credential, so no cache is ever shared between
 * callers of different roles and nothing outlives the request. They dedupe (an object asked for twice
 * is fetched once), batch where Metabase allows it, and prime each other: the cards embedded in a
 * dashboard fill the card loader; collections and databases come once per request as lists.
 */
import DataLoader from 'dataloader';
import { NotFoundError } from '../errors/index.js';
import type { CallOptions, MetabaseClient, RunParameter } from './client.js';
import type { Card, Collection, Dashboard, Database, QueryResult } from './types.js';
import { Semaphore } from '../utils/semaphore.js';
import { RequestEnded, type CallScope } from './call-scope.js';
import { requestEndedError } from './transport.js';

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
  /** Query runs; identical runs in one request share one upstream call. */
  readonly run: DataLoader<RunKey, QueryResult, string>;
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
export function createLoaders(client: MetabaseClient, limits: LoaderLimits, scope?: CallScope): Loaders {
  const options: CallOptions = scope ? { scope } : {};
  const signal = scope?.signal;
  const dashboardRuns = new Semaphore(limits.dashboardRunConcurrency);

  const cardList = once(async () => {
    const cards = await client.listCards({}, options);
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
    const settled = await Promise.allSettled(ids.map((id) => client.getCard(id, options)));
    return settled.map((s) => (s.status === 'fulfilled' ? s.value : asError(s.reason)));
  });

  const dashboard: DataLoader<number, Dashboard> = new DataLoader(async (ids) => {
    const settled = await Promise.allSettled(ids.map((id) => client.getDashboard(id, options)));
    return settled.map((s) => {
      if (s.status === 'rejected') return asError(s.reason);
      for (const dc of s.value.dashcards) {
        for (const c of [dc.card, ...dc.series]) if (c && !('restricted' in c)) card.prime(c.id, c);
      }
      return s.value;
    });
  });

  const databaseMetadata: DataLoader<number, Database> = new DataLoader(async (ids) => {
    const settled = await Promise.allSettled(ids.map((id) => client.getDatabaseMetadata(id, {}, options)));
    return settled.map((s) => (s.status === 'fulfilled' ? s.value : asError(s.reason)));
  });

  const run = new DataLoader<RunKey, QueryResult, string>(
    async (keys) => {
      const settled = await Promise.allSettled(keys.map((k) =>
        k.kind === 'card'
          ? client.runCard(k.cardId, { parameters: k.parameters }, options)
          : dashboardRuns.run(() => client.runDashcard(k.dashboardId, k.dashcardId, k.cardId, { parameters: k.parameters }, options), signal)));
      return settled.map((s) => (s.status === 'fulfilled' ? s.value : asError(s.reason)));
    },
    { cacheKeyFn: (k) => JSON.stringify(k) },
  );

  return {
    card,
    dashboard,
    databaseMetadata,
    run,
    call: options,
    cardList,
    dashboardList: once(() => client.listDashboards({}, options)),
    collections: once(async () => new Map((await client.listCollections({}, options)).map((c) => [c.id, c]))),
    databases: once(async () => new Map((await client.listDatabases({}, options)).data.map((d) => [d.id, d]))),
  };
}

const asError = (reason: unknown): Error =>
  reason instanceof RequestEnded ? requestEndedError(reason, 'a dashboard run waiting for a slot') : reason instanceof Error ? reason : new Error(String(reason));
