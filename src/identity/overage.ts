/**
 * Entra ID's group overage, resolved through Microsoft Graph. When a user is in more groups than fit
 * in a token, Entra leaves `groups` out and points at where to fetch them (`_claim_names` and
 * `_claim_sources`, or `hasgroups: true`). The gateway never follows that pointer: a token's
 * `_claim_sources` endpoint is caller-supplied data. Instead it asks the Graph base URL of its own
 * configuration, with its own app credential (client credentials), for the user's group ids:
 * `POST {graphUrl}/v1.0/users/{oid}/getMemberGroups`. Results are kept until the token expires.
 */
import { UpstreamUnavailableError } from '../errors/index.js';
import { readSecret } from '../metabase/credential-source.js';
import type { OverageGraph } from '../policy/policy.js';

export interface OverageResolverOptions {
  /** Where `{env: NAME}` secrets are read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Timeout of each call to the token endpoint or Graph, in ms. Default 5,000. */
  readonly timeoutMs?: number;
  /** Users' group lists kept at most. Default 10,000. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/** How long a failed lookup is remembered. */
const FAILURE_TTL_MS = 60_000;

interface Cached {
  readonly groups: Promise<readonly string[]>;
  readonly until: number;
}

/** Group ids per user, fetched with the gateway's app token; one resolver per Graph configuration. */
export class OverageResolver {
  readonly #cache = new Map<string, Cached>();
  #appToken: { token: Promise<string>; until: number } | undefined;
  /** Calls made to Graph so far (tests and diagnostics). */
  graphCalls = 0;

  constructor(private readonly graph: OverageGraph, private readonly options: OverageResolverOptions) {}

  /**
   * The groups of the user a token was issued to. `oid` is the user's object id, `exp` the token's
   * expiry (seconds): the answer is kept until then, shared by concurrent requests of the user.
   */
  groupsOf(oid: string, exp: number): Promise<readonly string[]> {
    const now = this.#now();
    const known = this.#cache.get(oid);
    if (known && known.until > now) return known.groups;
    const groups = this.#fetchGroups(oid);
    const entry = { groups, until: Math.min(exp * 1000, now + 3_600_000) };
    this.#cache.delete(oid);
    this.#cache.set(oid, entry);
    // A failed lookup is remembered for a minute, so a user Graph cannot answer for does not cost a call per request.
    groups.catch(() => {
      if (this.#cache.get(oid) === entry) this.#cache.set(oid, { groups, until: Math.min(entry.until, this.#now() + FAILURE_TTL_MS) });
    });
    const max = this.options.maxEntries ?? 10_000;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
    return groups;
  }

  async #fetchGroups(oid: string): Promise<readonly string[]> {
    if (!/^[0-9a-f-]{36}$/i.test(oid)) throw new UpstreamUnavailableError('The token\'s user could not be looked up in Microsoft Graph.', { details: { reason: 'groups-overage' }, detail: 'oid is not an object id' });
    const token = await this.#token();
    this.graphCalls += 1;
    const res = await fetch(`${this.graph.graphUrl}/v1.0/users/${encodeURIComponent(oid)}/getMemberGroups`, {
      method: 'POST', redirect: 'error', signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ securityEnabledOnly: false }),
    });
    if (!res.ok) throw new UpstreamUnavailableError('Microsoft Graph did not give the user\'s groups.', { details: { reason: 'groups-overage', upstreamStatus: res.status }, detail: `getMemberGroups answered ${res.status}` });
    const body = (await res.json()) as { value?: unknown };
    if (!Array.isArray(body.value)) throw new UpstreamUnavailableError('Microsoft Graph did not give the user\'s groups.', { details: { reason: 'groups-overage' }, detail: 'getMemberGroups answered without a value list' });
    return body.value.filter((v): v is string => typeof v === 'string').slice(0, 20_000);
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
    const res = await fetch(this.graph.tokenUrl, {
      method: 'POST', redirect: 'error', signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: this.graph.clientId, client_secret: secret, scope: `${new URL(this.graph.graphUrl).origin}/.default` }),
    });
    if (!res.ok) throw new UpstreamUnavailableError('The gateway could not get its own token for Microsoft Graph.', { details: { reason: 'groups-overage', upstreamStatus: res.status }, detail: `the token endpoint answered ${res.status}` });
    const body = (await res.json()) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== 'string') throw new UpstreamUnavailableError('The gateway could not get its own token for Microsoft Graph.', { details: { reason: 'groups-overage' }, detail: 'the token endpoint answered without an access_token' });
    return { token: body.access_token, seconds: typeof body.expires_in === 'number' ? body.expires_in : 300 };
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}
