/**
 * Policy and credential reloads while serving: an edit takes effect without a restart, requests in
 * flight finish on the policy they started with, a bad edit is refused (the old policy stays, the
 * problem is logged), and a rotated key file is picked up before any call fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDevIssuer, type DevIssuer } from '../../../src/identity/dev-issuer.js';
import { emulator, groupKeys, raw, type Emulator } from '../../helpers/emulator.js';
import { startAuthzStack, type AuthzStack } from '../../helpers/authz.js';

const AUDIENCE = 'reload-test';
const policy = (analyst: { canViewSql: boolean; keySource: string }): string => `
roles:
  - name: analyst
    match: { groups: [analysts] }
    metabase: { apiKey: ${analyst.keySource} }
    collections: all
    canViewSql: ${analyst.canViewSql}
  - name: sales
    match: { groups: [sales] }
    metabase: { apiKey: { file: sales.key } }
    collections: all
`;

describe('reloading the policy and credentials while serving', () => {
  let mb: Emulator;
  let issuer: DevIssuer;
  let stack: AuthzStack;
  let analyst: string;
  let sales: string;
  before(async () => {
    mb = await emulator();
    issuer = await startDevIssuer({ audience: AUDIENCE });
    const keys = groupKeys(mb);
    stack = await startAuthzStack({
      emulator: mb, issuer: issuer.issuer, audience: AUDIENCE, watchIntervalMs: 30, drainGraceMs: 5_000,
      policy: policy({ canViewSql: true, keySource: '{ file: analysts.key }' }),
      files: { 'analysts.key': keys.analyst, 'sales.key': keys.sales },
      env: { ANALYSTS_KEY: keys.analyst },
    });
    analyst = await issuer.issue('ana', { groups: ['analysts'] });
    sales = await issuer.issue('sam', { groups: ['sales'] });
  });
  after(async () => {
    await stack.close();
    await issuer.close();
    await mb.close();
  });

  /** A reload, successful or refused, is always logged: wait for the line rather than polling the version. */
  const reloadedPast = (version: number) => stack.waitForLog(`of a policy newer than version ${version}`, (l) => l.event === 'policy.reloaded' && (l['version'] as number) > version);
  const sqlQuery = '{ question(id: 4) { nativeSql } }';

  test('an edit takes effect without a restart; a request in flight finishes on the policy it started with', async () => {
    const before = await stack.post(sqlQuery, analyst);
    assert.equal(before.body.errors, undefined);
    const version = stack.policy.current.version;

    mb.knobs.latencyMs = 400;
    mb.requests.reset();
    const inFlight = stack.post(sqlQuery, analyst);
    await mb.requests.until(() => mb.requests.delayed === 1);
    // The new policy drops SQL for analysts and moves their key to another source (a new client).
    await writeFile(stack.policyFile, policy({ canViewSql: false, keySource: '{ env: ANALYSTS_KEY }' }));
    await reloadedPast(version);
    const finished = await inFlight;
    mb.knobs.latencyMs = 0;
    assert.equal(finished.status, 200);
    assert.equal(finished.body.errors, undefined, 'the request that started on the old policy keeps it, and its client was not closed under it');
    assert.match((finished.body.data as { question: { nativeSql: string } }).question.nativeSql, /SELECT/i);

    const after = await stack.post(sqlQuery, analyst);
    assert.equal(after.body.errors?.[0]?.extensions.reason, 'sql-hidden', 'new requests get the new policy');
    assert.ok(stack.log.some((l) => l.event === 'policy.reloaded' && String(l['reason']).endsWith('policy.yaml changed')));
  });

  test('a bad edit is refused: the old policy stays in force and the problem is logged with its path', async () => {
    const version = stack.policy.current.version;
    await writeFile(stack.policyFile, policy({ canViewSql: false, keySource: '{ env: ANALYSTS_KEY }' }).replace('collections: all', 'collections: everything'));
    await stack.waitForLog('refusing the policy', (l) => l.event === 'policy.refused');
    const refusal = stack.log.find((l) => l.event === 'policy.refused')!;
    assert.match(String(refusal['problem']), /policy\.yaml:\n {2}- roles\[0\]\.collections: expected "all", or a list/);
    assert.equal(refusal.level, 50, 'logged as an error');
    assert.equal(stack.policy.current.version, version);
    const still = await stack.post('{ viewer { role } }', analyst);
    assert.deepEqual(still.body.data, { viewer: { role: 'analyst' } });
    // An explicit reload (what SIGHUP does) gives the same answer.
    assert.equal(await stack.policy.reload('SIGHUP'), false);
    await writeFile(stack.policyFile, policy({ canViewSql: true, keySource: '{ env: ANALYSTS_KEY }' }));
    await reloadedPast(version);
  });

  test('a secret pasted where its variable should be named is refused on reload, and the log never shows it', async () => {
    const version = stack.policy.current.version;
    const key = groupKeys(mb).analyst;
    const refusedBefore = stack.log.filter((l) => l.event === 'policy.refused').length;
    await writeFile(stack.policyFile, policy({ canViewSql: true, keySource: `{ env: ${key} }` }));
    const refusal = await stack.waitForLog('refusing the pasted key', (l) => l.event === 'policy.refused' && stack.log.filter((x) => x.event === 'policy.refused').indexOf(l) >= refusedBefore);
    assert.match(String(refusal['problem']), /roles\[0\]\.metabase\.apiKey\.env: expected the name of a variable or file holding the secret, but this looks like the secret itself/);
    assert.ok(!stack.rawLog.join('\n').includes(key), 'the key is in no log line');
    assert.equal(stack.policy.current.version, version, 'the old policy stays');
    await writeFile(stack.policyFile, policy({ canViewSql: true, keySource: '{ env: ANALYSTS_KEY }' }));
    await reloadedPast(version);
  });

  test('an issuer whose Graph client secret cannot be read is refused on reload, like a role whose key cannot', async () => {
    const version = stack.policy.current.version;
    const refusedBefore = stack.log.filter((l) => l.event === 'policy.refused').length;
    const overage = 'overage: { graphUrl: "https://graph.microsoft.com", tokenUrl: "https://login.microsoftonline.com/t/oauth2/v2.0/token", clientId: c, clientSecret: { env: GRAPH_SECRET_NOT_SET } }';
    await writeFile(stack.policyFile, `issuers:\n  - { name: corp, issuer: "${issuer.issuer}", audiences: [${AUDIENCE}], ${overage} }\n${policy({ canViewSql: true, keySource: '{ env: ANALYSTS_KEY }' })}`);
    const refusal = await stack.waitForLog('refusing the unreadable secret', (l) => l.event === 'policy.refused' && stack.log.filter((x) => x.event === 'policy.refused').indexOf(l) >= refusedBefore);
    assert.match(String(refusal['problem']), /issuer corp: overage\.clientSecret: .*GRAPH_SECRET_NOT_SET.* is not set/);
    assert.equal(stack.policy.current.version, version, 'the old policy stays');
    assert.deepEqual((await stack.post('{ viewer { issuer role } }', analyst)).body.data, { viewer: { issuer: 'default', role: 'analyst' } });
    await writeFile(stack.policyFile, policy({ canViewSql: true, keySource: '{ env: ANALYSTS_KEY }' }));
    await reloadedPast(version);
  });

  test('a rotated key written to its file is picked up before any call fails', async () => {
    const admin = groupKeys(mb).admin;
    const created = await raw(mb, 'POST', '/api/api-key', { key: admin, body: { name: 'sales-rotating', group_id: 4 } });
    const { id, unmasked_key: first } = created.json as { id: number; unmasked_key: string };
    const version = stack.policy.current.version;
    await writeFile(join(stack.dir, 'sales.key'), first);
    await reloadedPast(version);
    assert.equal((await stack.post('{ databases { id } }', sales)).body.errors, undefined);

    const rotated = await raw(mb, 'PUT', `/api/api-key/${id}/regenerate`, { key: admin });
    const next = (rotated.json as { unmasked_key: string }).unmasked_key;
    const v2 = stack.policy.current.version;
    await writeFile(join(stack.dir, 'sales.key'), next);
    await reloadedPast(v2);
    mb.requests.reset();
    const res = await stack.post('{ databases { id } }', sales);
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    assert.ok(mb.requests.log.every((l) => l.status !== 401), 'no call met the old key');
    for (const key of [first, next]) assert.ok(!stack.rawLog.join('\n').includes(key), 'no key in any log line');
  });
});
