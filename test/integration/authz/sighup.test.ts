/**
 * The real entry point: `npm start` in demo mode on a policy file of the test's, reloaded by SIGHUP
 * (file watching is slowed right down, so only the signal can cause it), then drained by SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { DEMO_POLICY_FILE } from '../../../src/demo.js';

test('SIGHUP reloads the policy of a running gateway; SIGTERM stops it cleanly', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-sighup-'));
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, await readFile(DEMO_POLICY_FILE, 'utf8'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: '0', POLICY_FILE: policyFile, POLICY_WATCH_INTERVAL_MS: '600000', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const end = Date.now() + 30_000;
    while (!/contractor:\n\s+\S+/.test(out)) {
      assert.ok(Date.now() < end && child.exitCode === null, `the gateway did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /Gateway:\s+(\S+)/.exec(out)![1]!;
    const token = /\n {2}analyst:\n {2}(\S+)/.exec(out)![1]!;
    const role = async (): Promise<unknown> => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ viewer { role } }' }) });
      return ((await res.json()) as { data: { viewer: { role: string } } }).data.viewer.role;
    };
    assert.equal(await role(), 'analyst');
    await writeFile(policyFile, (await readFile(policyFile, 'utf8')).replace('- name: analyst', '- name: lead-analyst'));
    assert.equal(await role(), 'analyst', 'no reload without the signal (watching is slowed right down)');
    child.kill('SIGHUP');
    const until = Date.now() + 5_000;
    while ((await role()) !== 'lead-analyst') {
      assert.ok(Date.now() < until, `SIGHUP did not reload the policy:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, out.split('\n').filter((l) => !l.includes('eyJ')).join('\n'));
    assert.ok(!out.includes('mb_'), 'no Metabase key is printed or logged');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
