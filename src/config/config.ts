/**
 * The gateway's configuration: read from the environment once, checked as a whole (every problem in
 * one error), and frozen. This is the only module that reads `process.env`-shaped input.
 */

/**
 * An https URL, or http to this machine only (a local identity provider in development and tests):
 * keys, tokens and Graph's client secret never travel in clear over a network.
 */
export const SECURE_URL = /^(?:https:\/\/[^\s/?#]+|http:\/\/(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?)(?:[/?#]\S*)?$/;

/**
 * Calls per credential at once: six five-card dashboards' runs together, well under Metabase's web
 * threads (MB_JETTY_MAXTHREADS, 254 by default) with room for other roles. README: "Sizing Metabase calls".
 */
export const DEFAULT_MAX_CONCURRENT = 32;

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
    /**
     * METABASE_MAX_CONCURRENT: Metabase calls in flight at once per role credential, served in turn
     * per viewer when more wait. Default 32 (README: "Sizing Metabase calls").
     */
    readonly maxConcurrent: number;
    /**
     * METABASE_ACCEPT_GZIP: ask Metabase for gzipped answers. Default off: on the same network gzip
     * costs Metabase and the gateway more CPU than it saves in transfer; turn it on across a WAN.
     */
    readonly acceptGzip: boolean;
    /** Largest answer read from Metabase, on the wire and after gunzip, in bytes. Default 64 MiB. */
    readonly maxResponseBytes: number;
  };
  /**
   * The one identity provider the environment names (OIDC_ISSUER, OIDC_AUDIENCE, OIDC_ALGORITHMS);
   * null when it names none: then the policy file lists its issuers.
   */
  readonly oidc: {
    readonly issuer: string;
    /** OIDC_AUDIENCE: one audience, or several, comma-separated. */
    readonly audiences: readonly string[];
    readonly algorithms: readonly string[];
  } | null;
  readonly tokens: {
    /**
     * TOKEN_MAX_BYTES: the longest bearer token accepted; longer ones are refused with reason
     * `too-large`. The HTTP header limit is this plus 16 KiB. Default 32,768.
     */
    readonly maxBytes: number;
    /** OIDC_KEY_REFRESH_COOLDOWN_MS: least time between key set refreshes caused by unknown key ids, per issuer, in ms. Default 30,000. */
    readonly keyRefreshCooldownMs: number;
    /**
     * TOKEN_CACHE_MAX_AGE_MS: how long a verified token is remembered (never past its `exp`), so the
     * same caller's next requests skip the signature check; 0 verifies every request. Default 300,000.
     */
    readonly cacheMaxAgeMs: number;
  };
  /** The policy file (claims, roles, credentials); null in demo mode without POLICY_FILE (the demo's own is used). */
  readonly policyFile: string | null;
  /** How often the policy file and key files are checked for changes, in ms. Default 1,000. */
  readonly policyWatchIntervalMs: number;
  readonly limits: {
    /** Largest request body accepted, in bytes. Default 1 MiB. */
    readonly bodyLimitBytes: number;
    /**
     * Card runs of one dashboard in flight at once, per request. Default 64: a dashboard's runs start
     * together (as in Metabase's own UI); the per-credential cap is what protects Metabase.
     */
    readonly dashboardRunConcurrency: number;
    /** `questions(ids:)` above this many ids loads the card list once instead of one call per id. Default 20. */
    readonly questionsListThreshold: number;
    /** Largest `first` of a connection. Default 100. */
    readonly maxPageSize: number;
    /** Longest `search` text, in characters. Default 500. */
    readonly searchTextChars: number;
  };
  /**
   * How long one request may take, in ms: every Metabase call it makes inherits this deadline, and
   * whatever is still running when it passes is cancelled. Default 60,000.
   */
  readonly requestTimeoutMs: number;
  /** The event loop blocked longer than this is logged (`event: event-loop.stall`), in ms. Default 500. */
  readonly stallWarningMs: number;
  /**
   * The shared store: REDIS_URL (one server, `redis://` or `rediss://`) or REDIS_CLUSTER_NODES
   * (`host:port,host:port` of a Cluster); null when neither is set (each instance keeps its own state).
   */
  readonly redis: {
    readonly url: string | null;
    readonly cluster: readonly { host: string; port: number }[] | null;
    /** REDIS_SENTINELS (`host:port,...`) and REDIS_SENTINEL_NAME (default `mymaster`): the server a Sentinel group watches, followed through failovers. */
    readonly sentinels: { readonly nodes: readonly { host: string; port: number }[]; readonly name: string } | null;
    /** REDIS_PASSWORD: for a Cluster's nodes, or the Sentinel-watched server (a URL carries its own). */
    readonly password: string | null;
    /** REDIS_KEY_PREFIX: before every key (and its version). Default `mgw:`. */
    readonly prefix: string;
    /** REDIS_TIMEOUT_MS: longest a request waits on one Redis command, in ms. Default 50. */
    readonly timeoutMs: number;
  } | null;
  /** Caches, shared runs and kept runs, in the shared store (Redis, or this process's memory). */
  readonly cache: {
    /** CACHE: `on` (default) keeps Metabase's metadata (policy `cache`) and the results of roles that say so (`resultCache`), and shares identical runs in flight; `off` does none of it. */
    readonly enabled: boolean;
    /** CACHE_MAX_VALUE_BYTES: largest entry written to the store, in bytes. Default 8 MiB. */
    readonly maxValueBytes: number;
    /** RUN_SHARE_WAIT_MS: the longest a run waits for an identical run of another instance before running itself. Default METABASE_TIMEOUT_MS. */
    readonly shareWaitMs: number;
    /** MEMORY_STORE_MAX_BYTES: the in-process store's bound (without Redis), in bytes. Default 64 MiB. */
    readonly memoryMaxBytes: number;
    /** CACHE_LOCAL_MAX_BYTES: fresh entries each instance keeps decoded beside the store, in bytes (0: none). Default 32 MiB. */
    readonly localMaxBytes: number;
  };
  /** Runs kept for `queryRun(id)`. */
  readonly runStore: {
    /** RUN_STORE_TTL_MS: how long a run is kept, in ms; 0 keeps none. Default 3,600,000 (one hour). */
    readonly ttlMs: number;
    /** RUN_STORE_MAX_BYTES: largest run kept, in bytes. Default 8 MiB. */
    readonly maxBytes: number;
  };
  readonly audit: {
    /** Off only when AUDIT=off (for benchmarks and local experiments). */
    readonly enabled: boolean;
    /** AUDIT_LOG_FILE: records go to this file (asynchronously, flushed on shutdown); null for stdout. */
    readonly file: string | null;
    /** AUDIT_FORMAT: `operation` (one record per request, the default) or `field` (also one line per resolved field). */
    readonly format: 'operation' | 'field';
    /** AUDIT_REDACT_VARIABLES: more variable names whose values are redacted (comma-separated). */
    readonly redactVariables: readonly string[];
  };
  /** LOG_PRETTY=1 prints logs for humans; by default only when standard output is a terminal. */
  readonly logPretty: boolean | null;
  /** How long in-flight requests may finish after SIGTERM before connections are cut, in ms. Default 10,000. */
  readonly drainGraceMs: number;
  /**
   * PUBLIC_URL: the gateway's address as callers reach it (`https://gateway.example.com`), which names
   * the MCP resource (`<PUBLIC_URL>/mcp`) in its protected-resource metadata and WWW-Authenticate
   * header. Unset: taken from each request's Host header and scheme (behind a proxy, set it).
   */
  readonly publicUrl: string | null;
  /** The explorer at /graphiql (src/explorer/). */
  readonly explorer: {
    /** EXPLORER=off turns it off. Default on. */
    readonly enabled: boolean;
    /** EXPLORER_CLIENT_ID: a public client at the issuer (authorization code with PKCE, redirect URI <gateway>/graphiql); unset, the page offers no sign-in button. */
    readonly clientId: string | null;
    /** EXPLORER_ISSUER: which issuer the page signs in with; needed when the policy lists several. */
    readonly issuer: string | null;
    /** EXPLORER_SCOPE: the scopes asked for. Default `openid`. */
    readonly scope: string;
    /** EXPLORER_RESOURCE: the resource indicator sent (RFC 8707). Default: the issuer's first audience. */
    readonly resource: string | null;
  };
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
  const oneOf = <T extends string>(name: string, options: readonly T[], fallback: T): T => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (options.includes(raw as T)) return raw as T;
    problems.push(`${name} must be one of ${options.join(', ')}, received "${raw}"`);
    return fallback;
  };
  const list = (raw: string | undefined): string[] => (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);

  const metabaseUrl = url('METABASE_URL');
  const metabaseTimeoutMs = int('METABASE_TIMEOUT_MS', 30_000);
  const issuer = env['OIDC_ISSUER'] ? (url('OIDC_ISSUER') ?? '') : null;
  if (issuer && !SECURE_URL.test(env['OIDC_ISSUER']!)) problems.push(`OIDC_ISSUER must be an https URL (http only to 127.0.0.1, ::1 or localhost), received "${env['OIDC_ISSUER']}"`);
  const mode = env['METABASE_URL'] === undefined && env['OIDC_ISSUER'] === undefined ? 'demo' : 'production';
  let oidc: Config['oidc'] = null;
  if (mode === 'production') {
    if (!env['METABASE_URL']) problems.push('METABASE_URL is required when OIDC_ISSUER is set');
    if (!env['POLICY_FILE']) problems.push('POLICY_FILE is required: the policy file naming the roles, their groups and Metabase credentials (see the README)');
    // One issuer from the environment, or the issuers the policy lists (checked when it is read).
    if (env['OIDC_ISSUER'] && !env['OIDC_AUDIENCE']) problems.push('OIDC_AUDIENCE is required with OIDC_ISSUER: the audience (or comma-separated audiences) this gateway\'s tokens are issued for');
    if (!env['OIDC_ISSUER'] && env['OIDC_AUDIENCE']) problems.push('OIDC_ISSUER is required with OIDC_AUDIENCE');
    const algorithms = list(env['OIDC_ALGORITHMS']);
    if (env['OIDC_ISSUER']) {
      oidc = { issuer: env['OIDC_ISSUER'] ?? issuer ?? '', audiences: list(env['OIDC_AUDIENCE']), algorithms: algorithms.length ? algorithms : ['RS256', 'PS256', 'ES256', 'EdDSA'] };
    }
    if (algorithms.some((a) => a === 'none' || a.startsWith('HS'))) problems.push(`OIDC_ALGORITHMS must name asymmetric algorithms only (e.g. RS256,ES256), received "${env['OIDC_ALGORITHMS']}"`);
  }
  function redisSettings(): Config['redis'] {
    const url = env['REDIS_URL'] || null;
    const nodes = list(env['REDIS_CLUSTER_NODES']);
    const sentinelNodes = list(env['REDIS_SENTINELS']);
    const given = [url ? 'REDIS_URL' : null, nodes.length ? 'REDIS_CLUSTER_NODES' : null, sentinelNodes.length ? 'REDIS_SENTINELS' : null].filter(Boolean);
    if (given.length === 0) {
      for (const name of ['REDIS_PASSWORD', 'REDIS_SENTINEL_NAME']) if (env[name]) problems.push(`${name} is set but no Redis is: set REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS`);
      return null;
    }
    if (given.length > 1) problems.push(`set one of REDIS_URL (one server), REDIS_CLUSTER_NODES (a Cluster) or REDIS_SENTINELS (a server watched by Sentinel), not ${given.join(' and ')}`);
    if (url && !/^rediss?:\/\/[^\s]+$/.test(url)) problems.push('REDIS_URL must be a redis:// or rediss:// URL');
    if (url && env['REDIS_PASSWORD']) problems.push('REDIS_PASSWORD is for REDIS_CLUSTER_NODES and REDIS_SENTINELS; with REDIS_URL, put the password in the URL');
    const hostPorts = (name: string, items: string[]): { host: string; port: number }[] => items.map((n) => {
      const m = /^([^\s:]+):(\d{1,5})$/.exec(n);
      if (!m || Number(m[2]) > 65535) problems.push(`${name} must list host:port pairs, received "${n}"`);
      return { host: m?.[1] ?? '', port: Number(m?.[2] ?? 0) };
    });
    const sentinelName = env['REDIS_SENTINEL_NAME'] || 'mymaster';
    if (!sentinelNodes.length && env['REDIS_SENTINEL_NAME']) problems.push('REDIS_SENTINEL_NAME needs REDIS_SENTINELS');
    return {
      url, cluster: nodes.length ? hostPorts('REDIS_CLUSTER_NODES', nodes) : null,
      sentinels: sentinelNodes.length ? { nodes: hostPorts('REDIS_SENTINELS', sentinelNodes), name: sentinelName } : null,
      password: env['REDIS_PASSWORD'] || null,
      prefix: env['REDIS_KEY_PREFIX'] || 'mgw:', timeoutMs: int('REDIS_TIMEOUT_MS', 50, 1, 10_000) };
  }
  const config: Config = {
    mode,
    port: int('PORT', 4000, 0, 65535),
    host: env['HOST'] || '127.0.0.1',
    metabase: {
      url: metabaseUrl, timeoutMs: metabaseTimeoutMs, maxConcurrent: int('METABASE_MAX_CONCURRENT', DEFAULT_MAX_CONCURRENT, 1, 1000),
      acceptGzip: oneOf('METABASE_ACCEPT_GZIP', ['on', 'off'], 'off') === 'on',
      maxResponseBytes: int('METABASE_MAX_RESPONSE_BYTES', 64 * 1024 * 1024, 1024, 2 ** 31 - 1),
    },
    oidc,
    tokens: {
      maxBytes: int('TOKEN_MAX_BYTES', 32_768, 1_024, 1_048_576),
      keyRefreshCooldownMs: int('OIDC_KEY_REFRESH_COOLDOWN_MS', 30_000, 0),
      cacheMaxAgeMs: int('TOKEN_CACHE_MAX_AGE_MS', 300_000, 0, 86_400_000),
    },
    policyFile: env['POLICY_FILE'] || null,
    policyWatchIntervalMs: int('POLICY_WATCH_INTERVAL_MS', 1_000, 10),
    limits: {
      bodyLimitBytes: int('BODY_LIMIT_BYTES', 1_048_576, 1024),
      dashboardRunConcurrency: int('DASHBOARD_RUN_CONCURRENCY', 64, 1, 1000),
      questionsListThreshold: int('QUESTIONS_LIST_THRESHOLD', 20, 1, 10_000),
      maxPageSize: int('MAX_PAGE_SIZE', 100, 1, 10_000),
      searchTextChars: int('SEARCH_TEXT_MAX_CHARS', 500, 1, 100_000),
    },
    requestTimeoutMs: int('REQUEST_TIMEOUT_MS', 60_000, 100, 3_600_000),
    stallWarningMs: int('EVENT_LOOP_STALL_MS', 500, 10, 600_000),
    redis: redisSettings(),
    cache: {
      enabled: oneOf('CACHE', ['on', 'off'], 'on') === 'on',
      maxValueBytes: int('CACHE_MAX_VALUE_BYTES', 8 * 1024 * 1024, 1024, 512 * 1024 * 1024),
      shareWaitMs: int('RUN_SHARE_WAIT_MS', metabaseTimeoutMs, 0, 3_600_000),
      memoryMaxBytes: int('MEMORY_STORE_MAX_BYTES', 64 * 1024 * 1024, 1024 * 1024, 2 ** 40),
      localMaxBytes: int('CACHE_LOCAL_MAX_BYTES', 32 * 1024 * 1024, 0, 2 ** 40),
    },
    runStore: {
      ttlMs: int('RUN_STORE_TTL_MS', 3_600_000, 0, 7 * 86_400_000),
      maxBytes: int('RUN_STORE_MAX_BYTES', 8 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    },
    drainGraceMs: int('DRAIN_GRACE_MS', 10_000, 0),
    publicUrl: url('PUBLIC_URL'),
    explorer: {
      enabled: oneOf('EXPLORER', ['on', 'off'], 'on') === 'on',
      clientId: env['EXPLORER_CLIENT_ID'] || null,
      issuer: url('EXPLORER_ISSUER'),
      scope: env['EXPLORER_SCOPE'] || 'openid',
      resource: env['EXPLORER_RESOURCE'] || null,
    },
    audit: {
      enabled: oneOf('AUDIT', ['on', 'off'], 'on') === 'on',
      file: env['AUDIT_LOG_FILE'] || null,
      format: oneOf('AUDIT_FORMAT', ['operation', 'field'], 'operation'),
      redactVariables: list(env['AUDIT_REDACT_VARIABLES']),
    },
    logPretty: env['LOG_PRETTY'] === undefined || env['LOG_PRETTY'] === '' ? null : oneOf('LOG_PRETTY', ['0', '1'], '0') === '1',
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
