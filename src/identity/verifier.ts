/**
 * Verifying callers' bearer tokens: OIDC discovery finds the issuer's key set (retried after a
 * failure), the key cache serves keys (see jwks.ts), and jose checks signature, issuer, audience,
 * expiry and not-before against an allow-list of asymmetric algorithms. Every refusal is an
 * UNAUTHENTICATED error with a reason code; none echoes the token or its claims.
 */
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { UnauthenticatedError, UpstreamUnavailableError } from '../errors/index.js';
import { JwksCache } from './jwks.js';

export interface VerifierOptions {
  /** The issuer URL, exactly as it appears in tokens' `iss`. */
  readonly issuer: string;
  /** Accepted `aud` values. */
  readonly audience: string | readonly string[];
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
}

export interface TokenVerifier {
  (token: string): Promise<JWTPayload>;
  /** The key cache, for diagnostics and tests. */
  readonly keys: JwksCache;
}

/** Why a token was refused: a closed set, carried as `extensions.reason`. */
export const TOKEN_REASONS = ['missing', 'malformed', 'expired', 'not-yet-valid', 'issuer', 'audience', 'signature', 'unknown-key', 'algorithm', 'crit', 'subject'] as const;
export type TokenReason = (typeof TOKEN_REASONS)[number];

export const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
/** Longer tokens are refused before any parsing. Real access tokens are a few KB at most. */
export const MAX_TOKEN_LENGTH = 8_192;

const MESSAGES: Record<TokenReason, string> = {
  missing: 'Send `Authorization: Bearer <token>` with a token from your identity provider.',
  malformed: 'The bearer token is not a well-formed signed JWT with `exp`.',
  expired: 'The bearer token has expired; get a new one from your identity provider.',
  'not-yet-valid': 'The bearer token is not valid yet (its `nbf` is in the future); check the clocks.',
  issuer: 'The bearer token was issued by an issuer this gateway does not trust.',
  audience: 'The bearer token was issued for another audience than this gateway.',
  signature: 'The bearer token\'s signature does not verify.',
  'unknown-key': 'The bearer token is signed with a key the identity provider does not publish.',
  algorithm: 'The bearer token is signed with an algorithm this gateway does not accept.',
  crit: 'The bearer token names critical header extensions (`crit`) this gateway does not understand.',
  subject: 'The bearer token has no subject, where the policy reads it (`claims.subject`, default `sub`).',
};

/**
 * A refused token. `http` overrides the status (400 for a request that is malformed rather than
 * unauthenticated, such as two Authorization headers) and the message.
 */
export function tokenError(reason: TokenReason, cause?: unknown, http?: { status: number; message: string }): UnauthenticatedError {
  return new UnauthenticatedError(http?.message ?? MESSAGES[reason], { details: { reason, ...(http ? { http: { status: http.status } } : {}) }, cause });
}

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];
  if (algorithms.length === 0 || algorithms.some((a) => a === 'none' || a.startsWith('HS'))) {
    throw new TypeError(`token algorithms must be asymmetric; received ${algorithms.join(', ') || 'none'}`);
  }
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
  const keys = new JwksCache({
    locate, timeoutMs,
    ...(options.keyRefreshCooldownMs !== undefined ? { cooldownMs: options.keyRefreshCooldownMs } : {}),
    ...(options.keyMaxAgeMs !== undefined ? { maxAgeMs: options.keyMaxAgeMs } : {}),
    ...(options.onKeyRefreshError ? { onRefreshError: options.onKeyRefreshError } : {}),
  });

  const verify = async (token: string): Promise<JWTPayload> => {
    if (token === '') throw tokenError('missing');
    if (token.length > MAX_TOKEN_LENGTH || !/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) throw tokenError('malformed');
    // The gateway understands no critical header extension; a token that names one is refused as such.
    if (headerOf(token)?.['crit'] !== undefined) throw tokenError('crit');
    try {
      const { payload } = await jwtVerify(token, keys.getKey, {
        issuer: options.issuer,
        audience: typeof options.audience === 'string' ? options.audience : [...options.audience],
        algorithms,
        clockTolerance: options.clockToleranceSeconds ?? 5,
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) throw tokenError(reasonOf(err), err);
      // Neither a token fault nor a verdict: the IdP (discovery or keys) could not be reached.
      throw new UpstreamUnavailableError('The identity provider could not be reached to verify the token.', { details: { reason: 'identity-provider' }, cause: err });
    }
  };
  return Object.assign(verify, { keys });
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

async function discover(issuer: string, timeoutMs: number): Promise<URL> {
  const url = new URL('.well-known/openid-configuration', issuer.endsWith('/') ? issuer : `${issuer}/`);
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (!res.ok) throw new Error(`OIDC discovery at ${url.href} answered ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) throw new Error(`OIDC discovery names issuer ${String(doc.issuer)}, expected ${issuer}`);
  if (typeof doc.jwks_uri !== 'string') throw new Error('OIDC discovery has no jwks_uri');
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
