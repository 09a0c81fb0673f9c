/**
 * The gateway's Metabase REST client: typed calls for the endpoints of API-CONTRACT.md §4, made with
 * one role's credential over a shared keep-alive connection pool. Every call has a timeout and waits
 * for a slot under a per-credential concurrency cap; a login session is made once, reused, and
 * renewed once on a 401. Failures leave as gateway errors (see transport.ts).
 */
import { scrypt } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';
import { DEFAULT_MAX_CONCURRENT } from '../config/config.js';
import { BadUserInputError, GatewayError, UpstreamAuthError, UpstreamUnavailableError } from '../errors/index.js';
import { Semaphore } from '../utils/semaphore.js';
import type { CallScope } from './call-scope.js';
import { fixedCredential, type CredentialProvider } from './credential-source.js';
import type { MetabaseCredential } from './credentials.js';
import { Reader } from './decode.js';
import { isFailedRun, queryFailure, send, toGatewayError, transportError, type QueryValue, type UpstreamRequest, type UpstreamResponse } from './transport.js';
import {
  readArray, readCard, readCardDashboards, readCollection, readCollectionItem, readCurrentUser, readDashboard, readDatabase,
  readGroup, readPage, readParameterValues, readQueryResult, readSearchResult, readTreeNode,
  type Card, type CardDashboards, type Collection, type CollectionItem, type CollectionTreeNode, type CurrentUser, type Dashboard,
  type Database, type Group, type Page, type ParameterValues, type QueryResult, type SearchResult,
} from './types.js';

export interface MetabaseClientOptions {
  /** Metabase's base URL, e.g. `https://metabase.example.com` (the client adds `/api/...`). */
  readonly baseUrl: string | URL;
  /** The credential, or a provider that can read a rotated one again. */
  readonly credential: MetabaseCredential | CredentialProvider;
  /** A login session older than this is renewed before the next call. Default 13 days (Metabase ends them at 14). */
  readonly sessionMaxAgeMs?: number;
  /** Per-call timeout, including reading the body, in ms. Default 30,000 (Metabase's own limit is 10 min). */
  readonly timeoutMs?: number;
  /**
   * Calls in flight at once with this credential. Default 32. Callers waiting for a slot are served in
   * turn, one call per viewer (see utils/semaphore.ts), so one caller's queue never holds another's.
   */
  readonly maxConcurrent?: number;
  /** Largest answer read from Metabase, on the wire and after gunzip, in bytes. Default 64 MiB. */
  readonly maxResponseBytes?: number;
  /**
   * Ask Metabase for gzipped answers. Default false: on the same network, gzip costs Metabase and the
   * gateway more CPU than it saves in transfer; turn it on when Metabase is far away.
   */
  readonly acceptGzip?: boolean;
  /** Connection pool; share one between the clients of all roles. Default: a pool for this client. */
  readonly dispatcher?: Dispatcher;
  /** The credential scope's name for the audit trail (e.g. where the credential is read from); never the credential. */
  readonly scope?: string;
  /** The clock sessions are aged by, in ms since the epoch. Default `Date.now` (tests freeze it). */
  readonly now?: () => number;
}

/** A parameter value for a run: by id, with the type and target Metabase fills in when left out. */
export interface RunParameter {
  readonly id?: string;
  readonly type?: string;
  readonly target?: unknown;
  readonly value: unknown;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
  /**
   * The request the call is made for: its id and user go out as correlation headers, its signal
   * cancels the call, its budget counts the call, and the call is recorded for its audit trail.
   */
  readonly scope?: CallScope;
}

type Query = Readonly<Record<string, QueryValue>>;

/** Room for a 2,000-row page of a wide table with its metadata, many times over. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * A keep-alive pool for Metabase calls, shared by the clients of all roles. Metabase closes the
 * connection after each query run. No cap of its own by default: each client's `maxConcurrent` bounds
 * its calls, so the pool holds at most their sum (a fixed pool size silently capped every role's
 * concurrency at it).
 */
export function createMetabasePool(options: { connections?: number; keepAliveTimeoutMs?: number } = {}): Agent {
  return new Agent({ connections: options.connections ?? null, keepAliveTimeout: options.keepAliveTimeoutMs ?? 10_000 });
}

/** scrypt's cost for cache scopes: about 30 ms once per credential, too slow to guess passwords from keys at scale. */
const SCOPE_COST = { N: 1 << 14, r: 8, p: 1 };

export class MetabaseClient {
  private readonly baseUrl: URL;
  private readonly credentials: CredentialProvider;
  private readonly scope: string;
  private readonly sessionMaxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly acceptGzip: boolean;
  private readonly limiter: Semaphore;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly now: () => number;
  // A true private field: `util.inspect(client)` must not print the session id.
  #session: Promise<string> | undefined;
  #sessionBornAt = 0;
  /** Cache scopes by credential object: computed once per credential (a rotation makes a new object). */
  readonly #scopes = new WeakMap<MetabaseCredential, Promise<string>>();

  constructor(options: MetabaseClientOptions) {
    this.baseUrl = new URL(options.baseUrl);
    if (this.baseUrl.protocol !== 'http:' && this.baseUrl.protocol !== 'https:') {
      throw new TypeError(`Metabase baseUrl must be http or https, received "${this.baseUrl.protocol}"`);
    }
    this.credentials = 'current' in options.credential ? options.credential : fixedCredential(options.credential);
    this.scope = options.scope ?? 'metabase';
    this.sessionMaxAgeMs = positive('sessionMaxAgeMs', options.sessionMaxAgeMs ?? 13 * 24 * 3_600_000);
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? 30_000);
    this.maxResponseBytes = positive('maxResponseBytes', options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
    this.acceptGzip = options.acceptGzip ?? false;
    this.limiter = new Semaphore(positive('maxConcurrent', options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT));
    this.ownsDispatcher = !options.dispatcher;
    this.now = options.now ?? Date.now;
    this.dispatcher = options.dispatcher ?? createMetabasePool();
  }

  /**
   * The name caches file this credential's answers under: a fingerprint of Metabase's address and
   * the credential itself (scrypt, so a store's keys do not help guess a password), the same on every
   * instance. A rotated key or password has a new one, so nothing fetched with the old credential is
   * served under the new one; roles sharing a credential share it.
   */
  cacheScope(): Promise<string> {
    const credential = this.credentials.current();
    let scope = this.#scopes.get(credential);
    if (!scope) {
      const secret = credential.kind === 'api-key' ? `api-key\u0000${credential.apiKey.reveal()}` : `login\u0000${credential.username}\u0000${credential.password.reveal()}`;
      scope = new Promise<string>((resolve, reject) => {
        scrypt(secret, `metabase-gateway cache scope\u0000${this.baseUrl.origin}${this.baseUrl.pathname}`, 15, SCOPE_COST, (err, key) => (err ? reject(err) : resolve(key.toString('base64url'))));
      });
      this.#scopes.set(credential, scope);
      // A failure is not kept: the next request computes it again.
      scope.catch(() => this.#scopes.delete(credential));
    }
    return scope;
  }

  /** Calls in flight now with this credential (never above `maxConcurrent`). */
  get inFlight(): number {
    return this.limiter.running;
  }

  // --- Endpoints -------------------------------------------------------------------------------

  /** `GET /api/health`: needs no credential. */
  async health(options: CallOptions = {}): Promise<{ status: string }> {
    const res = await send(this.transport(), { method: 'GET', path: '/api/health', ...signalOf(options) });
    if (res.status !== 200) throw toGatewayError(res, 'GET /api/health');
    return { status: Reader.of(res.body, 'health').str('status') };
  }

  async currentUser(options: CallOptions = {}): Promise<CurrentUser> {
    return readCurrentUser(Reader.of(await this.get('/api/user/current', {}, options), 'user'));
  }

  /** `GET /api/card`: every readable card, one heavy call (no paging upstream). */
  async listCards(filter: { f?: 'all' | 'mine' | 'archived' | 'database' | 'table'; modelId?: number } = {}, options: CallOptions = {}): Promise<Card[]> {
    return readArray(await this.get('/api/card', { f: filter.f, model_id: filter.modelId }, options), 'cards', readCard);
  }

  async getCard(id: number | string, options: CallOptions & { legacyMbql?: boolean } = {}): Promise<Card> {
    const query = options.legacyMbql ? { 'legacy-mbql': true } : {};
    return readCard(Reader.of(await this.get(`/api/card/${encodeURIComponent(id)}`, query, options), 'card'));
  }

  async runCard(id: number, run: { parameters?: readonly RunParameter[]; ignoreCache?: boolean; dashboardId?: number } = {}, options: CallOptions = {}): Promise<QueryResult> {
    const body: Record<string, unknown> = { parameters: run.parameters ?? [], ignore_cache: run.ignoreCache ?? false };
    if (run.dashboardId !== undefined) body['dashboard_id'] = run.dashboardId;
    return this.run(`/api/card/${id}/query`, body, options);
  }

  /** Runs a card on a dashboard with the dashboard's filter values (only `id` and `value` per parameter). */
  async runDashcard(dashboardId: number, dashcardId: number, cardId: number, run: { parameters?: readonly { id: string; value: unknown }[] } = {}, options: CallOptions = {}): Promise<QueryResult> {
    const path = `/api/dashboard/${dashboardId}/dashcard/${dashcardId}/card/${cardId}/query`;
    return this.run(path, { parameters: (run.parameters ?? []).map((p) => ({ id: p.id, value: p.value })) }, options);
  }

  /** Ad-hoc native SQL (`POST /api/dataset`), in the legacy native shape every release accepts. */
  async runNative(databaseId: number, sql: string, run: { templateTags?: Record<string, unknown>; parameters?: readonly RunParameter[] } = {}, options: CallOptions = {}): Promise<QueryResult> {
    return this.run('/api/dataset', {
      database: databaseId, type: 'native', native: { query: sql, 'template-tags': run.templateTags ?? {} }, parameters: run.parameters ?? [],
    }, options);
  }

  async listDashboards(filter: { f?: 'all' | 'mine' | 'archived' } = {}, options: CallOptions = {}): Promise<Dashboard[]> {
    return readArray(await this.get('/api/dashboard', { f: filter.f }, options), 'dashboards', readDashboard);
  }

  async getDashboard(id: number | string, options: CallOptions = {}): Promise<Dashboard> {
    return readDashboard(Reader.of(await this.get(`/api/dashboard/${encodeURIComponent(id)}`, {}, options), 'dashboard'));
  }

  async listCollections(filter: { archived?: boolean; excludeOtherUserCollections?: boolean; personalOnly?: boolean } = {}, options: CallOptions = {}): Promise<Collection[]> {
    const query = { archived: filter.archived, 'exclude-other-user-collections': filter.excludeOtherUserCollections, 'personal-only': filter.personalOnly };
    return readArray(await this.get('/api/collection', query, options), 'collections', readCollection);
  }

  async getRootCollection(options: CallOptions = {}): Promise<Collection> {
    return readCollection(Reader.of(await this.get('/api/collection/root', {}, options), 'collection'));
  }

  async getCollection(id: number | string, options: CallOptions = {}): Promise<Collection> {
    if (id === 'root') return this.getRootCollection(options);
    return readCollection(Reader.of(await this.get(`/api/collection/${encodeURIComponent(id)}`, {}, options), 'collection'));
  }

  async getCollectionItems(
    id: number | 'root' | 'trash',
    filter: { models?: readonly string[]; archived?: boolean; pinnedState?: 'all' | 'is_pinned' | 'is_not_pinned'; sortColumn?: 'name' | 'last_edited_at' | 'model'; sortDirection?: 'asc' | 'desc'; limit?: number; offset?: number } = {},
    options: CallOptions = {},
  ): Promise<Page<CollectionItem>> {
    const query = {
      models: filter.models, archived: filter.archived, pinned_state: filter.pinnedState, sort_column: filter.sortColumn,
      sort_direction: filter.sortDirection, limit: filter.limit, offset: filter.offset,
    };
    return readPage(Reader.of(await this.get(`/api/collection/${id}/items`, query, options), 'items'), readCollectionItem);
  }

  async getCollectionTree(filter: { excludeArchived?: boolean; excludeOtherUserCollections?: boolean; shallow?: boolean; collectionId?: number } = {}, options: CallOptions = {}): Promise<CollectionTreeNode[]> {
    const query = {
      'exclude-archived': filter.excludeArchived, 'exclude-other-user-collections': filter.excludeOtherUserCollections,
      shallow: filter.shallow, 'collection-id': filter.collectionId,
    };
    return readArray(await this.get('/api/collection/tree', query, options), 'tree', readTreeNode);
  }

  async listDatabases(filter: { includeTables?: boolean } = {}, options: CallOptions = {}): Promise<Page<Database>> {
    const body = Reader.of(await this.get('/api/database', { include: filter.includeTables ? 'tables' : undefined }, options), 'databases');
    return readPage(body, readDatabase);
  }

  async getDatabase(id: number, options: CallOptions = {}): Promise<Database> {
    return readDatabase(Reader.of(await this.get(`/api/database/${id}`, {}, options), 'database'));
  }

  /** A database with its tables and their fields. */
  async getDatabaseMetadata(id: number, filter: { includeHidden?: boolean; skipFields?: boolean } = {}, options: CallOptions = {}): Promise<Database> {
    const query = { include_hidden: filter.includeHidden, skip_fields: filter.skipFields };
    return readDatabase(Reader.of(await this.get(`/api/database/${id}/metadata`, query, options), 'metadata'));
  }

  /** `GET /api/search`. `ids` needs exactly one model (Metabase's rule), checked here before the call. */
  async search(filter: { q?: string; models?: readonly string[]; ids?: readonly number[]; archived?: boolean; collectionId?: number; tableDbId?: number; limit?: number; offset?: number } = {}, options: CallOptions = {}): Promise<Page<SearchResult>> {
    if (filter.ids?.length && filter.models?.length !== 1) throw new BadUserInputError('Searching by ids needs exactly one model.', { details: { argument: 'ids' } });
    const query = {
      q: filter.q, models: filter.models, ids: filter.ids, archived: filter.archived, collection: filter.collectionId,
      table_db_id: filter.tableDbId, limit: filter.limit, offset: filter.offset,
    };
    // Search spans every kind of object Metabase has, and new releases add kinds: a hit this client
    // cannot read (an unknown shape) is left out, never a reason to fail the whole search.
    const r = Reader.of(await this.get('/api/search', query, options), 'search');
    const data: SearchResult[] = [];
    r.array('data').forEach((item, i) => {
      try {
        data.push(readSearchResult(Reader.of(item, `search.data[${i}]`)));
      } catch {
        // Skipped: see above.
      }
    });
    return { data, total: r.optInt('total') ?? data.length, limit: r.optInt('limit'), offset: r.optInt('offset') };
  }

  /**
   * The values a dashboard's filter or a question's parameter may take (by the parameter's id),
   * those containing `search` when it is given; at most the first 1,000, as Metabase caps them.
   */
  async parameterValues(owner: 'dashboard' | 'card', id: number, parameterId: string, filter: { search?: string | null } = {}, options: CallOptions = {}): Promise<ParameterValues> {
    // A path segment of `.` or `..` is resolved away by every URL parser, encoded or not: it cannot be sent.
    for (const [argument, value] of [['parameter', parameterId], ['search', filter.search ?? '']] as const) {
      if (value === '.' || value === '..') throw new BadUserInputError(`Expected \`${argument}\` to be something other than "${value}", which cannot be sent to Metabase in a URL path.`, { details: { argument } });
    }
    const base = `/api/${owner}/${id}/params/${encodeURIComponent(parameterId)}`;
    const path = filter.search ? `${base}/search/${encodeURIComponent(filter.search)}` : `${base}/values`;
    return readParameterValues(Reader.of(await this.get(path, {}, options), 'parameter values'));
  }

  /** `GET /api/permissions/group`: administrators only; a per-group key gets FORBIDDEN. */
  async listGroups(paging: { limit?: number; offset?: number } = {}, options: CallOptions = {}): Promise<Group[]> {
    return readArray(await this.get('/api/permissions/group', { limit: paging.limit, offset: paging.offset }, options), 'groups', readGroup);
  }

  /** `POST /api/cards/dashboards`: for each card, the dashboards that show it. */
  async cardDashboards(cardIds: readonly number[], options: CallOptions = {}): Promise<CardDashboards[]> {
    const res = await this.call({ method: 'POST', path: '/api/cards/dashboards', body: { card_ids: cardIds }, ...signalOf(options) }, options.scope);
    return readArray(this.expectOk(res, 'POST /api/cards/dashboards'), 'cards', readCardDashboards);
  }

  /** Ends the login session (if any) and closes the pool this client owns. */
  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (session) {
      const token = await session.catch(() => undefined);
      if (token) await this.endSession(token);
    }
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  // --- Plumbing --------------------------------------------------------------------------------

  private transport() {
    return { baseUrl: this.baseUrl, dispatcher: this.dispatcher, timeoutMs: this.timeoutMs, maxResponseBytes: this.maxResponseBytes, acceptGzip: this.acceptGzip };
  }

  private async get(path: string, query: Query, options: CallOptions): Promise<unknown> {
    return this.expectOk(await this.call({ method: 'GET', path, query, ...signalOf(options) }, options.scope), `GET ${path}`);
  }

  private expectOk(res: UpstreamResponse, what: string): unknown {
    if (res.status >= 200 && res.status < 300) return res.body;
    throw toGatewayError(res, what);
  }

  /** A query run: success is a body with `status: "completed"`, whatever the HTTP status says (§4.5). */
  private async run(path: string, body: Record<string, unknown>, options: CallOptions): Promise<QueryResult> {
    options.scope?.spend('run');
    const res = await this.call({ method: 'POST', path, body, rawRows: true, ...signalOf(options) }, options.scope);
    if (isFailedRun(res.body)) throw queryFailure(res.body);
    const completed = res.status >= 200 && res.status < 300;
    if (!completed) throw toGatewayError(res, `POST ${path}`);
    const r = Reader.of(res.body, 'result');
    if (r.raw('status') !== 'completed') {
      throw new UpstreamUnavailableError('Metabase sent an answer the gateway could not read.', { details: { reason: 'bad-response' }, detail: `POST ${path} answered ${res.status} without a completed status` });
    }
    return readQueryResult(r);
  }

  /**
   * Sends with the credential under the concurrency cap. A 401 means the credential went stale: the
   * source is read again once (a rotated key or password), a login session is renewed, and the call
   * is retried once. A key that did not change is not retried: Metabase refused it.
   */
  private async call(request: UpstreamRequest, scope: CallScope | undefined): Promise<UpstreamResponse> {
    // Counted before anything is sent: a request over its allowance makes no further call.
    scope?.spend('call');
    // The deadline starts now: time spent waiting for a slot counts against `timeoutMs`. The request's
    // own signal (its deadline, its caller gone, shutdown) cancels the call too: one signal for all.
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const signals = [request.signal, scope?.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length ? AbortSignal.any([deadline, ...signals]) : deadline;
    const req: UpstreamRequest = { ...request, headers: { ...request.headers, ...correlation(scope) }, deadline, signal };
    try {
      return await this.limiter.run(async () => {
        const first = await this.sendAuthenticated(req, scope);
        if (first.res.status !== 401) return first.res;
        const changed = await this.credentials.reload().catch(() => false);
        if (first.credential.kind === 'login') this.dropSession(first.token, scope);
        else if (!changed && this.credentials.current() === first.credential) return first.res;
        return (await this.sendAuthenticated(req, scope)).res;
      }, signal, scope?.subject ?? '');
    } catch (err) {
      throw err instanceof GatewayError ? err : transportError(err, this.transport(), req);
    }
  }

  private async sendAuthenticated(req: UpstreamRequest, scope: CallScope | undefined): Promise<{ res: UpstreamResponse; credential: MetabaseCredential; token?: string }> {
    const credential = this.credentials.current();
    if (credential.kind === 'api-key') {
      const res = await this.sendRecorded({ ...req, headers: { ...req.headers, 'x-api-key': credential.apiKey.reveal() } }, scope);
      return { res, credential };
    }
    const token = await this.sessionToken(scope);
    return { res: await this.sendRecorded({ ...req, headers: { ...req.headers, 'x-metabase-session': token } }, scope), credential, token };
  }

  /** One HTTP exchange, recorded for the request's audit trail: method, path (no query string), status, time, scope. */
  private async sendRecorded(req: UpstreamRequest, scope: CallScope | undefined): Promise<UpstreamResponse> {
    if (!scope) return send(this.transport(), req);
    const started = performance.now();
    let status = 0;
    scope.begin();
    try {
      const res = await send(this.transport(), { ...req, onBytes: (n) => scope.spendBytes(n) });
      status = res.status;
      return res;
    } finally {
      scope.record({ method: req.method, path: req.path, status, ms: Math.round((performance.now() - started) * 100) / 100, scope: this.scope });
      scope.end();
    }
  }

  /** Renews the session that failed, once: a concurrent call may already have made a new one. */
  private dropSession(token: string | undefined, scope: CallScope | undefined): void {
    const current = this.#session;
    if (!current) return;
    const renewed = current.catch(() => undefined).then((t) => (t === undefined || t === token ? this.login(scope) : t));
    this.replaceSession(renewed);
  }

  private replaceSession(next: Promise<string>): void {
    this.#session = next;
    this.#sessionBornAt = this.now();
    next.catch(() => {
      if (this.#session === next) this.#session = undefined;
    });
  }

  /** One login shared by every concurrent caller, renewed when it nears Metabase's 14-day limit; a failed login is not cached. */
  private sessionToken(scope: CallScope | undefined): Promise<string> {
    if (this.#session && this.now() - this.#sessionBornAt > this.sessionMaxAgeMs) {
      const old = this.#session;
      this.replaceSession(this.login(scope));
      // The old session ends quietly once the new one exists; calls still holding it finish first.
      void this.#session!.then(() => old).then((t) => this.endSession(t), () => undefined);
    }
    if (!this.#session) this.replaceSession(this.login(scope));
    return this.#session!;
  }

  private async endSession(token: string): Promise<void> {
    await send(this.transport(), { method: 'DELETE', path: '/api/session', headers: { 'x-metabase-session': token } }).catch(() => undefined);
  }

  /** Recorded in the scope of the request that happened to start it; it serves every request of the role, so that request's end does not cancel it. */
  private async login(scope: CallScope | undefined): Promise<string> {
    const credential = this.credentials.current();
    if (credential.kind !== 'login') throw new TypeError('login needs a login credential');
    const res = await this.sendRecorded({
      method: 'POST', path: '/api/session', headers: correlation(scope), body: { username: credential.username, password: credential.password.reveal() },
    }, scope);
    if (res.status === 200) return Reader.of(res.body, 'session').str('id');
    if (res.status === 401 || res.status === 400) {
      throw new UpstreamAuthError('Metabase refused the login of this role\'s service account.', { details: { upstreamStatus: res.status } });
    }
    throw toGatewayError(res, 'POST /api/session');
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`MetabaseClient option ${name} must be a positive number, received ${value}`);
  return value;
}

/**
 * Headers that let Metabase-side logs be joined to the audit trail: the request id, and the subject of
 * the user the call is made for (percent-encoded).
 */
function correlation(scope: CallScope | undefined): Record<string, string> {
  if (!scope) return {};
  const subject = scope.subject;
  // Always percent-encoded, so every subject has exactly one spelling and no value can break the header.
  return subject ? { 'x-request-id': scope.requestId, 'x-gateway-user': encodeURIComponent(subject).slice(0, 1024) } : { 'x-request-id': scope.requestId };
}

const signalOf = (options: CallOptions): { signal?: AbortSignal } => (options.signal ? { signal: options.signal } : {});
