/**
 * The policy: how IdP claims become a viewer, and which gateway roles exist, in order, with what
 * each may read and run and which Metabase credential it uses. Loaded from POLICY_FILE (YAML or
 * JSON), checked as a whole (every problem named by file, path and what was expected), frozen.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { deepFreeze, SECURE_URL } from '../config/config.js';
import { DEFAULT_LIMITS, LIMIT_CEILING, LIMIT_NAMES, type OperationLimits } from '../config/limits.js';

/** A claim path: dotted (`realm_access.roles`), a whole key (`https://example.com/groups`), or segments. */
export type ClaimPath = string | readonly string[];

export const CLIENT_KINDS = ['human', 'agent', 'service'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** How a client kind is recognised; the first matching rule wins. */
export type ClientKindRule =
  | { readonly kind: ClientKind; readonly clientIds: readonly string[] }
  | { readonly kind: ClientKind; readonly scope: string }
  | { readonly kind: ClientKind; readonly claim: ClaimPath; readonly equals: readonly string[] };

export interface ClaimsPolicy {
  readonly subject: ClaimPath;
  readonly email: ClaimPath;
  readonly name: ClaimPath;
  /** Every listed path adds its values to the viewer's groups (an array, or a space-separated string). */
  readonly groups: readonly ClaimPath[];
  /** Where scopes are read (`scope` is space-separated; Entra's `scp` may be either). */
  readonly scopes: readonly ClaimPath[];
  /** Where the OAuth client id is read (`azp`, `client_id`, Entra's `appid`). */
  readonly clientId: readonly ClaimPath[];
  readonly clientKind: { readonly default: ClientKind; readonly rules: readonly ClientKindRule[] };
  /**
   * Whether group names compare without regard to case (after Unicode NFKC normalisation). GUIDs
   * always compare case-insensitively, whatever this says. Default false: names compare exactly.
   */
  readonly caseInsensitiveGroups: boolean;
}

/** Resolving Entra ID's group overage through Microsoft Graph, with the gateway's own app credential. */
export interface OverageGraph {
  /** Graph's base URL, e.g. `https://graph.microsoft.com`: never the token's `_claim_sources` endpoint. */
  readonly graphUrl: string;
  /** The tenant's token endpoint, for the client-credentials grant. */
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: SecretSource;
}

/** An identity provider whose tokens the gateway accepts, and how to read them. */
export interface IssuerPolicy {
  /** How roles (`match.issuers`) and records name it. */
  readonly name: string;
  /** The issuer URL, exactly as tokens carry it in `iss`; its keys are found by OIDC discovery below it. */
  readonly issuer: string;
  /** Accepted audiences: the token's audience claim must hold one of them. */
  readonly audiences: readonly string[];
  /** Where the audience is read: `aud` (the default), or another claim (`client_id` for AWS Cognito). */
  readonly audienceClaim: string;
  /** Accepted signing algorithms (asymmetric only). Default RS256, PS256, ES256, EdDSA. */
  readonly algorithms: readonly string[];
  /** Accept ID tokens as bearer tokens (Google's service-to-service identity tokens). Default false: access tokens only. */
  readonly allowIdTokens: boolean;
  /** How this issuer's tokens are read. Default: the policy's `claims`. */
  readonly claims: ClaimsPolicy;
  /** Entra ID group overage resolved through Microsoft Graph; null when not configured. */
  readonly overage: OverageGraph | null;
}

export const DEFAULT_TOKEN_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** Where a secret is read: an environment variable, or a file (e.g. a mounted Kubernetes secret). */
export type SecretSource = { readonly env: string } | { readonly file: string };

export type CredentialSpec =
  | { readonly kind: 'api-key'; readonly apiKey: SecretSource }
  | { readonly kind: 'login'; readonly username: string; readonly password: SecretSource };

/** `all`, or a list of: a collection id (that collection), `{subtree: id}` (it and all below), `root`. */
export type CollectionAccess =
  | { readonly all: true }
  | { readonly all: false; readonly ids: readonly number[]; readonly subtrees: readonly number[]; readonly root: boolean };

/**
 * Whether `access` holds items directly in collection `id` (`null` or `root`: the root collection).
 * `ancestors` gives the collections above `id`; it is asked only when a subtree must be checked.
 */
export async function collectionHeld(access: CollectionAccess, id: number | 'root' | null, ancestors: () => Promise<readonly number[]>): Promise<boolean> {
  if (access.all) return true;
  if (id === null || id === 'root') return access.root;
  if (access.ids.includes(id) || access.subtrees.includes(id)) return true;
  return access.subtrees.length > 0 && (await ancestors()).some((a) => access.subtrees.includes(a));
}

export interface RolePolicy {
  readonly name: string;
  readonly description: string | null;
  /** IdP groups, any of which selects the role; null when the role matches on client kind alone. */
  readonly groups: readonly string[] | null;
  /** Client kinds the role serves; null for any. */
  readonly clientKinds: readonly ClientKind[] | null;
  /** Names of the issuers whose tokens the role serves; null for any. */
  readonly issuers: readonly string[] | null;
  readonly metabase: CredentialSpec;
  readonly collections: CollectionAccess;
  readonly canViewSql: boolean;
  readonly canRunNativeSql: boolean;
  /** Upper bound on rows returned by any run in this role. */
  readonly maxRows: number;
  readonly rateLimitTier: string | null;
  /**
   * What the role's limits do while Redis does not answer: `local` counts in each instance instead;
   * `refuse` refuses (RATE_LIMITED, reason `limits-unavailable`) until it answers again. Default:
   * `refuse` for roles that serve only agents, or only vetted operations; `local` for the others.
   */
  readonly rateLimitFallback: 'local' | 'refuse';
  /** How long the role keeps query results for its later runs, in ms (0: not kept), and whether ad-hoc SQL results too. */
  readonly resultCache: { readonly ttlMs: number; readonly nativeSql: boolean };
  /**
   * Only vetted operations (schema/persisted-operations.json), sent by id, may run in this role; a
   * document is refused with PERSISTED_QUERY_REQUIRED before it is parsed. `vettedOnly: log` sets
   * `vettedOnlyMode: 'log'`: what would be refused is logged and let through, for rolling out.
   */
  readonly vettedOnly: boolean;
  readonly vettedOnlyMode: 'enforce' | 'log';
  /** The vetted operations (by name) a vetted-only role may run; null: every one in the manifest. */
  readonly operations: readonly string[] | null;
  /** May use `__schema` and `__type`. Default: true, except for roles that serve only agents and services. */
  readonly canIntrospect: boolean;
  /** The most bytes of one MCP tool result (its structured content); a larger result is cut to fit, with a note. */
  readonly toolResultBytes: number;
  /** Risk flags on agent traffic: when each is set, and which refuse the call (risk-flags.ts). */
  readonly riskFlags: RiskFlagPolicy;
  /** The operation gate's limits: the defaults, then the policy's `limits`, then the role's. */
  readonly limits: OperationLimits;
  /** What of this role's reach may be granted for a while, to whom, approved by whom (just-in-time access). */
  readonly grantable: readonly GrantRule[];
}

/**
 * One `grantable` entry of a role: targets its credential reaches that members of `to` may ask for,
 * for at most `maxMinutes`, approved by a member of one of the `approvers` roles. A grant lets its
 * holder reach that target alone (a dashboard with its cards, a question, or a collection's items),
 * through this role's credential.
 */
export interface GrantRule {
  readonly dashboards: readonly number[];
  readonly questions: readonly number[];
  /** Collections granted alone (their own items), and collections granted with everything below them. */
  readonly collections: readonly number[];
  readonly subtrees: readonly number[];
  /** IdP groups whose members may ask (the same patterns as a role's `match.groups`). */
  readonly to: readonly string[];
  /** Roles whose members may approve or deny. */
  readonly approvers: readonly string[];
  readonly maxMinutes: number;
}

/** `accessRequests:`: how long a request waits for an answer, and where approvers are told. */
export interface AccessRequestPolicy {
  /** An unanswered request expires after this long. */
  readonly pendingMinutes: number;
  /** Slack-compatible JSON POSTed on each new request and decision, signed with HMAC-SHA256; null: none. */
  readonly webhook: { readonly url: string; readonly secret: SecretSource } | null;
}

export const DEFAULT_PENDING_MINUTES = 24 * 60;
/** The longest grant a policy may allow: 30 days. */
export const MAX_GRANT_MINUTES = 30 * 24 * 60;

/** The risk flags the gateway sets on agent calls (see src/server/risk-flags.ts). */
export const RISK_FLAGS = ['question-burst', 'row-cap-repeated', 'sql-shaped-value', 'prompt-shaped-value'] as const;
export type RiskFlag = typeof RISK_FLAGS[number];

export interface RiskFlagPolicy {
  /** Flags that refuse the call (403 FORBIDDEN, reason `risk-flagged`); the others are recorded only. */
  readonly refuse: readonly RiskFlag[];
  /** `question-burst`: more distinct questions and dashboard cards run than this within a minute. */
  readonly distinctQuestionsPerMinute: number;
  /** `row-cap-repeated`: more runs cut by the row cap than this within a minute. */
  readonly rowCapCutsPerMinute: number;
}

export const DEFAULT_RISK_FLAGS: RiskFlagPolicy = { refuse: [], distinctQuestionsPerMinute: 20, rowCapCutsPerMinute: 5 };
export const DEFAULT_TOOL_RESULT_BYTES = 32 * 1024;

export interface RateLimitTier {
  /** Requests per minute per caller; null: not limited. */
  readonly requestsPerMinute: number | null;
  /** Query runs per minute per caller (every run asked for, whether Metabase, a cache or a shared run answers it); null: not limited. */
  readonly runsPerMinute: number | null;
  /** Query runs in progress at once per caller; null: not limited. */
  readonly concurrentRuns: number | null;
}

export type MetadataKind = 'cards' | 'dashboards' | 'collections' | 'databases';

/** How long Metabase's metadata is kept, per kind: fresh for `ttlMs`, then served stale for `staleMs` while refreshed. */
export interface CachePolicy {
  readonly metadata: Readonly<Record<MetadataKind, { readonly ttlMs: number; readonly staleMs: number }>>;
}

export const METADATA_KINDS: readonly MetadataKind[] = ['cards', 'dashboards', 'collections', 'databases'];
const DEFAULT_METADATA_TTL_SECONDS = 60;

export interface Policy {
  /** Where it was read from, for messages. */
  readonly source: string;
  readonly claims: ClaimsPolicy;
  readonly rateLimitTiers: Readonly<Record<string, RateLimitTier>>;
  readonly cache: CachePolicy;
  /** The limits every role starts from (the defaults, changed by the policy's `limits`); callers with no role get these. */
  readonly limits: OperationLimits;
  /** When true, a caller no role fits is told what every role needs; otherwise only what its own token holds. */
  readonly explainDenials: boolean;
  /** The identity providers the policy names; empty when it names none (the environment's OIDC_ISSUER is used). */
  readonly issuers: readonly IssuerPolicy[];
  readonly roles: readonly RolePolicy[];
  readonly accessRequests: AccessRequestPolicy;
  /** Things that are valid but probably not meant (a dotted claim path that looks like a key with dots), for the log. */
  readonly warnings: readonly string[];
}

export const METABASE_ROW_LIMIT = 10_000;

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(readonly source: string, readonly problems: readonly string[]) {
    super(`invalid policy ${source}:\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * The issuers whose tokens are accepted: the policy's, or else the one the environment names
 * (`defaultIssuer`), read with the policy's claim mapping. A policy with neither is refused, and so
 * is one that lists issuers while the environment names one too (`exclusive`, the server's case:
 * OIDC_ISSUER would silently do nothing).
 */
export function effectiveIssuers(policy: Policy, defaultIssuer?: Omit<IssuerPolicy, 'claims'>, exclusive = false): readonly IssuerPolicy[] {
  if (policy.issuers.length > 0 && defaultIssuer && exclusive) {
    throw new PolicyError(policy.source, [`issuers: the policy lists issuers and OIDC_ISSUER (${defaultIssuer.issuer}) is set too; list that issuer in the policy and unset OIDC_ISSUER and OIDC_AUDIENCE, or remove \`issuers\` from the policy`]);
  }
  if (policy.issuers.length > 0) return policy.issuers;
  if (defaultIssuer) return [{ ...defaultIssuer, claims: policy.claims }];
  throw new PolicyError(policy.source, ['issuers: the policy lists no issuer and none is configured: list issuers in the policy, or set OIDC_ISSUER and OIDC_AUDIENCE']);
}

/** The one issuer the environment names (OIDC_ISSUER, OIDC_AUDIENCE, OIDC_ALGORITHMS), as the policy would list it. */
export function environmentIssuer(oidc: { readonly issuer: string; readonly audiences: readonly string[]; readonly algorithms: readonly string[] }): Omit<IssuerPolicy, 'claims'> {
  return { name: 'default', issuer: oidc.issuer, audiences: oidc.audiences, audienceClaim: 'aud', algorithms: oidc.algorithms, allowIdTokens: false, overage: null };
}

export async function loadPolicyFile(file: string): Promise<Policy> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PolicyError(path, [`the file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  return parsePolicy(text, path);
}

/**
 * Parses and checks a policy. `source` names it in messages; relative credential files resolve
 * against its directory. JSON is YAML, so one parser reads both and reports line numbers.
 */
export function parsePolicy(text: string, source: string): Policy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length) {
    const syntax = extname(source) === '.json' ? 'JSON' : 'YAML';
    throw new PolicyError(source, doc.errors.map((e) => `${syntax} syntax at line ${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`));
  }
  const problems: string[] = [];
  const policy = readPolicy(new Node(doc.toJS() as unknown, '', problems), source);
  if (problems.length) throw new PolicyError(source, problems);
  return deepFreeze(policy);
}

// --- Reading with paths ----------------------------------------------------------------------------

/** A value at a path in the document; reports problems as `path: expected …, received …`. */
class Node {
  constructor(readonly value: unknown, readonly path: string, private readonly problems: string[]) {}

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  at(key: string | number): Node {
    const v = this.value !== null && typeof this.value === 'object' ? (this.value as Record<string, unknown>)[key] : undefined;
    return new Node(v, typeof key === 'number' ? `${this.path}[${key}]` : this.path ? `${this.path}.${key}` : key, this.problems);
  }

  fail(expected: string): undefined {
    this.problems.push(`${this.path || '(top level)'}: expected ${expected}, received ${describe(this.value)}`);
    return undefined;
  }

  /** For places a secret may be pasted by mistake: names the type of what was found, never its value. */
  failQuietly(expected: string): undefined {
    const kind = Array.isArray(this.value) ? 'a list' : this.value === null ? 'null' : typeof this.value === 'object' ? 'an object' : `a ${typeof this.value} (not shown)`;
    this.problems.push(`${this.path}: expected ${expected}, received ${kind}`);
    return undefined;
  }

  object(allowed: readonly string[]): boolean {
    if (this.value === null || typeof this.value !== 'object' || Array.isArray(this.value)) return this.fail('an object') ?? false;
    for (const key of Object.keys(this.value)) {
      if (!allowed.includes(key)) this.at(key).problems.push(`${this.at(key).path}: unknown key; expected one of ${allowed.join(', ')}`);
    }
    return true;
  }

  list(): Node[] | undefined {
    if (!Array.isArray(this.value)) return this.fail('a list');
    return this.value.map((_, i) => this.at(i));
  }

  string(pattern?: RegExp, expected = 'a non-empty string'): string | undefined {
    if (typeof this.value !== 'string' || this.value.trim() === '' || (pattern && !pattern.test(this.value))) return this.fail(expected);
    return this.value;
  }

  strings(): string[] | undefined {
    const items = this.list();
    if (!items) return undefined;
    if (items.length === 0) return this.fail('a non-empty list of strings');
    const out = items.map((n) => n.string());
    return out.every((s): s is string => s !== undefined) ? out : undefined;
  }

  boolean(fallback: boolean): boolean {
    if (!this.present) return fallback;
    return typeof this.value === 'boolean' ? this.value : (this.fail('true or false') ?? fallback);
  }

  integer(min: number, max: number): number | undefined {
    if (!Number.isInteger(this.value) || (this.value as number) < min || (this.value as number) > max) return this.fail(`an integer from ${min} to ${max}`);
    return this.value as number;
  }

  oneOf<T extends string>(options: readonly T[]): T | undefined {
    return options.includes(this.value as T) ? (this.value as T) : this.fail(`one of ${options.join(', ')}`);
  }

  claimPath(): ClaimPath | undefined {
    if (Array.isArray(this.value)) return this.strings();
    return this.string(undefined, 'a claim path (a string, or a list of key segments)');
  }

  claimPaths(fallback: readonly ClaimPath[]): readonly ClaimPath[] {
    if (!this.present) return fallback;
    const items = this.list();
    if (!items) return fallback;
    if (items.length === 0) return this.fail('at least one claim path') ?? fallback;
    const out = items.map((n) => n.claimPath());
    return out.every((p): p is ClaimPath => p !== undefined) ? out : fallback;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const TOP_KEYS = ['version', 'claims', 'issuers', 'rateLimitTiers', 'cache', 'limits', 'explainDenials', 'roles', 'accessRequests'];
const ISSUER_KEYS = ['name', 'issuer', 'audiences', 'audienceClaim', 'algorithms', 'allowIdTokens', 'claims', 'overage'];
const ROLE_KEYS = ['name', 'description', 'match', 'metabase', 'collections', 'canViewSql', 'canRunNativeSql', 'canIntrospect', 'maxRows', 'rateLimitTier', 'rateLimitFallback', 'resultCache', 'vettedOnly', 'operations', 'limits', 'toolResultBytes', 'riskFlags', 'grantable'];
const ROLE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function readPolicy(root: Node, source: string): Policy {
  root.object(TOP_KEYS);
  if (root.at('version').present) root.at('version').integer(1, 1);
  const tiers: Record<string, RateLimitTier> = {};
  const tierNode = root.at('rateLimitTiers');
  if (tierNode.present && tierNode.object(Object.keys((tierNode.value as object) ?? {}))) {
    for (const name of Object.keys(tierNode.value as object)) {
      const t = tierNode.at(name);
      if (!ROLE_NAME.test(name)) t.fail('a tier name of letters, digits, - and _');
      // A tier with a bad field is still a tier: roles naming it get no second, misleading problem.
      const fields = ['requestsPerMinute', 'runsPerMinute', 'concurrentRuns'] as const;
      const tier: Record<(typeof fields)[number], number | null> = { requestsPerMinute: null, runsPerMinute: null, concurrentRuns: null };
      if (t.object([...fields])) {
        if (!fields.some((f) => t.at(f).present)) t.fail(`at least one of ${fields.join(', ')}`);
        for (const f of fields) if (t.at(f).present) tier[f] = t.at(f).integer(1, f === 'concurrentRuns' ? 10_000 : 1_000_000) ?? null;
      }
      tiers[name] = tier;
    }
  }
  const limits = readLimits(root.at('limits'), DEFAULT_LIMITS);
  const cache = readCache(root.at('cache'));
  const warnings: string[] = [];
  const claims = readClaims(root.at('claims'), defaultClaims(), warnings);
  const issuers = readIssuers(root.at('issuers'), claims, dirname(source), warnings);
  const roles: RolePolicy[] = [];
  const roleNodes = root.at('roles').list();
  if (roleNodes && roleNodes.length === 0) root.at('roles').fail('at least one role');
  const seen = new Set<string>();
  // Grant approvers name roles that may come later in the file: every role's name, and whether it can approve.
  const declared = new Map((roleNodes ?? []).filter((n) => typeof n.at('name').value === 'string').map((n) => [n.at('name').value as string, n.at('vettedOnly').value === true || n.at('vettedOnly').value === 'log']));
  for (const node of roleNodes ?? []) {
    const name = node.at('name').value;
    if (typeof name === 'string' && seen.has(name)) node.at('name').fail(`a name not used by an earlier role ("${name}" is)`);
    if (typeof name === 'string') seen.add(name);
    const role = readRole(node, tiers, dirname(source), limits, issuers, declared);
    if (role) roles.push(role);
    // Group names are each issuer's own: "admins" at one IdP is not "admins" at another.
    if (role && issuers.length > 1 && role.issuers === null) {
      warnings.push(`${node.path}.match: role "${role.name}" serves tokens of every issuer (${issuers.map((i) => i.name).join(', ')}), so a ${role.groups ? 'group of the same name' : 'client of that kind'} at any of them fits it; name the issuers it is for: issuers: [${issuers[0]!.name}]`);
    }
  }
  const explainDenials = root.at('explainDenials').boolean(false);
  const accessRequests = readAccessRequests(root.at('accessRequests'), dirname(source));
  return { source, claims, issuers, rateLimitTiers: tiers, cache, limits, explainDenials, roles, accessRequests, warnings };
}

export function defaultClaims(): ClaimsPolicy {
  return {
    subject: 'sub', email: 'email', name: 'name', groups: ['groups'], scopes: ['scope', 'scp'], clientId: ['azp', 'client_id'],
    clientKind: { default: 'human', rules: [] }, caseInsensitiveGroups: false,
  };
}

/** `claims:` of the policy or of an issuer: keys not given keep `defaults` (the built-in ones, or the policy's). */
function readClaims(node: Node, defaults: ClaimsPolicy, warnings: string[]): ClaimsPolicy {
  if (!node.present) return defaults;
  if (!node.object(['subject', 'email', 'name', 'groups', 'scopes', 'clientId', 'clientKind', 'caseInsensitiveGroups'])) return defaults;
  const one = (key: 'subject' | 'email' | 'name'): ClaimPath => (node.at(key).present ? (node.at(key).claimPath() ?? defaults[key]) : defaults[key]);
  const kindNode = node.at('clientKind');
  let clientKind = defaults.clientKind;
  if (kindNode.present && kindNode.object(['default', 'rules'])) {
    const fallback = kindNode.at('default').present ? (kindNode.at('default').oneOf(CLIENT_KINDS) ?? defaults.clientKind.default) : defaults.clientKind.default;
    const rules: ClientKindRule[] = [];
    for (const r of kindNode.at('rules').present ? (kindNode.at('rules').list() ?? []) : []) {
      if (!r.object(['kind', 'clientIds', 'scope', 'claim', 'equals'])) continue;
      const kind = r.at('kind').oneOf(CLIENT_KINDS);
      const given = ['clientIds', 'scope', 'claim'].filter((k) => r.at(k).present);
      if (given.length !== 1) {
        r.fail('exactly one of clientIds (azp/client_id values), scope, or claim with equals');
        continue;
      }
      if (kind === undefined) continue;
      if (given[0] === 'clientIds') {
        const clientIds = r.at('clientIds').strings();
        if (clientIds) rules.push({ kind, clientIds });
      } else if (given[0] === 'scope') {
        const scope = r.at('scope').string(/^\S+$/, 'one scope (no spaces)');
        if (scope) rules.push({ kind, scope });
      } else {
        const claim = r.at('claim').claimPath();
        const eq = r.at('equals');
        const equals = typeof eq.value === 'string' ? [eq.value] : eq.strings();
        if (claim !== undefined && equals) rules.push({ kind, claim, equals });
      }
    }
    clientKind = { default: fallback, rules };
  }
  const read: ClaimsPolicy = {
    subject: one('subject'), email: one('email'), name: one('name'),
    groups: node.at('groups').claimPaths(defaults.groups), scopes: node.at('scopes').claimPaths(defaults.scopes),
    clientId: node.at('clientId').claimPaths(defaults.clientId), clientKind,
    caseInsensitiveGroups: node.at('caseInsensitiveGroups').boolean(defaults.caseInsensitiveGroups),
  };
  warnDottedPaths(node, read, warnings);
  return read;
}

/**
 * A dotted string path is read segment by segment: `resource_access.gateway.example.com.roles` reads
 * five keys, never the key `gateway.example.com`. Where a segment run looks like a host name, that
 * is rarely what was meant: a warning says how to write the key as one segment.
 */
function warnDottedPaths(node: Node, claims: ClaimsPolicy, warnings: string[]): void {
  const paths: [string, ClaimPath][] = [
    ['subject', claims.subject], ['email', claims.email], ['name', claims.name],
    ...claims.groups.map((p, i): [string, ClaimPath] => [`groups[${i}]`, p]),
    ...claims.scopes.map((p, i): [string, ClaimPath] => [`scopes[${i}]`, p]),
    ...claims.clientId.map((p, i): [string, ClaimPath] => [`clientId[${i}]`, p]),
  ];
  for (const [where, path] of paths) {
    if (typeof path !== 'string' || /^https?:\/\//.test(path)) continue;
    const host = /(?:^|\.)((?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|app|cloud|test|example|local|internal|eu|us|de|fr|uk))(?:\.|$)/i.exec(path);
    if (!host) continue;
    const before = path.slice(0, host.index + (host[0].startsWith('.') ? 1 : 0)).split('.').filter(Boolean);
    const after = path.slice(host.index + host[0].length).split('.').filter(Boolean);
    const segments = [...before, host[1]!, ...after].map((x) => JSON.stringify(x)).join(', ');
    warnings.push(`${node.path}.${where}: "${path}" is read as ${path.split('.').length} keys, so a key "${host[1]}" is never read; if that is one key, write the path as segments: [${segments}]`);
  }
}

/** `issuers:` — each identity provider the gateway accepts tokens from. */
function readIssuers(node: Node, claims: ClaimsPolicy, baseDir: string, warnings: string[]): IssuerPolicy[] {
  if (!node.present) return [];
  const items = node.list();
  if (!items) return [];
  if (items.length === 0) return node.fail('at least one issuer, or no `issuers` key (then OIDC_ISSUER is used)') ?? [];
  const issuers: IssuerPolicy[] = [];
  const names = new Set<string>();
  const urls = new Set<string>();
  for (const item of items) {
    if (!item.object(ISSUER_KEYS)) continue;
    const name = item.at('name').string(ROLE_NAME, 'an issuer name: a letter, then letters, digits, - or _ (at most 63)');
    if (name !== undefined && names.has(name)) item.at('name').fail(`a name not used by an earlier issuer ("${name}" is)`);
    const issuer = item.at('issuer').string(SECURE_URL, 'the issuer URL, exactly as tokens carry it in `iss` (https; http only to 127.0.0.1, ::1 or localhost)');
    if (issuer !== undefined && urls.has(issuer)) item.at('issuer').fail('an issuer URL not used by an earlier issuer');
    const audiences = item.at('audiences').strings();
    const audienceClaim = item.at('audienceClaim').present ? (item.at('audienceClaim').string(/^[A-Za-z_][\w:.-]*$/, 'a claim name, e.g. aud or client_id') ?? 'aud') : 'aud';
    const algorithms = item.at('algorithms').present ? item.at('algorithms').strings() : [...DEFAULT_TOKEN_ALGORITHMS];
    if (algorithms?.some((a) => a === 'none' || a.startsWith('HS'))) item.at('algorithms').fail('asymmetric algorithms only (RS256, PS256, ES256, EdDSA, …)');
    const overage = item.at('overage').present ? readOverage(item.at('overage'), baseDir) : null;
    const own = readClaims(item.at('claims'), claims, warnings);
    if (name === undefined || issuer === undefined || audiences === undefined || algorithms === undefined || overage === undefined) continue;
    names.add(name);
    urls.add(issuer);
    issuers.push({ name, issuer, audiences, audienceClaim, algorithms, allowIdTokens: item.at('allowIdTokens').boolean(false), claims: own, overage });
  }
  return issuers;
}

function readOverage(node: Node, baseDir: string): OverageGraph | undefined {
  if (!node.object(['graphUrl', 'tokenUrl', 'clientId', 'clientSecret'])) return undefined;
  const graphUrl = node.at('graphUrl').string(SECURE_URL, 'Microsoft Graph\'s base URL, e.g. https://graph.microsoft.com (https; http only to this machine)');
  const tokenUrl = node.at('tokenUrl').string(SECURE_URL, 'the tenant\'s token endpoint URL (https; http only to this machine)');
  const clientId = node.at('clientId').string();
  const clientSecret = readSecret(node.at('clientSecret'), baseDir);
  if (graphUrl === undefined || tokenUrl === undefined || clientId === undefined || clientSecret === undefined) return undefined;
  return { graphUrl: graphUrl.replace(/\/+$/, ''), tokenUrl, clientId, clientSecret };
}

/** `limits:` — any of the gate's limits, each a positive integer; the rest come from `base`. */
function readLimits(node: Node, base: OperationLimits): OperationLimits {
  if (!node.present || !node.object(LIMIT_NAMES)) return base;
  const out: Record<string, number> = { ...base };
  for (const name of LIMIT_NAMES) {
    if (!node.at(name).present) continue;
    const n = node.at(name).integer(1, LIMIT_CEILING[name]);
    if (n !== undefined) out[name] = n;
  }
  return out as unknown as OperationLimits;
}

/** `cache:`: how long Metabase's metadata is kept, in seconds: `metadata.ttlSeconds` for every kind, a kind's own (`cards: 30`), `staleSeconds` after it. */
function readCache(node: Node): CachePolicy {
  const seconds = (n: Node, fallback: number): number => (n.present ? (n.integer(0, 86_400) ?? fallback) : fallback);
  let ttl = DEFAULT_METADATA_TTL_SECONDS;
  let stale = DEFAULT_METADATA_TTL_SECONDS;
  const m = node.at('metadata');
  const ok = node.present && node.object(['metadata']) && m.present && m.object(['ttlSeconds', 'staleSeconds', ...METADATA_KINDS]);
  if (ok) {
    ttl = seconds(m.at('ttlSeconds'), ttl);
    stale = seconds(m.at('staleSeconds'), stale);
  }
  const metadata = Object.fromEntries(METADATA_KINDS.map((k) => [k, { ttlMs: (ok ? seconds(m.at(k), ttl) : ttl) * 1000, staleMs: stale * 1000 }]));
  return { metadata: metadata as CachePolicy['metadata'] };
}

function readRole(node: Node, tiers: Record<string, RateLimitTier>, baseDir: string, baseLimits: OperationLimits, issuers: readonly IssuerPolicy[], declared: ReadonlyMap<string, boolean>): RolePolicy | undefined {
  if (!node.object(ROLE_KEYS)) return undefined;
  const name = node.at('name').string(ROLE_NAME, 'a role name: a letter, then letters, digits, - or _ (at most 63)');
  const description = node.at('description').present ? (node.at('description').string() ?? null) : null;
  let groups: string[] | null = null;
  let clientKinds: ClientKind[] | null = null;
  let roleIssuers: string[] | null = null;
  const match = node.at('match');
  if (match.object(['groups', 'clientKinds', 'issuers'])) {
    if (match.at('groups').present) groups = match.at('groups').strings() ?? null;
    if (match.at('issuers').present) {
      const known = issuers.map((i) => i.name);
      const listed = match.at('issuers').strings();
      if (listed && known.length === 0) match.at('issuers').fail('issuers named under `issuers` (the policy lists none)');
      else if (listed?.every((n, i) => known.includes(n) || (match.at('issuers').at(i).fail(`one of ${known.join(', ')}`) ?? false))) roleIssuers = listed;
    }
    if (match.at('clientKinds').present) {
      const kinds = match.at('clientKinds').list()?.map((n) => n.oneOf(CLIENT_KINDS));
      if (kinds?.length === 0) match.at('clientKinds').fail(`a non-empty list of ${CLIENT_KINDS.join(', ')}`);
      else if (kinds?.every((k): k is ClientKind => k !== undefined)) clientKinds = kinds;
    }
    if (!match.at('groups').present && !match.at('clientKinds').present) match.fail('groups and/or clientKinds to match on');
  }
  const metabase = readCredential(node.at('metabase'), baseDir);
  const collections = readCollections(node.at('collections'));
  const maxRows = node.at('maxRows').present ? node.at('maxRows').integer(1, METABASE_ROW_LIMIT) : 2_000;
  let rateLimitTier: string | null = null;
  const tier = node.at('rateLimitTier');
  if (tier.present) {
    const names = Object.keys(tiers);
    rateLimitTier = names.length ? (tier.oneOf(names) ?? null) : (tier.fail('a tier defined under rateLimitTiers (none is)') ?? null);
  }
  // People explore; programs run what they were built to run.
  const servesPeople = clientKinds === null || clientKinds.includes('human');
  const servesOnlyAgents = clientKinds !== null && clientKinds.every((k) => k === 'agent');
  const vettedNode = node.at('vettedOnly');
  const vettedOnlyMode = vettedNode.value === 'log' ? 'log' as const : 'enforce' as const;
  const vettedOnly = vettedNode.value === 'log' ? true : vettedNode.present && typeof vettedNode.value !== 'boolean'
    ? (vettedNode.fail('true, false or log') ?? false) : vettedNode.boolean(false);
  let operations: string[] | null = null;
  const opsNode = node.at('operations');
  if (opsNode.present) {
    operations = opsNode.strings() ?? null;
    if (!vettedOnly) opsNode.fail('no operations list on a role that is not vettedOnly (it may send any operation)');
    else if (operations && !operations.every((n) => /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(n))) opsNode.fail('names of vetted operations');
  }
  let resultCache = { ttlMs: 0, nativeSql: false };
  const rc = node.at('resultCache');
  if (rc.present && rc.object(['ttlSeconds', 'nativeSql'])) {
    resultCache = { ttlMs: (rc.at('ttlSeconds').integer(0, 86_400) ?? 0) * 1000, nativeSql: rc.at('nativeSql').boolean(false) };
  }
  let riskFlags = DEFAULT_RISK_FLAGS;
  const rf = node.at('riskFlags');
  if (rf.present && rf.object(['refuse', 'distinctQuestionsPerMinute', 'rowCapCutsPerMinute'])) {
    const refuse = rf.at('refuse').present ? rf.at('refuse').list()?.map((n) => n.oneOf(RISK_FLAGS)).filter((f): f is RiskFlag => f !== undefined) ?? [] : [];
    riskFlags = {
      refuse,
      distinctQuestionsPerMinute: rf.at('distinctQuestionsPerMinute').present ? rf.at('distinctQuestionsPerMinute').integer(1, 10_000) ?? DEFAULT_RISK_FLAGS.distinctQuestionsPerMinute : DEFAULT_RISK_FLAGS.distinctQuestionsPerMinute,
      rowCapCutsPerMinute: rf.at('rowCapCutsPerMinute').present ? rf.at('rowCapCutsPerMinute').integer(1, 10_000) ?? DEFAULT_RISK_FLAGS.rowCapCutsPerMinute : DEFAULT_RISK_FLAGS.rowCapCutsPerMinute,
    };
  }
  const role = {
    name, description, groups, clientKinds, issuers: roleIssuers, metabase, collections, maxRows, rateLimitTier, resultCache, riskFlags,
    toolResultBytes: node.at('toolResultBytes').present ? node.at('toolResultBytes').integer(1_024, 1_048_576) : DEFAULT_TOOL_RESULT_BYTES,
    rateLimitFallback: node.at('rateLimitFallback').present ? (node.at('rateLimitFallback').oneOf(['local', 'refuse'] as const) ?? 'refuse') : servesOnlyAgents || vettedOnly ? 'refuse' : 'local',
    canViewSql: node.at('canViewSql').boolean(false),
    canRunNativeSql: node.at('canRunNativeSql').boolean(false),
    canIntrospect: node.at('canIntrospect').boolean(servesPeople),
    vettedOnly, vettedOnlyMode, operations,
    limits: readLimits(node.at('limits'), baseLimits),
    grantable: node.at('grantable').present ? readGrantable(node.at('grantable'), declared) : [],
  };
  if (role.name === undefined || role.metabase === undefined || role.collections === undefined || role.maxRows === undefined) return undefined;
  return role as RolePolicy;
}

function readSecret(node: Node, baseDir: string): SecretSource | undefined {
  const expected = '{env: VARIABLE} or {file: path}; the secret itself never goes in the policy file';
  if (node.value === null || typeof node.value !== 'object' || Array.isArray(node.value)) return node.failQuietly(expected);
  if (!node.object(['env', 'file'])) return undefined;
  if (node.at('env').present === node.at('file').present) return node.failQuietly(`exactly one of ${expected}`);
  // A secret pasted where its variable or file should be named must not be echoed in a start-up
  // error or a reload log: these slots are reported without their value.
  const slot = node.at('env').present ? node.at('env') : node.at('file');
  const value = slot.value;
  if (typeof value !== 'string' || value.trim() === '') return slot.failQuietly(node.at('env').present ? 'an environment variable name' : 'a file path');
  if (looksLikeSecret(value)) {
    return slot.failQuietly('the name of a variable or file holding the secret, but this looks like the secret itself; move it to that variable or file');
  }
  if (node.at('env').present) return ENV_NAME.test(value) ? { env: value } : slot.failQuietly('an environment variable name (letters, digits and _)');
  return { file: isAbsolute(value) ? value : resolve(baseDir, value) };
}

/**
 * Metabase API keys, JWTs, long hex strings, and long random-looking runs of mixed-case letters and
 * digits (base64). Variable names (`METABASE_KEY_ANALYSTS_2`) and paths (`keys/analyst`) are not.
 */
export function looksLikeSecret(value: string): boolean {
  if (/^mb_/.test(value) || /^eyJ[\w-]*\./.test(value) || /^[0-9a-f]{32,}$/i.test(value)) return true;
  return value.length >= 20 && /^[A-Za-z0-9+/=_-]+$/.test(value) && !value.includes('/') && /[0-9]/.test(value) && /[a-z]/.test(value) && /[A-Z]/.test(value);
}

function readCredential(node: Node, baseDir: string): CredentialSpec | undefined {
  if (node.value === null || typeof node.value !== 'object' || Array.isArray(node.value)) return node.failQuietly('apiKey: {env|file} or login: {username, password}');
  if (!node.object(['apiKey', 'login'])) return undefined;
  if (node.at('apiKey').present === node.at('login').present) {
    return node.failQuietly('exactly one of apiKey: {env|file} (a Metabase group\'s API key) or login: {username, password}');
  }
  if (node.at('apiKey').present) {
    const apiKey = readSecret(node.at('apiKey'), baseDir);
    return apiKey && { kind: 'api-key', apiKey };
  }
  const login = node.at('login');
  if (!login.object(['username', 'password'])) return undefined;
  const username = login.at('username').string();
  const password = readSecret(login.at('password'), baseDir);
  return username !== undefined && password ? { kind: 'login', username, password } : undefined;
}

function readCollections(node: Node): CollectionAccess | undefined {
  const expected = '"all", or a list of collection ids, {subtree: id} and "root"';
  if (node.value === 'all') return { all: true };
  if (!Array.isArray(node.value)) return node.fail(expected);
  const ids: number[] = [];
  const subtrees: number[] = [];
  let root = false;
  node.list()?.forEach((item) => {
    if (item.value === 'root') root = true;
    else if (Number.isInteger(item.value) && (item.value as number) > 0) ids.push(item.value as number);
    else if (item.value !== null && typeof item.value === 'object' && !Array.isArray(item.value)) {
      if (!item.object(['subtree'])) return;
      const id = item.at('subtree').integer(1, Number.MAX_SAFE_INTEGER);
      if (id !== undefined) subtrees.push(id);
    } else item.fail('a collection id, {subtree: id} or "root"');
  });
  return { all: false, ids, subtrees, root };
}

const GRANT_KEYS = ['dashboards', 'questions', 'collections', 'to', 'approvers', 'maxMinutes'];

/**
 * `grantable:` of a role: a list of entries, each with at least one target, `to`, `approvers` and
 * `maxMinutes`. `declared`: every role's name, and whether it is vetted-only (and so could never send
 * the approving mutations).
 */
function readGrantable(node: Node, declared: ReadonlyMap<string, boolean>): GrantRule[] {
  const rules: GrantRule[] = [];
  for (const item of node.list() ?? []) {
    if (!item.object(GRANT_KEYS)) continue;
    const ids = (key: 'dashboards' | 'questions'): number[] => (item.at(key).present ? item.at(key).list()?.map((n) => n.integer(1, Number.MAX_SAFE_INTEGER)).filter((n): n is number => n !== undefined) ?? [] : []);
    const dashboards = ids('dashboards');
    const questions = ids('questions');
    const collections: number[] = [];
    const subtrees: number[] = [];
    if (item.at('collections').present) {
      for (const c of item.at('collections').list() ?? []) {
        if (Number.isInteger(c.value) && (c.value as number) > 0) collections.push(c.value as number);
        else if (c.value !== null && typeof c.value === 'object' && !Array.isArray(c.value) && c.object(['subtree'])) {
          const id = c.at('subtree').integer(1, Number.MAX_SAFE_INTEGER);
          if (id !== undefined) subtrees.push(id);
        } else if (!(c.value !== null && typeof c.value === 'object' && !Array.isArray(c.value))) c.fail('a collection id or {subtree: id} (the root collection cannot be granted)');
      }
    }
    if (dashboards.length + questions.length + collections.length + subtrees.length === 0 && !item.at('dashboards').present && !item.at('questions').present && !item.at('collections').present) {
      item.fail('at least one of dashboards, questions or collections to grant');
    }
    const to = item.at('to').strings();
    const approvers = item.at('approvers').strings();
    approvers?.forEach((name, j) => {
      const slot = item.at('approvers').at(j);
      if (!declared.has(name)) slot.fail(`a role of this policy (${[...declared.keys()].join(', ')})`);
      else if (declared.get(name)) slot.fail(`a role that may send the approving mutations; role ${name} is vettedOnly, so it never could`);
    });
    const maxMinutes = item.at('maxMinutes').integer(1, MAX_GRANT_MINUTES);
    if (to === undefined || approvers === undefined || maxMinutes === undefined) continue;
    rules.push({ dashboards, questions, collections, subtrees, to, approvers, maxMinutes });
  }
  return rules;
}

/** `accessRequests:` — `pendingMinutes` (default a day) and an optional `webhook: {url, secret}`. */
function readAccessRequests(node: Node, baseDir: string): AccessRequestPolicy {
  if (!node.present || !node.object(['pendingMinutes', 'webhook'])) return { pendingMinutes: DEFAULT_PENDING_MINUTES, webhook: null };
  const pendingMinutes = node.at('pendingMinutes').present ? (node.at('pendingMinutes').integer(1, MAX_GRANT_MINUTES) ?? DEFAULT_PENDING_MINUTES) : DEFAULT_PENDING_MINUTES;
  let webhook: AccessRequestPolicy['webhook'] = null;
  const w = node.at('webhook');
  if (w.present && w.object(['url', 'secret'])) {
    const url = w.at('url').string(SECURE_URL, 'the webhook\'s URL (https; http only to 127.0.0.1, ::1 or localhost)');
    const secret = readSecret(w.at('secret'), baseDir);
    if (url !== undefined && secret !== undefined) webhook = { url, secret };
  }
  return { pendingMinutes, webhook };
}
