/**
 * The explorer's sign-in follows the policy in force: each page load reads it, so a reload that
 * names another issuer changes the sign-in and the CSP's allowed origin, and one that leaves no
 * issuer to pair with turns sign-in off. Two real OIDC providers stand for the two issuers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerExplorer, type ExplorerSignIn } from '../../../src/explorer/explorer.js';
import { startIdp, type Idp } from '../../helpers/idp.js';

let first: Idp;
let second: Idp;
let app: FastifyInstance;
let inForce: ExplorerSignIn | null = null;
before(async () => {
  [first, second] = await Promise.all([startIdp(), startIdp()]);
  app = Fastify();
  await registerExplorer(app, { signIn: () => inForce, operations: [] });
  await app.ready();
});
after(async () => {
  await app.close();
  await first.close();
  await second.close();
});

const load = async (): Promise<{ csp: string; signIn: { issuer: string; authorizationEndpoint: string } | null }> => {
  const page = await app.inject({ method: 'GET', url: '/graphiql' });
  const config = await app.inject({ method: 'GET', url: '/graphiql/config.json' });
  return { csp: String(page.headers['content-security-policy']), signIn: (config.json() as { signIn: { issuer: string; authorizationEndpoint: string } | null }).signIn };
};

test('a reload that names another issuer moves the sign-in and the CSP with it; none turns it off', async () => {
  inForce = { issuer: first.issuer, clientId: 'explorer', scope: 'openid', resource: null };
  const one = await load();
  assert.equal(one.signIn?.issuer, first.issuer);
  assert.ok(one.signIn?.authorizationEndpoint.startsWith(first.issuer));
  assert.match(one.csp, new RegExp(`connect-src 'self' ${first.issuer.replace(/[.:/]/g, '\\$&')};`));

  inForce = { issuer: second.issuer, clientId: 'explorer', scope: 'openid', resource: null };
  const two = await load();
  assert.equal(two.signIn?.issuer, second.issuer);
  assert.ok(two.signIn?.authorizationEndpoint.startsWith(second.issuer));
  assert.ok(two.csp.includes(`connect-src 'self' ${second.issuer};`) && !two.csp.includes(first.issuer), two.csp);

  inForce = null;
  const none = await load();
  assert.equal(none.signIn, null);
  assert.ok(!none.csp.includes(second.issuer), 'no issuer is allowed when none signs in');
});
