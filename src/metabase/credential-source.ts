/**
 * Where a role's Metabase credential comes from, and reading it again: on SIGHUP, when a key file
 * changes, or when Metabase answers 401 (a rotated key). Reads are single-flight; a failed read
 * keeps the credential already held, so a half-written secret file never takes a role down.
 */
import { readFile } from 'node:fs/promises';
import type { CredentialSpec, SecretSource } from '../policy/policy.js';
import { apiKeyCredential, loginCredential, type MetabaseCredential } from './credentials.js';

export interface CredentialProvider {
  /** The credential to use now. */
  current(): MetabaseCredential;
  /** Reads the source again; resolves true when the credential changed. */
  reload(): Promise<boolean>;
}

/** A credential that never changes (tests, and callers that manage rotation themselves). */
export function fixedCredential(credential: MetabaseCredential): CredentialProvider {
  return { current: () => credential, reload: async () => false };
}

type Env = Readonly<Record<string, string | undefined>>;

function describeSource(source: SecretSource): string {
  return 'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;
}

/** Reads a secret from where the policy says it is; the error names the source, never a value. */
export async function readSecret(source: SecretSource, env: Env): Promise<string> {
  if ('env' in source) {
    const value = env[source.env];
    if (value === undefined || value.trim() === '') throw new Error(`${describeSource(source)} is not set`);
    return value.trim();
  }
  let text: string;
  try {
    text = await readFile(source.file, 'utf8');
  } catch (err) {
    throw new Error(`${describeSource(source)} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.trim() === '') throw new Error(`${describeSource(source)} is empty`);
  return text.trim();
}

async function readCredential(spec: CredentialSpec, env: Env): Promise<MetabaseCredential> {
  try {
    if (spec.kind === 'api-key') return apiKeyCredential(await readSecret(spec.apiKey, env));
    return loginCredential(spec.username, await readSecret(spec.password, env));
  } catch (err) {
    // The message names the source, never the value read from it.
    throw new Error(`the Metabase credential from ${describeSource(spec.kind === 'api-key' ? spec.apiKey : spec.password)}: ${(err as Error).message}`);
  }
}

/** Same source, same secret: credentials compare without revealing them anywhere. */
function sameCredential(a: MetabaseCredential, b: MetabaseCredential): boolean {
  if (a.kind === 'api-key' && b.kind === 'api-key') return a.apiKey.reveal() === b.apiKey.reveal();
  if (a.kind === 'login' && b.kind === 'login') return a.username === b.username && a.password.reveal() === b.password.reveal();
  return false;
}

export class SourcedCredential implements CredentialProvider {
  #credential: MetabaseCredential;
  #reading: Promise<boolean> | undefined;

  private constructor(readonly spec: CredentialSpec, private readonly env: Env, credential: MetabaseCredential) {
    this.#credential = credential;
  }

  /** Reads the credential once; fails (naming the source) when it is missing or malformed. */
  static async open(spec: CredentialSpec, env: Env): Promise<SourcedCredential> {
    return new SourcedCredential(spec, env, await readCredential(spec, env));
  }

  /** Identifies the source (not the secret): roles naming the same source share one client. */
  static key(spec: CredentialSpec): string {
    const src = (s: SecretSource): string => ('env' in s ? `env:${s.env}` : `file:${s.file}`);
    return spec.kind === 'api-key' ? `api-key|${src(spec.apiKey)}` : `login|${spec.username}|${src(spec.password)}`;
  }

  current(): MetabaseCredential {
    return this.#credential;
  }

  reload(): Promise<boolean> {
    this.#reading ??= readCredential(this.spec, this.env)
      .then((next) => {
        const changed = !sameCredential(next, this.#credential);
        if (changed) this.#credential = next;
        return changed;
      })
      .finally(() => {
        this.#reading = undefined;
      });
    return this.#reading;
  }
}
