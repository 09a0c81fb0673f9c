/**
 * A role's Metabase credential: an API key of a Metabase group, or a service account's login.
 * Secrets are wrapped so that logging, `JSON.stringify` or `util.inspect` of a credential never
 * prints them; only the HTTP layer calls `reveal()`.
 */
import { inspect } from 'node:util';

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    if (typeof value !== 'string' || value === '') throw new TypeError('a secret must be a non-empty string');
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return '[redacted]';
  }
}

export type MetabaseCredential =
  | { readonly kind: 'api-key'; readonly apiKey: Secret }
  | { readonly kind: 'login'; readonly username: string; readonly password: Secret };

/** Metabase accepts only keys that start with `mb_` and are 12 to 254 characters long. */
export function apiKeyCredential(apiKey: string): MetabaseCredential {
  if (!/^mb_.{9,251}$/s.test(apiKey)) throw new TypeError('a Metabase API key starts with "mb_" and is 12 to 254 characters long');
  return { kind: 'api-key', apiKey: new Secret(apiKey) };
}

export function loginCredential(username: string, password: string): MetabaseCredential {
  if (username.trim() === '') throw new TypeError('a Metabase login needs a non-blank username');
  return { kind: 'login', username, password: new Secret(password) };
}

/** How a credential is named in logs and cache keys: never the secret itself. */
export function credentialLabel(c: MetabaseCredential): string {
  return c.kind === 'api-key' ? `api-key:${c.apiKey.reveal().slice(0, 7)}` : `login:${c.username}`;
}
