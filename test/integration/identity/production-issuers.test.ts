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

/** Runs the entry point (the server, or `explain` with a token) until it exits; its exit code and output. */
function run(env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env: { ...process.env, PORT: '0', METABASE_URL: mb.url, ANALYSTS_KEY: groupKeys(mb).analyst, ...env } });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('exit', (c) => resolve({ code: c, out: text }));
  });
}

test('no issuer anywhere: the gateway refuses to start and says what to set', async () => {
  const policyFile = join(dir, 'no-issuers.yaml');
  await writeFile(policyFile, ROLE);
  const { code, out } = await run({ POLICY_FILE: policyFile });
  assert.equal(code, 1, out);
  assert.match(out, /issuers: the policy lists no issuer and none is configured: list issuers in the policy, or set OIDC_ISSUER and OIDC_AUDIENCE/);
});

test('issuers in the policy and OIDC_ISSUER too: the server and explain refuse, rather than ignore the variable', async () => {
  const policyFile = join(dir, 'both.yaml');
  await writeFile(policyFile, `issuers:\n  - { name: corp, issuer: "${idp.issuer}", audiences: ["${AUDIENCE}"] }\n${ROLE}`);
  const env = { POLICY_FILE: policyFile, OIDC_ISSUER: 'https://other-idp.example.test', OIDC_AUDIENCE: AUDIENCE };
  const expected = /issuers: the policy lists issuers and OIDC_ISSUER \(https:\/\/other-idp\.example\.test\) is set too; list that issuer in the policy and unset OIDC_ISSUER and OIDC_AUDIENCE, or remove `issuers` from the policy/;
  const server = await run(env);
  assert.equal(server.code, 1, server.out);
  assert.match(server.out, expected);
  const explain = await run(env, ['explain', await idp.userToken('ana', { groups: ['analysts'] })]);
  assert.equal(explain.code, 1, explain.out);
  assert.match(explain.out, expected);
});

test('an issuer\'s Graph client secret is read at start: unset, the gateway does not start and says which', async () => {
  const policyFile = join(dir, 'overage.yaml');
  const overage = 'overage: { graphUrl: "https://graph.microsoft.com", tokenUrl: "https://login.microsoftonline.com/t/oauth2/v2.0/token", clientId: c, clientSecret: { env: GRAPH_SECRET } }';
  await writeFile(policyFile, `issuers:\n  - { name: corp, issuer: "${idp.issuer}", audiences: ["${AUDIENCE}"], ${overage} }\n${ROLE}`);
  const { code, out } = await run({ POLICY_FILE: policyFile, GRAPH_SECRET: '' });
  assert.equal(code, 1, out);
  assert.match(out, /issuer corp: overage\.clientSecret: .*GRAPH_SECRET.* is not set/);
});
