/**
 * Verifying callers' bearer tokens: OIDC discovery finds the issuer's key set (retried after a
 * failure), the key cache serves keys (see jwks.ts), and jose checks signature, issuer, audience,
 * expiry and not-before against an allow-list of asymmetric algorithms. Every refusal is an
 * UNAUTHENTICATED error with a reason code; none echoes the token or its claims.
 */
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { UnauthenticatedError, UpstreamUnavailableError } from '../errors/index.js';
import { SECURE_URL } from '../config/config.js';
import { readJson } from '../utils/read-json.js';
import { JwksCache } from './jwks.js';

export interface VerifierOptions {
  /** The issuer URL, exactly as it appears in tokens' `iss`. */
  readonly issuer: string;
  /** Accepted audiences: the audience claim must hold one of them. */
  readonly audience: string | readonly string[];
  /** Where the audience is read. Default `aud`; AWS Cognito's access tokens carry `client_id` instead. */
  readonly audienceClaim?: string;
  /** Accept ID tokens too. Default false: only access tokens (see `tokenTypeProblem`). */
  readonly allowIdTokens?: boolean;
  /** Longest token accepted, in bytes. Default 32,768 (200 Entra group ids, or 500 short Keycloak groups). */
  readonly maxTokenBytes?: number;
  /** Accepted signing algorithms. Default RS256, PS256, ES256, EdDSA. */
  readonly algorithms?: readonly string[];
  /** Leeway for `exp` and `nbf`, in seconds. Default 5. */
  readonly clockToleranceSeconds?: number;
  /** Timeout of discovery and key set fetches, in ms. Default 5,000. */
  readonly fetchTimeoutMs?: number;
  /** Least time between refreshes caused by unknown key ids, in ms. Default 30,000. */
  readonly keyRefreshCooldownMs?: number;
  /** Age after which keys are refreshed in the background, in ms. Default 10 min. */
  readonly keyMaxAgeMs?: number;
  /** Told when a background key refresh fails (the cached keys stay in use). */
  readonly onKeyRefreshError?: (err: unknown) => void;
  /** A key cache to use instead of a new one (the issuer's keys, kept when its other settings change). */
  readonly keys?: JwksCache;
}

export interface TokenVerifier {
  (token: string): Promise<JWTPayload>;
  /** The key cache, for diagnostics and tests. */
  readonly keys: JwksCache;
}

/** Why a token was refused: a closed set, carried as `extensions.reason`. */
export const TOKEN_REASONS = ['missing', 'malformed', 'too-large', 'expired', 'not-yet-valid', 'issuer', 'audience', 'signature', 'unknown-key', 'algorithm', 'crit', 'subject', 'token-type'] as const;
export type TokenReason = (typeof TOKEN_REASONS)[number];

export const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
/**
 * Longer tokens are refused before any parsing, with reason `too-large`. 32 KB holds an Entra ID
 * token with 200 group ids (its most before overage) or a Keycloak token with 500 short groups; the
 * HTTP header limit is set from it (server/http-errors.ts).
 */
export const DEFAULT_MAX_TOKEN_BYTES = 32_768;

const MESSAGES: Record<TokenReason, string> = {
  missing: 'Send `Authorization: Bearer <token>` with a token from your identity provider.',
  malformed: 'The bearer token is not a well-formed signed JWT with `exp`.',
  'too-large': 'The bearer token is larger than this gateway accepts (see TOKEN_MAX_BYTES); an identity provider that puts many groups in tokens can usually be told to send fewer (groups assigned to the application, or roles).',
  expired: 'The bearer token has expired; get a new one from your identity provider.',
  'not-yet-valid': 'The bearer token is not valid yet (its `nbf` is in the future); check the clocks.',
  issuer: 'The bearer token was issued by an issuer this gateway does not trust.',
  audience: 'The bearer token was issued for another audience than this gateway.',
  signature: 'The bearer token\'s signature does not verify.',
  'unknown-key': 'The bearer token is signed with a key the identity provider does not publish.',
  algorithm: 'The bearer token is signed with an algorithm this gateway does not accept.',
  crit: 'The bearer token names critical header extensions (`crit`) this gateway does not understand.',
  subject: 'The bearer token has no subject, where the policy reads it (`claims.subject`, default `sub`).',
  'token-type': 'The bearer token is not an access token (it is an ID token, or its `typ` names another kind); send the access token your identity provider issued for this gateway.',
};

/** `typ` values of access tokens: RFC 9068's `at+jwt`, the generic `JWT`, or none. */
const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'application/at+jwt', 'jwt']);

/**
 * Why a verified token is not an access token, or null when it is: an ID token (Cognito's
 * `token_use: "id"`, Keycloak's `typ: "ID"` claim, or the `nonce` and `at_hash` that only ID tokens
 * carry), or a header `typ` that names another kind of token (a logout token, a DPoP proof…).
 */
export function tokenTypeProblem(header: Readonly<Record<string, unknown>>, payload: Readonly<Record<string, unknown>>, allowIdTokens = false): string | null {
  const typ = header['typ'];
  if (typ !== undefined && (typeof typ !== 'string' || !ACCESS_TOKEN_TYPES.has(typ.toLowerCase()))) return `its typ is ${JSON.stringify(typ).slice(0, 40)}`;
  // A sender-constrained token (DPoP, mutual TLS) is only good with its proof, which this gateway does not check.
  if (payload['cnf'] !== undefined) return 'it is bound to a key (cnf) whose proof this gateway does not check';
  if (allowIdTokens) return null;
  if (payload['token_use'] === 'id') return 'its token_use is "id"';
  // Keycloak names the kind in the payload too: Bearer for access tokens, ID, Refresh, Logout…
  if (typeof payload['typ'] === 'string' && payload['typ'].toLowerCase() !== 'bearer') return `its typ claim is ${JSON.stringify(payload['typ'].slice(0, 20))}`;
  if (payload['nonce'] !== undefined) return 'it carries a nonce, as ID tokens do';
  if (payload['at_hash'] !== undefined) return 'it carries an at_hash, as ID tokens do';
  return null;
}

/** Whether the audience claim holds one of the accepted audiences (a string, or a list of them). */
export function audienceMatches(value: unknown, accepted: readonly string[]): boolean {
  const held = Array.isArray(value) ? value : [value];
  return held.some((v) => typeof v === 'string' && accepted.includes(v));
}

/**
 * A refused token. `http` overrides the status (400 for a request that is malformed rather than
 * unauthenticated, such as two Authorization headers) and the message.
 */
export function tokenError(reason: TokenReason, cause?: unknown, http?: { status: number; message: string }): UnauthenticatedError {
  return new UnauthenticatedError(http?.message ?? MESSAGES[reason], { details: { reason, ...(http ? { http: { status: http.status } } : {}) }, cause });
}

/** Refuses, before any decoding, a token that is empty, longer than `maxBytes`, or not three base64url segments. */
export function checkTokenShape(token: string, maxBytes: number): void {
  if (token === '') throw tokenError('missing');
  if (token.length > maxBytes) throw tokenError('too-large');
  if (!/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) throw tokenError('malformed');
}

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];
  if (algorithms.length === 0 || algorithms.some((a) => a === 'none' || a.startsWith('HS'))) {
    throw new TypeError(`token algorithms must be asymmetric; received ${algorithms.join(', ') || 'none'}`);
  }
  const keys = options.keys ?? createKeyCache(options);

  const audiences = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
  if (audiences.length === 0) throw new TypeError('a token verifier needs at least one audience');
  const audienceClaim = options.audienceClaim ?? 'aud';
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const verify = async (token: string): Promise<JWTPayload> => {
    checkTokenShape(token, maxTokenBytes);
    // The gateway understands no critical header extension; a token that names one is refused as such.
    if (headerOf(token)?.['crit'] !== undefined) throw tokenError('crit');
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(token, keys.getKey, {
        issuer: options.issuer,
        // Another audience claim (Cognito's client_id) is checked below, by this gateway.
        ...(audienceClaim === 'aud' ? { audience: audiences } : {}),
        algorithms,
        clockTolerance: options.clockToleranceSeconds ?? 5,
        requiredClaims: ['exp'],
      });
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) throw tokenError(reasonOf(err), err);
      // Neither a token fault nor a verdict: the IdP (discovery or keys) could not be reached.
      throw new UpstreamUnavailableError('The identity provider could not be reached to verify the token.', { details: { reason: 'identity-provider' }, cause: err });
    }
    const { payload, protectedHeader } = verified;
    // The kind of token first: a Cognito ID token names its client in `aud`, not in `client_id`, and is refused as what it is.
    if (tokenTypeProblem(protectedHeader, payload, options.allowIdTokens) !== null) throw tokenError('token-type');
    if (audienceClaim !== 'aud') {
      if (!audienceMatches(payload[audienceClaim], audiences)) throw tokenError('audience');
      // A token another API's audience was issued for is not this gateway's, whatever its client.
      if (payload.aud !== undefined && !audienceMatches(payload.aud, audiences)) throw tokenError('audience');
    }
    return payload;
  };
  return Object.assign(verify, { keys });
}

/** The key cache of one issuer: OIDC discovery finds its key set (tried again after a failure), jwks.ts keeps it. */
export function createKeyCache(options: Pick<VerifierOptions, 'issuer' | 'fetchTimeoutMs' | 'keyRefreshCooldownMs' | 'keyMaxAgeMs' | 'onKeyRefreshError'>): JwksCache {
  const timeoutMs = options.fetchTimeoutMs ?? 5_000;
  let jwksUri: Promise<URL> | undefined;
  const locate = (): Promise<URL> => {
    if (!jwksUri) {
      const attempt = discover(options.issuer, timeoutMs);
      jwksUri = attempt;
      attempt.catch(() => {
        if (jwksUri === attempt) jwksUri = undefined;
      });
    }
    return jwksUri;
  };
  return new JwksCache({
    locate, timeoutMs,
    ...(options.keyRefreshCooldownMs !== undefined ? { cooldownMs: options.keyRefreshCooldownMs } : {}),
    ...(options.keyMaxAgeMs !== undefined ? { maxAgeMs: options.keyMaxAgeMs } : {}),
    ...(options.onKeyRefreshError ? { onRefreshError: options.onKeyRefreshError } : {}),
  });
}

/** The token's protected header, or undefined when it is not a JSON object. */
function headerOf(token: string): Record<string, unknown> | undefined {
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8'));
    return header !== null && typeof header === 'object' && !Array.isArray(header) ? (header as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Largest discovery document read. */
const MAX_DISCOVERY_BYTES = 256 * 1024;

/** An issuer's OIDC discovery document, bounded in size and time, checked to name that issuer. */
export async function discoveryDocument(issuer: string, timeoutMs: number): Promise<Readonly<Record<string, unknown>>> {
  const url = new URL('.well-known/openid-configuration', issuer.endsWith('/') ? issuer : `${issuer}/`);
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (!res.ok) throw new Error(`OIDC discovery at ${url.href} answered ${res.status}`);
  const doc = await readJson(res, MAX_DISCOVERY_BYTES, `OIDC discovery at ${url.href}`);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`OIDC discovery at ${url.href} is not a JSON object`);
  const named = (doc as Record<string, unknown>)['issuer'];
  if (named !== issuer) throw new Error(`OIDC discovery names issuer ${String(named)}, expected ${issuer}`);
  return doc as Record<string, unknown>;
}

async function discover(issuer: string, timeoutMs: number): Promise<URL> {
  const doc = (await discoveryDocument(issuer, timeoutMs)) as { jwks_uri?: unknown };
  if (typeof doc.jwks_uri !== 'string') throw new Error('OIDC discovery has no jwks_uri');
  // Keys fetched in clear could be swapped on the way, and every token with them.
  if (!SECURE_URL.test(doc.jwks_uri)) throw new Error(`OIDC discovery names a key set URL that is neither https nor on this machine: ${doc.jwks_uri.slice(0, 200)}`);
  return new URL(doc.jwks_uri);
}

function reasonOf(err: InstanceType<typeof joseErrors.JOSEError>): TokenReason {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'not-yet-valid';
    if (err.claim === 'iss') return 'issuer';
    if (err.claim === 'aud') return 'audience';
    return 'malformed';
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) return 'algorithm';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'unknown-key';
  return 'malformed';
}
