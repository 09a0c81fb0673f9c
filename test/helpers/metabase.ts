/** Building Metabase clients against an emulator, and asserting the gateway errors they throw. */
import assert from 'node:assert/strict';
import { MetabaseClient, type MetabaseClientOptions } from '../../src/metabase/client.js';
import { apiKeyCredential, loginCredential } from '../../src/metabase/credentials.js';
import { GatewayError, type GatewayErrorCode } from '../../src/errors/index.js';
import { credentialOf, type Emulator } from './emulator.js';

type Extra = Partial<Omit<MetabaseClientOptions, 'baseUrl' | 'credential'>>;

/** A client holding one group's API key. */
export const keyClient = (e: Emulator, group: string, options: Extra = {}): MetabaseClient =>
  new MetabaseClient({ baseUrl: e.url, credential: apiKeyCredential(credentialOf(e, group).apiKey), ...options });

/** A client logging in as one group's person. */
export const loginClient = (e: Emulator, group: string, options: Extra = {}): MetabaseClient => {
  const c = credentialOf(e, group);
  return new MetabaseClient({ baseUrl: e.url, credential: loginCredential(c.email, c.password), ...options });
};

/** A key client per demo group, with one call to close them all. */
export function groupClients(e: Emulator, options: Extra = {}) {
  const clients = {
    admin: keyClient(e, 'Administrators', options), analyst: keyClient(e, 'Analysts', options),
    sales: keyClient(e, 'Sales', options), support: keyClient(e, 'Support', options),
  };
  return { ...clients, closeAll: () => Promise.all(Object.values(clients).map((c) => c.close())) };
}

/**
 * Awaits a rejection with a gateway error of this code; returns it for further checks. `expect.message`
 * is matched against what a client would read, `expect.detail` against the log-only detail (where
 * Metabase's own words go). A client message never carries a Metabase path.
 */
export async function rejectsWith(promise: Promise<unknown>, code: GatewayErrorCode, expect: { message?: RegExp; detail?: RegExp } = {}): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    assert.equal(err.code, code, `${err.code}: ${err.message}`);
    assert.equal(err.extensions['code'], code);
    if (expect.message) assert.match(err.message, expect.message);
    if (expect.detail) assert.match(err.detail ?? '', expect.detail);
    assert.ok(!/\/api\//.test(err.message), `no Metabase path in the client message: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}
