/**
 * The real entry point, configured as an operator would: issuers listed in the policy with no
 * OIDC_ISSUER in the environment; and a policy that lists none with no OIDC_ISSUER either, which is
 * refused at start with a message that says what to set.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emulator, groupKeys, type Emulator } from '../../helpers/emulator.js';
import { startEntryPoint } from '../../helpers/entry.js';
import { AUDIENCE, startIdp, type Idp } from '../../helpers/idp.js';

let mb: Emulator;
let idp: Idp;
let dir: string;

before(async () => {
  mb = await emulator();
  idp = await startIdp();
  dir = await mkdtemp(join(tmpdir(), 'gateway-issuers-'));
});
after(async () => {
  await idp.close();
  await mb.close();
  await rm(dir, { recursive: true, force: true });
});

const ROLE = `
roles:
  - name: analyst
    match: { groups: [analysts] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
`;

test('issuers listed in the policy, none in the environment: the gateway starts and serves them', async () => {
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, `issuers:\n  - { name: corp, issuer: "${idp.issuer}", audiences: ["${AUDIENCE}"] }\n${ROLE}`);
  const gateway = await startEntryPoint({ METABASE_URL: mb.url, POLICY_FILE: policyFile, ANALYSTS_KEY: groupKeys(mb).analyst, LOG_LEVEL: 'warn', AUDIT: 'off' });
  try {
    const token = await idp.userToken('ana', { groups: ['analysts'] });
    const res = await fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"query":"{ viewer { issuer role } }"}' });
    assert.deepEqual(((await res.json()) as { data: unknown }).data, { viewer: { issuer: 'corp', role: 'analyst' } });
    assert.deepEqual(await gateway.stop(), { code: 0, signal: null });
  } finally {
    gateway.kill();
  }
});

test('no issuer anywhere: the gateway refuses to start and says what to set', async () => {
  const policyFile = join(dir, 'no-issuers.yaml');
  await writeFile(policyFile, ROLE);
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, PORT: '0', METABASE_URL: mb.url, POLICY_FILE: policyFile, ANALYSTS_KEY: groupKeys(mb).analyst } });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('exit', (c) => resolve({ code: c, out: text }));
  });
  assert.equal(code, 1, out);
  assert.match(out, /issuers: the policy lists no issuer and none is configured: list issuers in the policy, or set OIDC_ISSUER and OIDC_AUDIENCE/);
});
