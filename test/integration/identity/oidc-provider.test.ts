/**
 * Token verification against a real OpenID provider (oidc-provider on port 0): discovery, JWKS,
 * issuer, audience, algorithms and expiry, with JWT access tokens from the client-credentials grant.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { createTokenVerifier } from '../../../src/identity/verifier.js';
import { viewerFromClaims } from '../../../src/identity/viewer.js';
import { GatewayError } from '../../../src/errors/index.js';
import { parsePolicy } from '../../../src/policy/policy.js';

const MINIMAL_POLICY = 'roles: [{name: r, match: {groups: [agents]}, metabase: {apiKey: {env: K}}, collections: all}]';

const AUDIENCE = 'https://gateway.test';

describe('identity with a real OIDC provider', () => {
  let server: Server;
  let issuer: string;
  let secret: string;
  before(async () => {
    let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    secret = crypto.randomUUID();
    const provider = new Provider(issuer, {
      clients: [{ client_id: 'reporting-agent', client_secret: secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }],
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] },
      scopes: ['openid', 'metabase:read'],
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true, defaultResource: () => AUDIENCE, useGrantedResource: () => true,
          getResourceServerInfo: () => ({ scope: 'metabase:read', audience: AUDIENCE, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
        },
      },
      extraTokenClaims: () => ({ groups: ['agents'] }),
    });
    handler = provider.callback();
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const token = async (): Promise<string> => {
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`reporting-agent:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'metabase:read', resource: AUDIENCE }),
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { access_token: string }).access_token;
  };

  test('a client-credentials access token verifies through discovery; its groups become the viewer\'s', async () => {
    const verify = createTokenVerifier({ issuer, audience: AUDIENCE });
    const claims = await verify(await token());
    assert.equal(claims.sub, 'reporting-agent');
    assert.deepEqual(viewerFromClaims(claims, parsePolicy(MINIMAL_POLICY, 'inline.yaml').claims).groups, ['agents']);
  });

  test('the wrong audience, issuer or algorithm list is UNAUTHENTICATED', async () => {
    const t = await token();
    const checks = [
      createTokenVerifier({ issuer, audience: 'https://other.test' }),
      createTokenVerifier({ issuer, audience: AUDIENCE, algorithms: ['ES256'] }),
    ];
    for (const verify of checks) {
      await assert.rejects(verify(t), (err: unknown) => err instanceof GatewayError && err.code === 'UNAUTHENTICATED');
    }
    const wrongIssuer = createTokenVerifier({ issuer: `${issuer}/elsewhere`, audience: AUDIENCE });
    await assert.rejects(wrongIssuer(t), (err: unknown) => err instanceof GatewayError && err.code === 'UPSTREAM_UNAVAILABLE', 'discovery fails for an issuer that is not there');
  });

  test('symmetric and "none" algorithms are refused at start', () => {
    for (const algorithms of [['HS256'], ['none'], ['RS256', 'HS512']]) {
      assert.throws(() => createTokenVerifier({ issuer, audience: AUDIENCE, algorithms }), TypeError);
    }
  });
});
