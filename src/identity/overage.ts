/**
 * Entra ID's group overage, resolved through Microsoft Graph. When a user is in more groups than fit
 * in a token, Entra leaves `groups` out and points at where to fetch them (`_claim_names` and
 * `_claim_sources`, or `hasgroups: true`). The gateway never follows that pointer: a token's
 * `_claim_sources` endpoint is caller-supplied data. Instead it asks the Graph base URL of its own
 * configuration, with its own app credential (client credentials), for the user's group ids:
 * `POST {graphUrl}/v1.0/users/{oid}/getMemberGroups`. A user's groups are kept until the token
 * expires (at least a minute, at most an hour), one lookup serves every concurrent request of the
 * user, the cache is bounded by users and by group ids held, and a few calls run at once whatever
 * the number of users: a burst of overflowing tokens waits its turn instead of flooding Graph.
 */
import { UpstreamUnavailableError } from '../errors/index.js';
import { readSecret } from '../metabase/credential-source.js';
import { readJson } from '../utils/read-json.js';
import { Semaphore } from '../utils/semaphore.js';
import type { OverageGraph } from '../policy/policy.js';

export interface OverageResolverOptions {
  /** Where `{env: NAME}` secrets are read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Timeout of each call to the token endpoint or Graph, in ms. Default 5,000. */
  readonly timeoutMs?: number;
  /** Users' group lists kept at most. Default 10,000. */
  readonly maxEntries?: number;
  /** Group ids kept at most, over all users. Default 1,000,000 (some 40 MB). */
  readonly maxGroupIds?: number;
  /** Calls to Graph and its token endpoint in flight at once; the rest wait (at most the timeout). Default 8. */
  readonly concurrency?: number;
  readonly now?: () => number;
}

/** How long a failed lookup is remembered, and the least time a user's groups are kept. */
const FAILURE_TTL_MS = 60_000;
const MIN_TTL_MS = 60_000;
const MAX_TTL_MS = 3_600_000;
/** Group ids taken from one answer: Entra's own limit on a user's groups is far below. */
const MAX_GROUPS_PER_USER = 20_000;
/** Largest answers read: Graph's group list (20,000 ids of 36 characters fit), and the token endpoint's. */
const MAX_GRAPH_ANSWER_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_ANSWER_BYTES = 256 * 1024;

interface Cached {
  readonly groups: Promise<readonly string[]>;
  until: number;
  /** Group ids held once settled (0 while pending or after a failure). */
  size: number;
  settled: boolean;
}

/** Group ids per user, fetched with the gateway's app token; one resolver per Graph configuration. */
export class OverageResolver {
  readonly #cache = new Map<string, Cached>();
  readonly #limiter: Semaphore;
  #heldIds = 0;
  #appToken: { token: Promise<string>; until: number } | undefined;
  /** Calls made to Graph so far (tests and diagnostics). */
  graphCalls = 0;

  constructor(private readonly graph: OverageGraph, private readonly options: OverageResolverOptions) {
    this.#limiter = new Semaphore(options.concurrency ?? 8);
  }

  /** Group ids held in the cache, over all users. */
  get heldGroupIds(): number {
    return this.#heldIds;
  }

  /** Users whose groups (or whose lookup) the cache holds. */
  get users(): number {
    return this.#cache.size;
  }

  /**
   * The groups of the user a token was issued to. `oid` is the user's object id, `exp` the token's
   * expiry (seconds): the answer is kept until then (at least a minute, at most an hour), and a
   * lookup still running serves every request of the user, however late.
   */
  groupsOf(oid: string, exp: number): Promise<readonly string[]> {
    const now = this.#now();
    const known = this.#cache.get(oid);
    if (known && (!known.settled || known.until > now)) return known.groups;
    if (known) this.#forget(oid, known);
    const ttl = Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, exp * 1000 - now));
    const groups = this.#fetchGroups(oid);
    const entry: Cached = { groups, until: now + ttl, size: 0, settled: false };
    this.#cache.set(oid, entry);
    groups.then(
      (list) => {
        entry.settled = true;
        if (this.#cache.get(oid) !== entry) return;
        entry.size = list.length;
        this.#heldIds += list.length;
        this.#trim();
      },
      () => {
        // A failed lookup is remembered for a minute, so a user Graph cannot answer for does not cost a call per request.
        entry.settled = true;
        entry.until = Math.min(entry.until, this.#now() + FAILURE_TTL_MS);
      },
    );
    this.#trim();
    return groups;
  }

  #forget(oid: string, entry: Cached): void {
    this.#cache.delete(oid);
    this.#heldIds -= entry.size;
  }

  /** Drops the oldest users until both bounds hold (a pending lookup dropped still answers its callers). */
  #trim(): void {
    const maxEntries = this.options.maxEntries ?? 10_000;
    const maxIds = this.options.maxGroupIds ?? 1_000_000;
    for (const [oid, entry] of this.#cache) {
      if (this.#cache.size <= maxEntries && this.#heldIds <= maxIds) break;
      this.#forget(oid, entry);
    }
  }

  async #fetchGroups(oid: string): Promise<readonly string[]> {
    if (!/^[0-9a-f-]{36}$/i.test(oid)) throw new UpstreamUnavailableError('The token\'s user could not be looked up in Microsoft Graph.', { details: { reason: 'groups-overage' }, detail: 'oid is not an object id' });
    const token = await this.#token();
    const body = await this.#limited(async (signal) => {
      this.graphCalls += 1;
      const res = await fetch(`${this.graph.graphUrl}/v1.0/users/${encodeURIComponent(oid)}/getMemberGroups`, {
        method: 'POST', redirect: 'error', signal,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ securityEnabledOnly: false }),
      });
      if (!res.ok) throw new UpstreamUnavailableError('Microsoft Graph did not give the user\'s groups.', { details: { reason: 'groups-overage', upstreamStatus: res.status }, detail: `getMemberGroups answered ${res.status}` });
      return (await readJson(res, MAX_GRAPH_ANSWER_BYTES, 'getMemberGroups')) as { value?: unknown };
    }, 'Microsoft Graph did not give the user\'s groups.');
    if (!Array.isArray(body.value)) throw new UpstreamUnavailableError('Microsoft Graph did not give the user\'s groups.', { details: { reason: 'groups-overage' }, detail: 'getMemberGroups answered without a value list' });
    const groups: string[] = [];
    for (const v of body.value) {
      if (groups.length >= MAX_GROUPS_PER_USER) break;
      if (typeof v === 'string' && v.length <= 64) groups.push(v);
    }
    return groups;
  }

  /**
   * Runs a call under the concurrency cap. One deadline covers the wait for a slot and the call, so
   * a request never waits longer than the timeout whatever the queue.
   */
  async #limited<T>(call: (signal: AbortSignal) => Promise<T>, message: string): Promise<T> {
    const signal = AbortSignal.timeout(this.options.timeoutMs ?? 5_000);
    try {
      return await this.#limiter.run(() => call(signal), signal);
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) throw err;
      throw new UpstreamUnavailableError(message, { details: { reason: 'groups-overage' }, detail: signal.aborted ? 'no answer within the timeout (waiting for a slot included)' : 'the call failed', cause: err });
    }
  }

  /** The gateway's own app token for Graph, from the tenant's token endpoint, kept until a minute before it expires. */
  #token(): Promise<string> {
    const now = this.#now();
    if (this.#appToken && this.#appToken.until > now) return this.#appToken.token;
    const entry: { token: Promise<string>; until: number } = { token: Promise.resolve(''), until: now + 60_000 };
    entry.token = this.#fetchToken().then(({ token, seconds }) => {
      entry.until = this.#now() + Math.max(0, seconds - 60) * 1000;
      return token;
    });
    entry.token.catch(() => {
      if (this.#appToken === entry) this.#appToken = undefined;
    });
    this.#appToken = entry;
    return entry.token;
  }

  async #fetchToken(): Promise<{ token: string; seconds: number }> {
    const secret = await readSecret(this.graph.clientSecret, this.options.env);
    const message = 'The gateway could not get its own token for Microsoft Graph.';
    const body = await this.#limited(async (signal) => {
      const res = await fetch(this.graph.tokenUrl, {
        method: 'POST', redirect: 'error', signal,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: this.graph.clientId, client_secret: secret, scope: `${new URL(this.graph.graphUrl).origin}/.default` }),
      });
      if (!res.ok) throw new UpstreamUnavailableError(message, { details: { reason: 'groups-overage', upstreamStatus: res.status }, detail: `the token endpoint answered ${res.status}` });
      return (await readJson(res, MAX_TOKEN_ANSWER_BYTES, 'the token endpoint')) as { access_token?: unknown; expires_in?: unknown };
    }, message);
    if (typeof body.access_token !== 'string') throw new UpstreamUnavailableError('The gateway could not get its own token for Microsoft Graph.', { details: { reason: 'groups-overage' }, detail: 'the token endpoint answered without an access_token' });
    return { token: body.access_token, seconds: typeof body.expires_in === 'number' ? body.expires_in : 300 };
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}
