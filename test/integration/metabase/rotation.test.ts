/**
 * Credential rotation in the Metabase client: a key file read again after a 401 (one reload, one
 * retry), an unchanged key not retried, a failed read keeping the key held, and login sessions
 * renewed before they reach their age limit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetabaseClient } from '../../../src/metabase/client.js';
import { SourcedCredential } from '../../../src/metabase/credential-source.js';
import { credentialOf, emulator, groupKeys, raw, type Emulator } from '../../helpers/emulator.js';
import { loginClient, rejectsWith } from '../../helpers/metabase.js';

describe('credential rotation', () => {
  let mb: Emulator;
  let dir: string;
  before(async () => {
    mb = await emulator();
    dir = await mkdtemp(join(tmpdir(), 'gateway-keys-'));
  });
  after(async () => {
    await mb.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A key of its own for the Sales group, made and rotated as an operator would, through the API. */
  const admin = () => groupKeys(mb).admin;
  async function createKey(name: string): Promise<{ id: number; key: string }> {
    const res = await raw(mb, 'POST', '/api/api-key', { key: admin(), body: { name, group_id: 4 } });
    assert.equal(res.status, 200, res.text);
    const body = res.json as { id: number; unmasked_key: string };
    return { id: body.id, key: body.unmasked_key };
  }
  async function regenerate(id: number): Promise<string> {
    const res = await raw(mb, 'PUT', `/api/api-key/${id}/regenerate`, { key: admin() });
    assert.equal(res.status, 200, res.text);
    return (res.json as { unmasked_key: string }).unmasked_key;
  }
  const statuses = (route: string) => mb.requests.log.filter((l) => l.route === route).map((l) => l.status);

  test('after a rotation, a 401 reads the key file again and the call is retried once, successfully', async () => {
    const { id, key } = await createKey('rotating');
    const file = join(dir, 'sales.key');
    await writeFile(file, `${key}\n`);
    const credential = await SourcedCredential.open({ kind: 'api-key', apiKey: { file } }, {});
    const client = new MetabaseClient({ baseUrl: mb.url, credential });
    try {
      assert.ok((await client.listCards()).length > 0);
      const rotated = await regenerate(id);
      await writeFile(file, rotated);
      mb.requests.reset();
      assert.ok((await client.listCards()).length > 0, 'the call succeeds with the new key');
      assert.deepEqual(statuses('GET /api/card'), [401, 200], 'one refusal, one retry');

      // Rotated again, but the file was not updated: Metabase's refusal stands, without a retry loop.
      await regenerate(id);
      mb.requests.reset();
      await rejectsWith(client.listCards(), 'UPSTREAM_AUTH');
      assert.deepEqual(statuses('GET /api/card'), [401], 'an unchanged key is not retried');

      // A source that cannot be read keeps the credential already held.
      await unlink(file);
      await assert.rejects(credential.reload(), /file .*sales\.key cannot be read \(ENOENT\)/);
      assert.equal(credential.current().kind, 'api-key');
    } finally {
      await client.close();
    }
  });

  test('the error from a bad source names the source, never a value', async () => {
    const file = join(dir, 'bad.key');
    await writeFile(file, 'not-a-metabase-key');
    await assert.rejects(SourcedCredential.open({ kind: 'api-key', apiKey: { file } }, {}), (err: Error) => {
      assert.match(err.message, /bad\.key: a Metabase API key starts with "mb_"/);
      assert.ok(!err.message.includes('not-a-metabase-key'));
      return true;
    });
    await assert.rejects(SourcedCredential.open({ kind: 'login', username: 'u', password: { env: 'NOPE' } }, {}), /environment variable NOPE is not set/);
  });

  test('a login session is renewed before it reaches its age limit, and the old one ended', async () => {
    let clock = 1_000_000;
    const client = loginClient(mb, 'Support', { sessionMaxAgeMs: 150, now: () => clock });
    try {
      mb.requests.reset();
      await client.currentUser();
      clock += 100;
      await client.currentUser();
      assert.equal(mb.requests.count('POST /api/session'), 1, 'one session while it is young');
      clock += 100;
      const me = await client.currentUser();
      assert.equal(me.email, credentialOf(mb, 'Support').email);
      assert.equal(mb.requests.count('POST /api/session'), 2, 'a new session once the old one is past its age');
      // The old session is ended in the background, once the new one exists.
      await mb.requests.until(() => mb.requests.count('DELETE /api/session') === 1);
      assert.deepEqual(statuses('GET /api/user/current'), [200, 200, 200], 'no call ever met an expired session');
    } finally {
      await client.close();
    }
  });
});
