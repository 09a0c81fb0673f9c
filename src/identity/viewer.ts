/**
 * From verified claims to the caller the gateway serves: a Viewer (read through its issuer's claim
 * paths, so Okta, Auth0, Keycloak, Entra ID, Cognito and Google shapes all work), and the roles it
 * may act in. Roles are tried in order; the first whose issuers, client kinds and groups fit is the
 * default, and the caller may ask for any other that fits. When none fits, the decision says why.
 *
 * Group matching, exactly: a role's group and a token's group match when
 * - both are GUIDs (Entra ID object ids), compared without regard to case, always;
 * - the role's starts with `/` (a Keycloak group path): `/org/sales` matches that path only,
 *   `/org/sales/**` matches it and every path below it;
 * - otherwise they are equal, or equal after Unicode NFC normalisation and lower-casing when the
 *   issuer's claims say `caseInsensitiveGroups: true` (paths segment by segment; a segment never
 *   folds into a `/`, and look-alike letters stay distinct).
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
  /** The name of the issuer that signed the token. */
  readonly issuer: string;
  /**
   * True when the token says its groups did not fit in it (Entra ID's group overage: `_claim_names`
   * names `groups`, or `hasgroups: true`) and they were not resolved: group-based roles cannot fit.
   */
  readonly groupsOverage: boolean;
  /** Whether group names compare without regard to case, per the issuer's claims. */
  readonly caseInsensitiveGroups: boolean;
}

const label = (path: ClaimPath): string => (typeof path === 'string' ? path : path.join(' > '));

/** Reads a claim by whole key first (a namespaced URL claim), then by dotted path, or by segments. */
export function claimAt(payload: Readonly<Record<string, unknown>>, path: ClaimPath): unknown {
  const step = (v: unknown, key: string): unknown => (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined);
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

/** Entra ID's markers of group overage: the groups are not in the token, only where to fetch them. */
export function hasGroupOverage(payload: Readonly<Record<string, unknown>>): boolean {
  const names = payload['_claim_names'];
  const named = names !== null && typeof names === 'object' && !Array.isArray(names) && Object.hasOwn(names, 'groups');
  return named || payload['hasgroups'] === true || payload['hasgroups'] === 'true';
}

/**
 * @param issuer the name of the issuer that signed the token (`default` for the one the environment names).
 */
export function viewerFromClaims(payload: Readonly<Record<string, unknown>>, claims: ClaimsPolicy, issuer = 'default'): Viewer {
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
    groupSources, issuer,
    // The token itself says its groups overflowed; other group paths (app roles) may still hold values.
    groupsOverage: hasGroupOverage(payload) && payload['groups'] === undefined,
    caseInsensitiveGroups: claims.caseInsensitiveGroups,
  };
}

/** A viewer whose overage groups were resolved (through Microsoft Graph): they join the groups its token held. */
export function withResolvedGroups(viewer: Viewer, groups: readonly string[], source: string): Viewer {
  return { ...viewer, groups: [...new Set([...viewer.groups, ...groups])], groupSources: [...viewer.groupSources, { claim: source, values: [...groups] }], groupsOverage: false };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * Case folding for names: canonical normalisation (NFC, so a composed and a decomposed `é` are one
 * letter) and lower case. Not compatibility normalisation (NFKC): that would make look-alikes such as
 * full-width or mathematical letters, and a full-width `／`, equal to plain ones.
 */
const fold = (s: string): string => s.normalize('NFC').toLowerCase();

/** A role's group patterns, compiled once: matching a token's groups costs groups × path depth, not groups × patterns. */
export class GroupMatcher {
  /** Compared forms, each with the index of the first pattern (in policy order) that has it. */
  readonly #guids = new Map<string, number>();
  readonly #exact = new Map<string, number>();
  /** Subtree bases (`/org/sales` of `/org/sales/**`), folded when names compare without case. */
  readonly #subtrees = new Map<string, number>();
  /** Segments in the deepest subtree base: a token's path is looked up at most this deep. */
  #subtreeDepth = 0;

  constructor(private readonly patterns: readonly string[], private readonly caseInsensitive: boolean) {
    const first = (map: Map<string, number>, key: string, i: number): void => {
      if (!map.has(key)) map.set(key, i);
    };
    patterns.forEach((p, i) => {
      if (GUID.test(p)) return first(this.#guids, p.toLowerCase(), i);
      const subtree = p.startsWith('/') && p.endsWith('/**');
      const key = this.#key(subtree ? p.slice(0, -3) : p);
      if (key === undefined) return;
      if (!subtree) return first(this.#exact, key, i);
      first(this.#subtrees, key, i);
      this.#subtreeDepth = Math.max(this.#subtreeDepth, key.split('/').length - 1);
    });
  }

  /** The first of `groups` a pattern matches, with the first pattern (in policy order) that matches it; undefined when none does. */
  firstMatch(groups: readonly string[]): { group: string; pattern: string } | undefined {
    for (const group of groups) {
      const pattern = this.patternFor(group);
      if (pattern !== undefined) return { group, pattern };
    }
    return undefined;
  }

  matches(group: string): boolean {
    return this.patternFor(group) !== undefined;
  }

  /** The first pattern, in policy order, that matches `group`; undefined when none does. */
  patternFor(group: string): string | undefined {
    // A GUID pattern matches a GUID only, in any case; a name never folds into a GUID.
    if (GUID.test(group)) return this.#pattern(this.#guids.get(group.toLowerCase()));
    const key = this.#key(group);
    if (key === undefined) return undefined;
    let best = this.#exact.get(key);
    if (this.#subtrees.size > 0 && group.startsWith('/')) {
      const earlier = (i: number | undefined): void => {
        if (i !== undefined && (best === undefined || i < best)) best = i;
      };
      // `/**`: every path.
      earlier(this.#subtrees.get(''));
      // The path's ancestors from the top, `/org`, `/org/sales`, …, no deeper than the deepest subtree
      // base: a path of thousands of segments costs what a short one does.
      for (let depth = 1, end = 0; depth <= this.#subtreeDepth; depth++) {
        const next = key.indexOf('/', end + 1);
        earlier(this.#subtrees.get(next === -1 ? key : key.slice(0, next)));
        if (next === -1) break;
        end = next;
      }
    }
    return this.#pattern(best);
  }

  #pattern(index: number | undefined): string | undefined {
    return index === undefined ? undefined : this.patterns[index];
  }

  /**
   * The form a group is compared in. Paths fold segment by segment, and a segment that folds into
   * something containing `/` matches nothing: a group named `org／sales` is never the path `/org/sales`.
   */
  #key(group: string): string | undefined {
    if (!this.caseInsensitive) return group;
    const folded = group.startsWith('/') ? group.split('/').map((seg) => fold(seg)) : [fold(group)];
    if (folded.some((seg) => seg.includes('/'))) return undefined;
    return group.startsWith('/') ? folded.join('/') : folded[0]!;
  }
}

const matchers = new WeakMap<readonly string[], { caseInsensitive: GroupMatcher; exact: GroupMatcher }>();

/** The compiled matcher of a role's group list (cached with the list, which a policy keeps frozen). */
function matcherFor(patterns: readonly string[], caseInsensitive: boolean): GroupMatcher {
  let both = matchers.get(patterns);
  if (!both) {
    both = { caseInsensitive: new GroupMatcher(patterns, true), exact: new GroupMatcher(patterns, false) };
    matchers.set(patterns, both);
  }
  return caseInsensitive ? both.caseInsensitive : both.exact;
}

/** Whether any of the viewer's groups matches one of `patterns` (a role's `match.groups`, a grant's `to`). */
export function viewerInGroups(viewer: Pick<Viewer, 'groups' | 'caseInsensitiveGroups'>, patterns: readonly string[]): boolean {
  return matcherFor(patterns, viewer.caseInsensitiveGroups).firstMatch(viewer.groups) !== undefined;
}

/** Whether a role's group pattern matches one of the token's groups; see the module's comment. */
export function groupMatches(pattern: string, group: string, caseInsensitive: boolean): boolean {
  return new GroupMatcher([pattern], caseInsensitive).matches(group);
}

export interface RoleDecision<R extends RolePolicy = RolePolicy> {
  /** Every role that fits the viewer, in policy order; the first is the default. */
  readonly allowed: readonly R[];
  /** Why each role does or does not fit, in policy order. */
  readonly reasons: readonly { readonly role: string; readonly matched: boolean; readonly reason: string }[];
}

export function decideRoles<R extends RolePolicy>(viewer: Viewer, roles: readonly R[]): RoleDecision<R> {
  const reasons = roles.map((role) => {
    if (role.issuers && !role.issuers.includes(viewer.issuer)) {
      return { role: role.name, matched: false, reason: `serves tokens from the issuers ${role.issuers.join(', ')}; the token is from ${viewer.issuer}` };
    }
    if (role.clientKinds && !role.clientKinds.includes(viewer.clientKind)) {
      return { role: role.name, matched: false, reason: `serves client kinds ${role.clientKinds.join(', ')}; the caller is ${viewer.clientKind}` };
    }
    if (role.groups) {
      const matcher = matcherFor(role.groups, viewer.caseInsensitiveGroups);
      const hit = matcher.firstMatch(viewer.groups);
      if (hit !== undefined) {
        return { role: role.name, matched: true, reason: hit.group === hit.pattern ? `group ${hit.group}` : `group ${hit.group} (matches ${hit.pattern})` };
      }
      if (viewer.groupsOverage) return { role: role.name, matched: false, reason: `needs one of the groups ${listed(role.groups)}; ${OVERAGE}` };
      return { role: role.name, matched: false, reason: `needs one of the groups ${listed(role.groups)}; the token has ${viewer.groups.length ? listed(viewer.groups) : 'none'}${pathHint(role.groups, viewer.groups)}` };
    }
    return { role: role.name, matched: true, reason: `client kind ${viewer.clientKind}` };
  });
  return { allowed: roles.filter((_, i) => reasons[i]!.matched), reasons };
}

/** What an operator is told about Entra ID's group overage, wherever it stops a role from fitting. */
export const OVERAGE = 'the token\'s groups did not fit in it (Entra ID group overage: it names them in `_claim_names` or says `hasgroups`, and has no `groups` claim). '
  + 'In Entra ID, assign the groups to the application (token configuration: "Groups assigned to the application") or match on app roles instead; or configure `overage` for this issuer so the gateway reads the groups from Microsoft Graph';

/** When the token's groups are Keycloak paths and the role's are bare names, say how to write them. */
function pathHint(patterns: readonly string[], groups: readonly string[]): string {
  if (!groups.some((g) => g.startsWith('/')) || patterns.some((p) => p.startsWith('/'))) return '';
  return ' (the token\'s groups are full paths, as Keycloak\'s "full group path" mapper writes them: name them as paths, e.g. /analysts, or /org/** for a subtree)';
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
  const holds = viewer.groupsOverage
    ? `Your token's groups are not in it: ${OVERAGE}. Its client kind is ${viewer.clientKind}`
    : viewer.groups.length
      ? `Your token carries the groups ${listed(viewer.groups, 5)} (read from ${paths}) and client kind ${viewer.clientKind}`
      : `Your token carries no groups where the policy reads them (${paths}), and client kind ${viewer.clientKind}`;
  const detail = explainAll ? `: ${decision.reasons.map((r) => `${r.role} ${r.reason}`).join('; ')}` : '; ask your administrator which group gives access';
  return `No gateway role fits your token. ${holds}${detail}. \`{ viewer { groups groupSources { claim values } clientKind } }\` shows how the gateway reads your token.`;
}
