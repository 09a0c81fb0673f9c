/**
 * The gateway's configuration: read from the environment once, checked as a whole (every problem in
 * one error), and frozen. This is the only module that reads `process.env`-shaped input.
 */
import { apiKeyCredential, loginCredential, type MetabaseCredential } from '../metabase/credentials.js';

export interface RoleConfig {
  readonly name: string;
  /** IdP groups that select this role; the first role with a matching group wins. */
  readonly groups: readonly string[];
  /** The Metabase credential every call of this role uses. */
  readonly credential: MetabaseCredential;
}

export interface Config {
  /** `demo` when neither METABASE_URL nor OIDC_ISSUER is set: `npm start` then runs everything locally. */
  readonly mode: 'demo' | 'production';
  /** Port of the gateway. Default 4000. */
  readonly port: number;
  /** Interface to listen on. Default 127.0.0.1. */
  readonly host: string;
  readonly metabase: {
    /** Metabase's base URL; null in demo mode (the emulator's URL is used). */
    readonly url: string | null;
    /** Timeout of each Metabase call, in ms. Default 30,000. */
    readonly timeoutMs: number;
    /** Metabase calls in flight at once per role credential. Default 8. */
    readonly maxConcurrent: number;
  };
  readonly oidc: {
    readonly issuer: string;
    readonly audience: string;
    readonly algorithms: readonly string[];
    /** Claim path holding the caller's groups. Default `groups`. */
    readonly groupsClaim: string;
  } | null;
  /** Roles in order. Empty in demo mode, where the demo supplies them. */
  readonly roles: readonly RoleConfig[];
  readonly limits: {
    /** Largest request body accepted, in bytes. Default 1 MiB. */
    readonly bodyLimitBytes: number;
    /** Card runs of one dashboard in flight at once, per request. Default 4. */
    readonly dashboardRunConcurrency: number;
    /** `questions(ids:)` above this many ids loads the card list once instead of one call per id. Default 20. */
    readonly questionsListThreshold: number;
    /** Largest `first` of a connection. Default 100. */
    readonly maxPageSize: number;
  };
  /** How long in-flight requests may finish after SIGTERM before connections are cut, in ms. Default 10,000. */
  readonly drainGraceMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env): Readonly<Config> {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, received "${raw}"`);
      return fallback;
    }
    return n;
  };
  const url = (name: string): string | null => {
    const raw = env[name];
    if (!raw) return null;
    try {
      const u = new URL(raw);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError('not http');
      return raw.replace(/\/+$/, '');
    } catch {
      problems.push(`${name} must be an http(s) URL, received "${raw}"`);
      return null;
    }
  };
  const list = (raw: string | undefined): string[] => (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);

  const metabaseUrl = url('METABASE_URL');
  const issuer = env['OIDC_ISSUER'] ? (url('OIDC_ISSUER') ?? '') : null;
  const mode = env['METABASE_URL'] === undefined && env['OIDC_ISSUER'] === undefined ? 'demo' : 'production';
  let oidc: Config['oidc'] = null;
  const roles: RoleConfig[] = [];
  if (mode === 'production') {
    if (!env['METABASE_URL']) problems.push('METABASE_URL is required when OIDC_ISSUER is set');
    if (!env['OIDC_ISSUER']) problems.push('OIDC_ISSUER is required when METABASE_URL is set (the demo runs only with neither)');
    if (!env['OIDC_AUDIENCE']) problems.push('OIDC_AUDIENCE is required: the audience this gateway\'s tokens are issued for');
    const algorithms = list(env['OIDC_ALGORITHMS']);
    oidc = {
      issuer: env['OIDC_ISSUER'] ?? issuer ?? '', audience: env['OIDC_AUDIENCE'] ?? '',
      algorithms: algorithms.length ? algorithms : ['RS256', 'PS256', 'ES256', 'EdDSA'], groupsClaim: env['OIDC_GROUPS_CLAIM'] || 'groups',
    };
    const names = list(env['GATEWAY_ROLES']);
    if (names.length === 0) problems.push('GATEWAY_ROLES must name at least one role, e.g. "analyst,sales"');
    for (const name of names) {
      const key = `ROLE_${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
      const groups = list(env[`${key}_GROUPS`]);
      if (groups.length === 0) problems.push(`${key}_GROUPS must list the IdP groups of role ${name}`);
      const apiKey = env[`${key}_METABASE_API_KEY`];
      const username = env[`${key}_METABASE_USERNAME`];
      const password = env[`${key}_METABASE_PASSWORD`];
      try {
        const credential = apiKey ? apiKeyCredential(apiKey) : username && password ? loginCredential(username, password) : undefined;
        if (!credential) problems.push(`role ${name} needs ${key}_METABASE_API_KEY, or ${key}_METABASE_USERNAME and ${key}_METABASE_PASSWORD`);
        else roles.push({ name, groups, credential });
      } catch (err) {
        problems.push(`${key}: ${(err as Error).message}`);
      }
    }
  }
  const config: Config = {
    mode,
    port: int('PORT', 4000, 0, 65535),
    host: env['HOST'] || '127.0.0.1',
    metabase: { url: metabaseUrl, timeoutMs: int('METABASE_TIMEOUT_MS', 30_000), maxConcurrent: int('METABASE_MAX_CONCURRENT', 8, 1, 1000) },
    oidc,
    roles,
    limits: {
      bodyLimitBytes: int('BODY_LIMIT_BYTES', 1_048_576, 1024),
      dashboardRunConcurrency: int('DASHBOARD_RUN_CONCURRENCY', 4, 1, 100),
      questionsListThreshold: int('QUESTIONS_LIST_THRESHOLD', 20, 1, 10_000),
      maxPageSize: int('MAX_PAGE_SIZE', 100, 1, 10_000),
    },
    drainGraceMs: int('DRAIN_GRACE_MS', 10_000, 0),
  };
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(config);
}

export function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
