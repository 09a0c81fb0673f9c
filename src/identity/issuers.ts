/**
 * The identity providers the gateway accepts tokens from, each with its own keys, audiences,
 * algorithms and claim mapping. A token is verified only against the issuer its `iss` names, whose
 * keys come from that issuer's own OIDC discovery (an `iss` the policy does not list is refused
 * before anything is fetched). The set follows policy reloads; an issuer keeps its cached keys
 * across them (they belong to its URL, not to its audiences or algorithms), and a Graph
 * configuration keeps its cached group lists.
 */
import { decodeJwt, type JWTPayload } from 'jose';
import type { IssuerPolicy } from '../policy/policy.js';
import { OverageResolver } from './overage.js';
import type { JwksCache } from './jwks.js';
import { TokenCache } from './token-cache.js';
import { checkTokenShape, createKeyCache, createTokenVerifier, DEFAULT_MAX_TOKEN_BYTES, tokenError, type TokenVerifier } from './verifier.js';
import { withResolvedGroups, type Viewer } from './viewer.js';

export interface VerifiedToken {
  readonly claims: JWTPayload;
  /** The issuer that signed it, as the policy describes it. */
  readonly issuer: IssuerPolicy;
}

export interface TokenVerification {
  /** Verifies a bearer token against the issuer it names; throws UNAUTHENTICATED with a reason, or UPSTREAM_UNAVAILABLE when that issuer cannot be reached. */
  verify(token: string): Promise<VerifiedToken>;
  /** A viewer with Entra ID overage groups resolved where the issuer says how; see IssuerRegistry. */
  resolveOverage(viewer: Viewer, claims: JWTPayload, issuer: IssuerPolicy): Promise<Viewer>;
  /** The issuers in force (their `iss` URLs), for metadata that names them. */
  issuerUrls?(): readonly string[];
}

export interface IssuerRegistryOptions {
  /** Longest token accepted, in bytes. Default 32,768. */
  readonly maxTokenBytes?: number;
  /** Least time between key refreshes caused by unknown key ids, per issuer, in ms. Default 30,000. */
  readonly keyRefreshCooldownMs?: number;
  readonly keyMaxAgeMs?: number;
  readonly onKeyRefreshError?: (issuer: string, err: unknown) => void;
  /** Calls to Microsoft Graph (and its token endpoint) in flight at once, per Graph configuration. Default 8. */
  readonly graphConcurrency?: number;
  /** Where `{env: NAME}` secrets are read (an issuer's Graph client secret). Default: none. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * How long a verified token is remembered (never past its `exp`), in ms; 0 verifies every request.
   * Default 300,000. A policy reload, or a change of its issuer's settings, forgets it.
   */
  readonly verifiedTokenMaxAgeMs?: number;
  /** The clock of that memory, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
}

interface Remembered {
  readonly claims: JWTPayload;
  readonly issuer: IssuerPolicy;
  /** The verifier that accepted it: a token is taken from memory only while its issuer's verifier is still this one. */
  readonly verify: TokenVerifier;
}

export class IssuerRegistry implements TokenVerification {
  readonly #verifiers = new Map<string, { key: string; verify: TokenVerifier }>();
  /** Key caches by issuer URL. */
  readonly #keys = new Map<string, JwksCache>();
  /** Overage resolvers by their Graph configuration (so renaming an issuer keeps its cache). */
  readonly #overage = new Map<string, OverageResolver>();
  /** The issuers list last seen (a reload replaces it). */
  #seen: readonly IssuerPolicy[] | undefined;
  /** Tokens verified lately (see token-cache.ts). */
  readonly #verified: TokenCache<Remembered>;

  /**
   * @param issuers the issuers in force (read on every request, so a reloaded policy applies at once).
   */
  constructor(private readonly issuers: () => readonly IssuerPolicy[], private readonly options: IssuerRegistryOptions = {}) {
    this.#verified = new TokenCache({ maxAgeMs: options.verifiedTokenMaxAgeMs ?? 300_000, ...(options.now ? { now: options.now } : {}) });
  }

  issuerUrls(): readonly string[] {
    return this.issuers().map((i) => i.issuer);
  }

  /**
   * The issuer a token names; undefined when no listed issuer has its `iss` (or it has none).
   * Throws `malformed` when the token does not decode as a JWT at all.
   */
  issuerOf(token: string): IssuerPolicy | undefined {
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch (err) {
      throw tokenError('malformed', err);
    }
    return typeof iss === 'string' ? this.#listed().find((i) => i.issuer === iss) : undefined;
  }

  async verify(token: string): Promise<VerifiedToken> {
    checkTokenShape(token, this.options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES);
    const known = this.#verified.get(token);
    if (known && this.#listed().includes(known.issuer) && this.#verifiers.get(known.issuer.issuer)?.verify === known.verify) {
      return { claims: known.claims, issuer: known.issuer };
    }
    const issuer = this.issuerOf(token);
    if (!issuer) throw tokenError('issuer');
    const verify = this.verifierFor(issuer);
    // Frozen: one claim set may now serve many requests.
    const claims = Object.freeze(await verify(token));
    if (typeof claims.exp === 'number') this.#verified.set(token, { claims, issuer, verify }, claims.exp);
    return { claims, issuer };
  }

  /** The verifier of one issuer (made once, and again only when its settings change). */
  verifierFor(issuer: IssuerPolicy): TokenVerifier {
    const key = JSON.stringify([issuer.audiences, issuer.audienceClaim, issuer.algorithms, issuer.allowIdTokens]);
    const known = this.#verifiers.get(issuer.issuer);
    if (known?.key === key) return known.verify;
    let keys = this.#keys.get(issuer.issuer);
    if (!keys) {
      keys = createKeyCache({
        issuer: issuer.issuer,
        ...(this.options.keyRefreshCooldownMs !== undefined ? { keyRefreshCooldownMs: this.options.keyRefreshCooldownMs } : {}),
        ...(this.options.keyMaxAgeMs !== undefined ? { keyMaxAgeMs: this.options.keyMaxAgeMs } : {}),
        ...(this.options.onKeyRefreshError ? { onKeyRefreshError: (err: unknown) => this.options.onKeyRefreshError!(issuer.issuer, err) } : {}),
      });
      this.#keys.set(issuer.issuer, keys);
    }
    const verify = createTokenVerifier({
      issuer: issuer.issuer, audience: issuer.audiences, audienceClaim: issuer.audienceClaim, algorithms: issuer.algorithms,
      allowIdTokens: issuer.allowIdTokens, maxTokenBytes: this.options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES, keys,
    });
    this.#verifiers.set(issuer.issuer, { key, verify });
    return verify;
  }

  /** The issuers in force; when a reload has changed them, what belonged to issuers no longer listed is dropped. */
  #listed(): readonly IssuerPolicy[] {
    const listed = this.issuers();
    if (listed !== this.#seen) {
      this.#seen = listed;
      this.#verified.clear();
      this.#forgetUnlisted(listed);
    }
    return listed;
  }

  /** Drops the verifiers, keys and group caches of issuers a reloaded policy no longer lists. */
  #forgetUnlisted(listed: readonly IssuerPolicy[]): void {
    const urls = new Set(listed.map((i) => i.issuer));
    for (const url of [...this.#keys.keys()]) if (!urls.has(url)) this.#keys.delete(url);
    for (const url of [...this.#verifiers.keys()]) if (!urls.has(url)) this.#verifiers.delete(url);
    const graphs = new Set(listed.flatMap((i) => (i.overage ? [JSON.stringify(i.overage)] : [])));
    for (const key of [...this.#overage.keys()]) if (!graphs.has(key)) this.#overage.delete(key);
  }

  /**
   * The viewer of a token whose groups overflowed (Entra ID), with its groups read from Microsoft
   * Graph when its issuer configures `overage`; otherwise the viewer as it is (no group-based role
   * fits it, and the decision says why).
   */
  async resolveOverage(viewer: Viewer, claims: JWTPayload, issuer: IssuerPolicy): Promise<Viewer> {
    if (!viewer.groupsOverage || !issuer.overage || typeof claims['oid'] !== 'string' || typeof claims.exp !== 'number') return viewer;
    const key = JSON.stringify(issuer.overage);
    let resolver = this.#overage.get(key);
    if (!resolver) {
      resolver = new OverageResolver(issuer.overage, { env: this.options.env ?? {}, ...(this.options.graphConcurrency !== undefined ? { concurrency: this.options.graphConcurrency } : {}) });
      this.#overage.set(key, resolver);
    }
    const groups = await resolver.groupsOf(claims['oid'], claims.exp);
    return withResolvedGroups(viewer, groups, 'Microsoft Graph (group overage)');
  }

  /** Fetches every issuer's keys (at start, so the first requests do not wait); failures are reported, not thrown. */
  async warmUp(onError: (issuer: string, err: unknown) => void): Promise<void> {
    await Promise.all(this.#listed().map((i) => this.verifierFor(i).keys.refresh().catch((err: unknown) => onError(i.issuer, err))));
  }
}
