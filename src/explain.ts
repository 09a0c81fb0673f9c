/**
 * `npm run explain -- <token>`: how the gateway reads a token under the configuration in the
 * environment: which issuer it names, whether it verifies (fetching that issuer's keys as the server
 * does) and why not, which audience check ran on what, whether it is an access token, the claims as
 * the issuer's claim paths read them (and how to write a path that reads nothing), and which roles
 * fit. The token itself is never printed.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { GatewayError } from './errors/index.js';
import type { IssuerRegistry } from './identity/issuers.js';
import { audienceMatches, tokenTypeProblem } from './identity/verifier.js';
import { claimAt, decideRoles, OVERAGE, viewerFromClaims } from './identity/viewer.js';
import type { ClaimPath, IssuerPolicy, Policy } from './policy/policy.js';

export interface Explanation {
  readonly verified: boolean;
  readonly lines: readonly string[];
}

const when = (seconds: unknown, now: number): string => {
  if (typeof seconds !== 'number') return 'absent';
  const delta = Math.round(seconds - now / 1000);
  return `${new Date(seconds * 1000).toISOString()} (${delta >= 0 ? `in ${delta} s` : `${-delta} s ago`})`;
};

const shown = (value: unknown): string => (value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 200));

/**
 * For a dotted path that reads nothing: the way of grouping its dots into keys that does read
 * something in this token (`resource_access.gateway.example.com.roles` as
 * `[resource_access, gateway.example.com, roles]`), or undefined.
 */
export function segmentFormThatReads(payload: Readonly<Record<string, unknown>>, path: string): string[] | undefined {
  const parts = path.split('.');
  if (parts.length < 3 || parts.length > 12) return undefined;
  // Every way to join neighbouring parts: 2^(n-1) groupings, n at most 12.
  for (let mask = 1; mask < 2 ** (parts.length - 1); mask++) {
    const segments: string[] = [parts[0]!];
    for (let i = 1; i < parts.length; i++) {
      if (mask & (1 << (i - 1))) segments[segments.length - 1] += `.${parts[i]}`;
      else segments.push(parts[i]!);
    }
    if (claimAt(payload, segments) !== undefined) return segments;
  }
  return undefined;
}

export async function explainToken(token: string, policy: Policy, issuers: readonly IssuerPolicy[], registry: IssuerRegistry, now = Date.now()): Promise<Explanation> {
  const lines: string[] = [];
  let claims: Record<string, unknown>;
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
    claims = decodeJwt(token);
    lines.push(`Token: alg ${String(header['alg'])}, kid ${String(header['kid'] ?? 'none')}, typ ${String(header['typ'] ?? 'none')}, ${token.length} bytes`);
    lines.push(`  iss ${shown(claims['iss'])}, aud ${shown(claims['aud'])}, sub ${shown(claims['sub'])}`);
    lines.push(`  issued ${when(claims['iat'], now)}, expires ${when(claims['exp'], now)}, not before ${when(claims['nbf'], now)}`);
  } catch {
    return { verified: false, lines: ['Token: not a JWT (three base64url parts with a JSON header and payload); reason: malformed'] };
  }
  const issuer = issuers.find((i) => i.issuer === claims['iss']);
  if (!issuer) {
    lines.push(`Issuer: none of the accepted issuers has iss ${shown(claims['iss'])}; accepted: ${issuers.map((i) => `${i.name} (${i.issuer})`).join(', ')}`);
    lines.push('Verification: REFUSED, UNAUTHENTICATED (reason: issuer): the token is not verified against any key.');
    return { verified: false, lines };
  }
  lines.push(`Issuer: ${issuer.name} (${issuer.issuer}); keys from its OIDC discovery`);
  const audience = claims[issuer.audienceClaim];
  lines.push(`Audience check: the claim \`${issuer.audienceClaim}\` holds ${shown(audience)}; accepted: ${issuer.audiences.map((a) => JSON.stringify(a)).join(', ')}: ${audienceMatches(audience, issuer.audiences) ? 'matches' : audience === undefined ? `the token has no \`${issuer.audienceClaim}\`` : 'does not match'}`);
  const typeProblem = tokenTypeProblem(header, claims);
  const allowed = typeProblem !== null && tokenTypeProblem(header, claims, issuer.allowIdTokens) === null;
  lines.push(`Token type: ${typeProblem === null ? 'an access token' : `not an access token (${typeProblem})${allowed ? ', accepted: this issuer allows ID tokens' : ''}`}`);
  let verified = false;
  try {
    await registry.verify(token);
    verified = true;
    lines.push('Verification: ok (signature, issuer, audience, expiry, algorithm and token type accepted)');
  } catch (err) {
    const e = err instanceof GatewayError ? err : undefined;
    lines.push(`Verification: REFUSED, ${e ? `${e.code}${e.extensions['reason'] ? ` (reason: ${String(e.extensions['reason'])})` : ''}: ${e.message}` : String(err)}`);
    lines.push('  The server answers this token with that error. What follows is how it would read the claims if it verified.');
  }
  const viewer = viewerFromClaims(claims, issuer.claims, issuer.name);
  if (viewer.subject === '') {
    lines.push('Subject: none where the policy reads it (claims.subject); the server refuses this token, UNAUTHENTICATED (reason: subject)');
    verified = false;
  }
  lines.push(`Viewer: subject ${JSON.stringify(viewer.subject)}, email ${JSON.stringify(viewer.email)}, name ${JSON.stringify(viewer.name)}`);
  lines.push(`  client ${JSON.stringify(viewer.clientId)}, kind ${viewer.clientKind}, scopes [${viewer.scopes.join(', ')}]`);
  lines.push(`Groups, by claim path of issuer ${issuer.name} (names compare ${issuer.claims.caseInsensitiveGroups ? 'without regard to case' : 'exactly'}; GUIDs without regard to case):`);
  issuer.claims.groups.forEach((path: ClaimPath, i) => {
    const source = viewer.groupSources[i]!;
    lines.push(`  ${source.claim}: ${source.values.length ? source.values.slice(0, 20).join(', ') + (source.values.length > 20 ? ` and ${source.values.length - 20} more` : '') : '(absent or empty)'}`);
    const form = typeof path === 'string' && source.values.length === 0 ? segmentFormThatReads(claims, path) : undefined;
    if (form) lines.push(`    as one dotted path this reads nothing; written as segments [${form.join(', ')}] it reads ${shown(claimAt(claims, form))}`);
  });
  if (viewer.groupsOverage) lines.push(`Group overage: ${OVERAGE}${issuer.overage ? ' (configured: the server reads the groups from Microsoft Graph)' : ''}`);
  const decision = decideRoles(viewer, policy.roles);
  lines.push(`Roles (policy ${policy.source}, in order):`);
  for (const r of decision.reasons) {
    const isDefault = decision.allowed[0]?.name === r.role;
    lines.push(`  ${r.matched ? 'fits ' : 'no   '} ${r.role}: ${r.reason}${isDefault ? ' (the default role)' : ''}`);
  }
  if (decision.allowed.length === 0) lines.push('No role fits: every field but `viewer` answers FORBIDDEN.');
  else if (decision.allowed.length > 1) lines.push(`Other roles can be asked for with the X-Gateway-Role header: ${decision.allowed.slice(1).map((r) => r.name).join(', ')}`);
  return { verified, lines };
}
