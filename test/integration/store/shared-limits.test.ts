/**
 * Two gateway instances (production processes) on one Redis share each caller's request limit; when
 * Redis stops, each instance limits on its own and every request is still served or refused with
 * 429, never failed; when Redis is back, the shared count applies again. /readyz says how the store
 * is. The Redis is one the test starts, so it may stop it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { emulator, type Emulator } from '../../helpers/emulator.js';
import { startIdp, type Idp } from '../../helpers/idp.js';
import { PRODUCTION_POLICY, startProduction, type Production } from '../../helpers/production.js';
import { eventually } from '../../helpers/eventually.js';
import { startRedis, testPrefix, type OwnRedis } from '../../helpers/redis.js';

const POLICY = PRODUCTION_POLICY.replace('roles:\n', 'rateLimitTiers:\n  tight: { requestsPerMinute: 4 }\nroles:\n')
  .replace('    canRunNativeSql: true\n', '    canRunNativeSql: true\n    rateLimitTier: tight\n');

let mb: Emulator;
let idp: Idp;
let redis: OwnRedis;
let a: Production;
let b: Production;

before(async () => {
  assert.match(POLICY, /rateLimitTier: tight/);
  mb = await emulator();
  idp = await startIdp();
  redis = await startRedis();
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: testPrefix() };
  [a, b] = await Promise.all([startProduction({ emulator: mb, idp, policy: POLICY, env }), startProduction({ emulator: mb, idp, policy: POLICY, env })]);
});
after(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await redis.stop();
  await idp.close();
  await mb.close();
});

const ready = async (gw: Production): Promise<Record<string, unknown>> => (await fetch(`${gw.base}/readyz`)).json() as Promise<Record<string, unknown>>;

test('a caller\'s limit is counted across instances; with Redis down each instance limits alone; then it is shared again', async () => {
  const token = await idp.userToken('ana', { groups: ['analysts'] });
  const ask = async (gw: Production): Promise<number> => (await gw.post({ query: '{ viewer { role } }' }, token)).status;
  assert.deepEqual(await ready(a), { status: 'ready', metabase: 'ok', store: 'ok' });

  // Four a minute in all: two on each instance, then both refuse.
  assert.deepEqual([await ask(a), await ask(b), await ask(a), await ask(b)], [200, 200, 200, 200]);
  assert.deepEqual([await ask(a), await ask(b)], [429, 429], 'the fifth request is over the shared allowance, whichever instance gets it');

  await redis.stop();
  // Each instance now counts alone, from a fresh per-instance allowance: served or refused, never an error.
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push(await ask(a));
  assert.deepEqual(statuses, [200, 200, 200, 200, 429], 'instance a alone: four, then 429');
  assert.deepEqual(await ready(a), { status: 'ready', metabase: 'ok', store: 'degraded' }, 'ready, and says the store is degraded');
  assert.match(a.entry.output(), /store\.degraded/, 'the change is logged');
  assert.equal(a.entry.output().match(/store\.degraded/g)!.length, 1, 'once, not per request');

  await redis.start();
  // A new, empty Redis: the shared count starts over once the instances reconnect.
  for (const [name, gw] of [['a', a], ['b', b]] as const) {
    await eventually(async () => (await ready(gw))['store'] === 'ok', `instance ${name} reconnects to Redis by itself`, { withinMs: 10_000 });
  }
  assert.deepEqual([await ask(b), await ask(a), await ask(b), await ask(a), await ask(b)], [200, 200, 200, 200, 429], 'shared again');
});
