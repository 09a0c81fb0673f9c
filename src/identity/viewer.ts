/**
 * From verified claims to the caller the gateway serves: a Viewer (read through the policy's claim
 * paths, so Okta, Auth0, Keycloak and Entra ID shapes all work), and the roles it may act in.
 * Roles are tried in order; the first whose groups and client kinds fit is the default, and the
 * caller may ask for any other that fits. When none fits, the decision says why, for `viewer`.
 */
import type { ClaimPath, ClaimsPolicy, ClientKind, RolePolicy } from '../policy/policy.js';

export interface ClaimReading {
  /** The claim path as the policy names it. */
  readonly claim: string;
  /** The values found there (empty when the claim is absent). */
  readonly values: readonly string[];
}

export interface Viewer {
  readonly subject: string;
  readonly email: string | null;
  readonly name: string | null;
  /** The union of every configured group path's values. */
  readonly groups: readonly string[];
  readonly scopes: readonly string[];
  /** The OAuth client the token was issued to (`azp`/`client_id`), when it says. */
  readonly clientId: string | null;
  readonly clientKind: ClientKind;
  /** What each configured group path held: the first thing to look at when a role does not match. */
  readonly groupSources: readonly ClaimReading[];
}

const label = (path: ClaimPath): string => (typeof path === 'string' ? path : path.join(' > '));

/** Reads a claim by whole key first (a namespaced URL claim), then by dotted path, or by segments. */
export function claimAt(payload: Readonly<Record<string, unknown>>, path: ClaimPath): unknown {
  const step = (v: unknown, key: string): unknown => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[key] : undefined);
  if (typeof path !== 'string') return path.reduce(step, payload);
  if (Object.hasOwn(payload, path)) return payload[path];
  return path.split('.').reduce(step, payload);
}

/**
 * A claim as a list of strings: arrays keep their string items. A string is one value, except in a
 * scope claim, which OAuth defines as space-separated: a group named "Regional analysts" must not
 * read as the group "analysts".
 */
function valuesAt(payload: Readonly<Record<string, unknown>>, path: ClaimPath, spaceSeparated: boolean): string[] {
  const raw = claimAt(payload, path);
  if (Array.isArray(raw)) return raw.filter((v): v is string => typeof v === 'string' && v !== '');
  if (typeof raw === 'string') return spaceSeparated ? raw.split(/\s+/).filter(Boolean) : raw === '' ? [] : [raw];
  return [];
}

const samePath = (a: ClaimPath, b: ClaimPath): boolean => label(a) === label(b);

function stringAt(payload: Readonly<Record<string, unknown>>, path: ClaimPath): string | null {
  const raw = claimAt(payload, path);
  return typeof raw === 'string' && raw !== '' ? raw : null;
}

export function viewerFromClaims(payload: Readonly<Record<string, unknown>>, claims: ClaimsPolicy): Viewer {
  const isScope = (p: ClaimPath): boolean => claims.scopes.some((s) => samePath(s, p));
  const groupSources = claims.groups.map((p) => ({ claim: label(p), values: valuesAt(payload, p, isScope(p)) }));
  const groups = [...new Set(groupSources.flatMap((s) => s.values))];
  const scopes = [...new Set(claims.scopes.flatMap((p) => valuesAt(payload, p, true)))];
  const clientId = claims.clientId.map((p) => stringAt(payload, p)).find((v) => v !== null) ?? null;
  const rule = claims.clientKind.rules.find((r) => {
    if ('clientIds' in r) return clientId !== null && r.clientIds.includes(clientId);
    if ('scope' in r) return scopes.includes(r.scope);
    return valuesAt(payload, r.claim, isScope(r.claim)).some((v) => r.equals.includes(v));
  });
  return {
    subject: stringAt(payload, claims.subject) ?? '',
    email: stringAt(payload, claims.email),
    name: stringAt(payload, claims.name),
    groups, scopes, clientId,
    clientKind: rule?.kind ?? claims.clientKind.default,
    groupSources,
  };
}

export interface RoleDecision<R extends RolePolicy = RolePolicy> {
  /** Every role that fits the viewer, in policy order; the first is the default. */
  readonly allowed: readonly R[];
  /** Why each role does or does not fit, in policy order. */
  readonly reasons: readonly { readonly role: string; readonly matched: boolean; readonly reason: string }[];
}

export function decideRoles<R extends RolePolicy>(viewer: Viewer, roles: readonly R[]): RoleDecision<R> {
  const reasons = roles.map((role) => {
    if (role.clientKinds && !role.clientKinds.includes(viewer.clientKind)) {
      return { role: role.name, matched: false, reason: `serves client kinds ${role.clientKinds.join(', ')}; the caller is ${viewer.clientKind}` };
    }
    if (role.groups) {
      const hit = role.groups.find((g) => viewer.groups.includes(g));
      if (!hit) return { role: role.name, matched: false, reason: `needs one of the groups ${listed(role.groups)}; the token has ${viewer.groups.length ? listed(viewer.groups) : 'none'}` };
      return { role: role.name, matched: true, reason: `group ${hit}` };
    }
    return { role: role.name, matched: true, reason: `client kind ${viewer.clientKind}` };
  });
  return { allowed: roles.filter((_, i) => reasons[i]!.matched), reasons };
}

/** At most `max` items, each cut to 64 characters, and how many more there are: messages stay short whatever a token holds. */
export function listed(items: readonly string[], max = 10): string {
  const shown = items.slice(0, max).map((g) => (g.length > 64 ? `${g.slice(0, 61)}...` : g));
  return items.length > max ? `${shown.join(', ')} and ${items.length - max} more` : shown.join(', ');
}

/**
 * Why no role fits, in one message for the caller. By default it says what the caller's own token
 * holds (its groups, as the policy reads them, and its client kind), not what other roles need; with
 * `explainAll` (the policy's `explainDenials`) it also says what each role needs.
 */
export function explainNoRole(viewer: Viewer, decision: RoleDecision, explainAll: boolean): string {
  if (decision.reasons.length === 0) return 'The policy defines no roles.';
  const paths = viewer.groupSources.map((s) => s.claim).join(', ');
  const holds = viewer.groups.length
    ? `Your token carries the groups ${listed(viewer.groups)} (read from ${paths}) and client kind ${viewer.clientKind}`
    : `Your token carries no groups where the policy reads them (${paths}), and client kind ${viewer.clientKind}`;
  const detail = explainAll ? `: ${decision.reasons.map((r) => `${r.role} ${r.reason}`).join('; ')}` : '; ask your administrator which group gives access';
  return `No gateway role fits your token. ${holds}${detail}. \`{ viewer { groups groupSources { claim values } clientKind } }\` shows how the gateway reads your token.`;
}
