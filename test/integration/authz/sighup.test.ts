/**
 * The real entry point: `npm start` in demo mode on a policy file of the test's, reloaded by SIGHUP
 * (file watching is slowed right down, so only the signal can cause it), then drained by SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_POLICY_FILE } from '../../../src/demo.js';
import { startEntryPoint } from '../../helpers/entry.js';

test('SIGHUP reloads the policy of a running gateway; SIGTERM stops it cleanly', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-sighup-'));
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, await readFile(DEMO_POLICY_FILE, 'utf8'));
  const gateway = await startEntryPoint({ POLICY_FILE: policyFile, POLICY_WATCH_INTERVAL_MS: '600000', LOG_LEVEL: 'info' });
  try {
    const url = gateway.url;
    const token = gateway.token('analyst');
    const role = async (): Promise<unknown> => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ viewer { role } }' }) });
      return ((await res.json()) as { data: { viewer: { role: string } } }).data.viewer.role;
    };
    assert.equal(await role(), 'analyst');
    await writeFile(policyFile, (await readFile(policyFile, 'utf8')).replace('- name: analyst', '- name: lead-analyst').replace('approvers: [analyst]', 'approvers: [lead-analyst]'));
    assert.equal(await role(), 'analyst', 'no reload without the signal (watching is slowed right down)');
    gateway.child.kill('SIGHUP');
    // The reload is logged as it takes effect.
    await gateway.waitForOutput(/"event":"policy\.reloaded","reason":"SIGHUP"/, 5_000);
    assert.equal(await role(), 'lead-analyst');
    assert.deepEqual(await gateway.stop(), { code: 0, signal: null });
    // A demo key is `mb_` and 32 random bytes in base64 (44 characters, ending in `=`). The bearer tokens
    // the demo prints are base64url, which has no `=`, `+` or `/`: a random `mb_` inside one (about one
    // run in thirty) is not a key, and only looking for `mb_` alone made this check fail by chance.
    const key = /mb_[A-Za-z0-9+/]{43}=/.exec(gateway.output());
    assert.equal(key, null, `no Metabase key is printed or logged (found one at character ${key?.index})`);
  } finally {
    gateway.kill();
    await rm(dir, { recursive: true, force: true });
  }
});
