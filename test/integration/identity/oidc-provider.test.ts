/**
 * Token verification against a real OpenID provider (oidc-provider on port 0): discovery, JWKS,
 * issuer, audience, algorithms and expiry, with JWT access tokens from the client-credentials grant.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTokenVerifier } from '../../../src/identity/verifier.js';
import { viewerFromClaims } from '../../../src/identity/viewer.js';
import { GatewayError } from '../../../src/errors/index.js';
import { parsePolicy } from '../../../src/policy/policy.js';
import { AUDIENCE, startIdp, type Idp } from '../../helpers/idp.js';

const POLICY = `
claims: { clientKind: { rules: [{ kind: agent, clientIds: [reporting-agent] }] } }
roles: [{ name: r, match: { clientKinds: [agent] }, metabase: { apiKey: { env: K } }, collections: all }]
`;

describe('identity with a real OIDC provider', () => {
  let idp: Idp;
  before(async () => {
    idp = await startIdp();
  });
  after(() => idp.close());

  test('a client-credentials access token verifies through discovery; its client makes the viewer an agent', async () => {
    const verify = createTokenVerifier({ issuer: idp.issuer, audience: AUDIENCE });
    const claims = await verify(await idp.agentToken());
    assert.equal(claims.sub, 'reporting-agent');
    const viewer = viewerFromClaims(claims, parsePolicy(POLICY, 'inline.yaml').claims);
    assert.deepEqual([viewer.clientId, viewer.clientKind, viewer.scopes], ['reporting-agent', 'agent', ['metabase:read']]);
  });

  test('the wrong audience, issuer or algorithm list is UNAUTHENTICATED', async () => {
    const t = await idp.agentToken();
    const checks = [
      createTokenVerifier({ issuer: idp.issuer, audience: 'https://other.test' }),
      createTokenVerifier({ issuer: idp.issuer, audience: AUDIENCE, algorithms: ['ES256'] }),
    ];
    for (const verify of checks) {
      await assert.rejects(verify(t), (err: unknown) => err instanceof GatewayError && err.code === 'UNAUTHENTICATED');
    }
    const wrongIssuer = createTokenVerifier({ issuer: `${idp.issuer}/elsewhere`, audience: AUDIENCE });
    await assert.rejects(wrongIssuer(t), (err: unknown) => err instanceof GatewayError && err.code === 'UPSTREAM_UNAVAILABLE', 'discovery fails for an issuer that is not there');
  });

  test('symmetric and "none" algorithms are refused at start', () => {
    for (const algorithms of [['HS256'], ['none'], ['RS256', 'HS512']]) {
      assert.throws(() => createTokenVerifier({ issuer: idp.issuer, audience: AUDIENCE, algorithms }), TypeError);
    }
  });
});
