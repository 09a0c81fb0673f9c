/**
 * `npm run explain -- <token>`: how the gateway reads a token under the configuration in the
 * environment: whether it verifies (fetching the issuer's keys as the server does) and why not,
 * the claims as the policy's paths read them, and which roles fit. The token itself is never printed.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { GatewayError } from './errors/index.js';
import { decideRoles, viewerFromClaims } from './identity/viewer.js';
import type { TokenVerifier } from './identity/verifier.js';
import type { Policy } from './policy/policy.js';

export interface Explanation {
  readonly verified: boolean;
  readonly lines: readonly string[];
}

const when = (seconds: unknown, now: number): string => {
  if (typeof seconds !== 'number') return 'absent';
  const delta = Math.round(seconds - now / 1000);
  return `${new Date(seconds * 1000).toISOString()} (${delta >= 0 ? `in ${delta} s` : `${-delta} s ago`})`;
};

export async function explainToken(token: string, policy: Policy, verify: TokenVerifier, now = Date.now()): Promise<Explanation> {
  const lines: string[] = [];
  let claims: Record<string, unknown>;
  try {
    const header = decodeProtectedHeader(token);
    claims = decodeJwt(token);
    lines.push(`Token: alg ${String(header.alg)}, kid ${String(header.kid ?? 'none')}, typ ${String(header.typ ?? 'none')}`);
    lines.push(`  iss ${JSON.stringify(claims['iss'])}, aud ${JSON.stringify(claims['aud'])}, sub ${JSON.stringify(claims['sub'])}`);
    lines.push(`  issued ${when(claims['iat'], now)}, expires ${when(claims['exp'], now)}, not before ${when(claims['nbf'], now)}`);
  } catch {
    return { verified: false, lines: ['Token: not a JWT (three base64url parts with a JSON header and payload); reason: malformed'] };
  }
  let verified = false;
  try {
    await verify(token);
    verified = true;
    lines.push('Verification: ok (signature, issuer, audience, expiry and algorithm accepted)');
  } catch (err) {
    const e = err instanceof GatewayError ? err : undefined;
    lines.push(`Verification: REFUSED, ${e ? `${e.code}${e.extensions['reason'] ? ` (reason: ${String(e.extensions['reason'])})` : ''}: ${e.message}` : String(err)}`);
    lines.push('  The server answers this token with that error. What follows is how it would read the claims if it verified.');
  }
  const viewer = viewerFromClaims(claims, policy.claims);
  if (viewer.subject === '') {
    lines.push('Subject: none where the policy reads it (claims.subject); the server refuses this token, UNAUTHENTICATED (reason: subject)');
    verified = false;
  }
  lines.push(`Viewer: subject ${JSON.stringify(viewer.subject)}, email ${JSON.stringify(viewer.email)}, name ${JSON.stringify(viewer.name)}`);
  lines.push(`  client ${JSON.stringify(viewer.clientId)}, kind ${viewer.clientKind}, scopes [${viewer.scopes.join(', ')}]`);
  lines.push('Groups, by claim path of the policy:');
  for (const s of viewer.groupSources) lines.push(`  ${s.claim}: ${s.values.length ? s.values.join(', ') : '(absent or empty)'}`);
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
