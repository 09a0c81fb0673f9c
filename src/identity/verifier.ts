/**
 * Verifying callers' bearer tokens: OIDC discovery finds the issuer's JWKS once (retried after a
 * failure), jose verifies signature, issuer, audience, expiry and not-before against an allow-list of
 * algorithms. Unknown key ids refresh the key set, with jose's cooldown.
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { UnauthenticatedError, UpstreamUnavailableError } from '../errors/index.js';

export interface VerifierOptions {
  /** The issuer URL, exactly as it appears in tokens' `iss`. */
  readonly issuer: string;
  /** Accepted `aud` values. */
  readonly audience: string | readonly string[];
  /** Accepted signing algorithms. Default RS256, PS256, ES256, EdDSA. */
  readonly algorithms?: readonly string[];
  /** Leeway for `exp` and `nbf`, in seconds. Default 5. */
  readonly clockToleranceSeconds?: number;
  /** Timeout of discovery and JWKS fetches, in ms. Default 5,000. */
  readonly fetchTimeoutMs?: number;
}

export type TokenVerifier = (token: string) => Promise<JWTPayload>;

export const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];
  if (algorithms.some((a) => a === 'none' || a.startsWith('HS'))) {
    throw new TypeError(`token algorithms must be asymmetric; received ${algorithms.join(', ')}`);
  }
  const timeoutMs = options.fetchTimeoutMs ?? 5_000;
  let keySet: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  const discover = async (): Promise<ReturnType<typeof createRemoteJWKSet>> => {
    const url = new URL('.well-known/openid-configuration', options.issuer.endsWith('/') ? options.issuer : `${options.issuer}/`);
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    if (!res.ok) throw new Error(`OIDC discovery at ${url.href} answered ${res.status}`);
    const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (doc.issuer !== options.issuer) throw new Error(`OIDC discovery names issuer ${String(doc.issuer)}, expected ${options.issuer}`);
    if (typeof doc.jwks_uri !== 'string') throw new Error('OIDC discovery has no jwks_uri');
    return createRemoteJWKSet(new URL(doc.jwks_uri), { timeoutDuration: timeoutMs, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  };

  return async (token) => {
    if (!keySet) {
      const attempt = discover();
      keySet = attempt;
      attempt.catch(() => {
        if (keySet === attempt) keySet = undefined;
      });
    }
    let jwks: ReturnType<typeof createRemoteJWKSet>;
    try {
      jwks = await keySet;
    } catch (err) {
      throw new UpstreamUnavailableError('The identity provider could not be reached to verify the token.', { cause: err });
    }
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: typeof options.audience === 'string' ? options.audience : [...options.audience],
        algorithms,
        clockTolerance: options.clockToleranceSeconds ?? 5,
        requiredClaims: ['exp', 'sub'],
      });
      return payload;
    } catch (err) {
      if (err instanceof joseErrors.JWKSTimeout) {
        throw new UpstreamUnavailableError('The identity provider\'s keys could not be fetched in time.', { cause: err });
      }
      throw new UnauthenticatedError(reason(err), { cause: err });
    }
  };
}

/** A client-safe reason: which check failed, never the token or its claims. */
function reason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'The bearer token has expired.';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `The bearer token's "${err.claim}" claim is not accepted (${err.reason}).`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'The bearer token is signed with an algorithm this gateway does not accept.';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'The bearer token\'s signature does not verify.';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'The bearer token is signed with a key the identity provider does not publish.';
  return 'The bearer token is not a valid JWT from the expected issuer.';
}
