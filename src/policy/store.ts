/**
 * The policy in force, with a Metabase client per credential source. `reload()` (SIGHUP, or a change
 * of the policy file or a key file) reads everything again and swaps it in whole; requests already
 * running keep the snapshot they started with. A bad new policy or an unreadable credential is
 * refused: the old policy stays, and the reason is logged. Clients no longer named are closed after
 * the drain grace period, so requests still using them finish.
 */
import { watchFile, unwatchFile, type Stats } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { MetabaseClient } from '../metabase/client.js';
import { readSecret, SourcedCredential } from '../metabase/credential-source.js';
import { effectiveIssuers, loadPolicyFile, type IssuerPolicy, type Policy, type RolePolicy, type SecretSource } from './policy.js';

/** A role ready to serve: its policy and the client holding its Metabase credential. */
export interface ActiveRole extends RolePolicy {
  readonly client: MetabaseClient;
  /**
   * The credential's scope: roles naming the same credential source share it. Loaders and caches
   * are keyed by it, so nothing fetched with one credential is served to a role using another.
   */
  readonly scope: string;
}

export interface ActivePolicy {
  readonly policy: Policy;
  readonly roles: readonly ActiveRole[];
  /** The issuers whose tokens are accepted: the policy's, or the one the environment names when it lists none. */
  readonly issuers: readonly IssuerPolicy[];
  /** Increases by one on every successful reload. */
  readonly version: number;
}

/** The store's Metabase settings as the configuration gives them, for Metabase at `baseUrl` over `dispatcher`. */
export function metabaseSettings(config: Pick<Config, 'metabase'>, baseUrl: string, dispatcher: Dispatcher): PolicyStoreOptions['metabase'] {
  const m = config.metabase;
  return { baseUrl, dispatcher, timeoutMs: m.timeoutMs, maxConcurrent: m.maxConcurrent, maxResponseBytes: m.maxResponseBytes, acceptGzip: m.acceptGzip };
}

export interface PolicyStoreOptions {
  /** The policy file, or an already parsed policy (which then cannot be reloaded from disk). */
  readonly file?: string;
  readonly policy?: Policy;
  /** Where `{env: NAME}` secrets are read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * The issuer used when the policy lists none (OIDC_ISSUER and OIDC_AUDIENCE, or the demo's);
   * its claim mapping is replaced by the policy's `claims`.
   */
  readonly defaultIssuer?: Omit<IssuerPolicy, 'claims'>;
  /** The default issuer comes from the environment (OIDC_ISSUER): a policy that lists issuers too is refused. Default false (a fallback, as in the demo). */
  readonly defaultIssuerExclusive?: boolean;
  readonly metabase: {
    readonly baseUrl: string;
    readonly timeoutMs: number;
    readonly maxConcurrent: number;
    readonly dispatcher: Dispatcher;
    /** Largest answer read from Metabase, in bytes. Default: the client's. */
    readonly maxResponseBytes?: number;
    /** Ask Metabase for gzipped answers. Default: the client's (off). */
    readonly acceptGzip?: boolean;
    readonly sessionMaxAgeMs?: number;
  };
  readonly logger: Logger;
  /** How long a client no longer used may finish its calls before it is closed. */
  readonly drainGraceMs: number;
  /** How often watched files are checked for changes, in ms. Default 1,000. */
  readonly watchIntervalMs?: number;
  /** The vetted operations' names: a role's `operations` naming another is refused. Default: not checked. */
  readonly vettedOperations?: ReadonlySet<string>;
}

interface Entry {
  readonly credential: SourcedCredential;
  readonly client: MetabaseClient;
}

export class PolicyStore {
  #active: ActivePolicy;
  readonly #entries: Map<string, Entry>;
  readonly #watched = new Set<string>();
  readonly #retiring = new Set<NodeJS.Timeout>();
  #reloading: Promise<boolean> | undefined;
  #closed = false;

  private constructor(private readonly options: PolicyStoreOptions, active: ActivePolicy, entries: Map<string, Entry>) {
    this.#active = active;
    this.#entries = entries;
  }

  /** Loads the policy and opens every credential; fails (naming the problem) if any is wrong. */
  static async open(options: PolicyStoreOptions): Promise<PolicyStore> {
    const policy = options.policy ?? (await loadPolicyFile(options.file!));
    checkOperations(policy, options);
    await checkWebhookSecret(policy, options);
    const issuers = await issuersOf(policy, options);
    const entries = new Map<string, Entry>();
    const roles = await activate(policy, entries, new Map(), options);
    for (const warning of policy.warnings) options.logger.warn({ event: 'policy.warning', warning }, 'the policy has something that is probably not meant');
    return new PolicyStore(options, { policy, roles, issuers, version: 1 }, entries);
  }

  get current(): ActivePolicy {
    return this.#active;
  }

  /** Reads a secret the policy names (`{env}` or `{file}`), now: a rotated file is read afresh. */
  readSecret(source: SecretSource): Promise<string> {
    return readSecret(source, this.options.env);
  }

  /** The roles' clients, one per credential source. */
  clients(): MetabaseClient[] {
    return [...this.#entries.values()].map((e) => e.client);
  }

  /**
   * Reads the policy file and every credential source again. Resolves true when the new policy is in
   * force, false when it was refused (the old one stays; the reason is logged). Concurrent calls share one reload.
   */
  reload(reason: string): Promise<boolean> {
    this.#reloading ??= this.#reload(reason).finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #reload(reason: string): Promise<boolean> {
    const log = this.options.logger;
    try {
      const policy = this.options.file ? await loadPolicyFile(this.options.file) : this.#active.policy;
      checkOperations(policy, this.options);
      await checkWebhookSecret(policy, this.options);
      const issuers = await issuersOf(policy, this.options);
      // Credentials kept from the old policy are read again too: a rotated key takes effect now.
      const fresh = new Map<string, Entry>();
      const roles = await activate(policy, fresh, this.#entries, this.options);
      for (const [key, entry] of this.#entries) {
        if (!fresh.has(key)) this.#retire(entry.client);
      }
      this.#entries.clear();
      for (const [key, entry] of fresh) this.#entries.set(key, entry);
      this.#active = { policy, roles, issuers, version: this.#active.version + 1 };
      log.info({ event: 'policy.reloaded', reason, version: this.#active.version, roles: roles.map((r) => r.name), issuers: issuers.map((i) => i.name) }, 'policy reloaded');
      for (const warning of policy.warnings) log.warn({ event: 'policy.warning', warning }, 'the policy has something that is probably not meant');
      if (this.#watched.size) this.watch();
      return true;
    } catch (err) {
      log.error({ event: 'policy.refused', reason, problem: (err as Error).message, version: this.#active.version }, 'new policy refused; the previous policy stays in force');
      return false;
    }
  }

  /** Reloads when the policy file or a credential file changes (polled: survives editors' renames and secret volume swaps). */
  watch(): void {
    if (this.#closed) return;
    const files = new Set<string>();
    if (this.options.file) files.add(this.options.file);
    for (const role of this.#active.policy.roles) {
      const source = role.metabase.kind === 'api-key' ? role.metabase.apiKey : role.metabase.password;
      if ('file' in source) files.add(source.file);
    }
    const interval = this.options.watchIntervalMs ?? 1_000;
    for (const file of files) {
      if (this.#watched.has(file)) continue;
      this.#watched.add(file);
      watchFile(file, { interval, persistent: false }, (now: Stats, before: Stats) => {
        if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
        void this.reload(`${file} changed`);
      });
    }
    for (const file of this.#watched) {
      if (!files.has(file)) {
        unwatchFile(file);
        this.#watched.delete(file);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const file of this.#watched) unwatchFile(file);
    this.#watched.clear();
    await this.#reloading?.catch(() => undefined);
    for (const timer of this.#retiring) clearTimeout(timer);
    this.#retiring.clear();
    await Promise.all([...this.#entries.values()].map((e) => e.client.close()));
    this.#entries.clear();
  }

  #retire(client: MetabaseClient): void {
    const timer = setTimeout(() => {
      this.#retiring.delete(timer);
      void client.close().catch(() => undefined);
    }, this.options.drainGraceMs);
    timer.unref();
    this.#retiring.add(timer);
  }
}

/** A role's `operations` must name vetted operations: a typo would otherwise refuse everything the role sends. */
function checkOperations(policy: Policy, options: PolicyStoreOptions): void {
  const known = options.vettedOperations;
  if (!known) return;
  for (const role of policy.roles) {
    const unknown = (role.operations ?? []).filter((name) => !known.has(name));
    if (unknown.length) throw new Error(`role ${role.name}: operations: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a vetted operation' : 'are not vetted operations'} (the vetted operations: ${[...known].sort().join(', ')})`);
  }
}

/** The access-request webhook's signing secret must be readable, as a role's Metabase key must be. */
async function checkWebhookSecret(policy: Policy, options: PolicyStoreOptions): Promise<void> {
  const webhook = policy.accessRequests.webhook;
  if (!webhook) return;
  await readSecret(webhook.secret, options.env).catch((err: unknown) => {
    throw new Error(`accessRequests.webhook.secret: ${(err as Error).message}`);
  });
}

/** The issuers in force, with every Graph client secret readable (as a role's Metabase key must be). */
async function issuersOf(policy: Policy, options: PolicyStoreOptions): Promise<readonly IssuerPolicy[]> {
  const issuers = effectiveIssuers(policy, options.defaultIssuer, options.defaultIssuerExclusive ?? false);
  for (const issuer of issuers) {
    if (!issuer.overage) continue;
    await readSecret(issuer.overage.clientSecret, options.env).catch((err: unknown) => {
      throw new Error(`issuer ${issuer.name}: overage.clientSecret: ${(err as Error).message}`);
    });
  }
  return issuers;
}

/**
 * Opens (or reuses, re-reading its source) the client of every credential the policy names, into
 * `into`. On failure, clients opened here are closed again and the error names the role.
 */
async function activate(policy: Policy, into: Map<string, Entry>, existing: ReadonlyMap<string, Entry>, options: PolicyStoreOptions): Promise<ActiveRole[]> {
  const opened: MetabaseClient[] = [];
  try {
    for (const role of policy.roles) {
      const key = SourcedCredential.key(role.metabase);
      if (into.has(key)) continue;
      const kept = existing.get(key);
      if (kept) {
        await kept.credential.reload().catch((err: unknown) => {
          throw new Error(`role ${role.name}: ${(err as Error).message}`);
        });
        into.set(key, kept);
        continue;
      }
      const credential = await SourcedCredential.open(role.metabase, options.env).catch((err: unknown) => {
        throw new Error(`role ${role.name}: ${(err as Error).message}`);
      });
      const m = options.metabase;
      const client = new MetabaseClient({
        baseUrl: m.baseUrl, credential, dispatcher: m.dispatcher, timeoutMs: m.timeoutMs, maxConcurrent: m.maxConcurrent, scope: key,
        ...(m.sessionMaxAgeMs !== undefined ? { sessionMaxAgeMs: m.sessionMaxAgeMs } : {}),
        ...(m.maxResponseBytes !== undefined ? { maxResponseBytes: m.maxResponseBytes } : {}),
        ...(m.acceptGzip !== undefined ? { acceptGzip: m.acceptGzip } : {}),
      });
      opened.push(client);
      into.set(key, { credential, client });
    }
  } catch (err) {
    await Promise.all(opened.map((c) => c.close()));
    throw err;
  }
  return policy.roles.map((role) => {
    const key = SourcedCredential.key(role.metabase);
    return { ...role, client: into.get(key)!.client, scope: key };
  });
}
