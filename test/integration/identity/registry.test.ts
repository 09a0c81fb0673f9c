/**
 * The issuer registry across policy reloads and against identity providers that misbehave: an
 * issuer keeps its keys when its audiences change, forgets them when it is no longer listed; a key
 * set URL in clear over the network, or a key set past its size bound, is never used.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IssuerRegistry } from '../../../src/identity/issuers.js';
import { defaultClaims, type IssuerPolicy } from '../../../src/policy/policy.js';
import { AUDIENCE, startIdp, type Idp } from '../../helpers/idp.js';
import { startStub, type StubServer } from '../../helpers/stub-server.js';

const issuerOf = (url: string, audiences: string[], name = 'corp'): IssuerPolicy => ({
  name, issuer: url, audiences, audienceClaim: 'aud', algorithms: ['RS256'], allowIdTokens: false, claims: defaultClaims(), overage: null,
});

/** An OpenID provider whose discovery document is `discovery(its own URL)` and whose every other answer is `keySet()`. */
async function startOddIdp(discovery: (self: string) => Record<string, unknown>, keySet: () => string): Promise<StubServer & { requests: string[] }> {
  const requests: string[] = [];
  let url = '';
  const server = await startStub((req, _body, res) => {
    requests.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(req.url === '/.well-known/openid-configuration' ? JSON.stringify(discovery(url)) : keySet());
  });
  url = server.url;
  return { ...server, requests };
}

describe('the issuer registry', () => {
  let idp: Idp;
  before(async () => {
    idp = await startIdp();
  });
  after(() => idp.close());

  test('a reload that changes an issuer\'s audiences keeps its keys; one that drops the issuer forgets them', async () => {
    let issuers = [issuerOf(idp.issuer, [AUDIENCE])];
    const registry = new IssuerRegistry(() => issuers);
    const token = await idp.userToken('ana', { groups: ['analysts'] });
    await registry.verify(token);
    const fetched = idp.jwksFetches;
    assert.ok(fetched >= 1);

    issuers = [issuerOf(idp.issuer, [AUDIENCE, 'another-audience'])];
    const { issuer } = await registry.verify(token);
    assert.deepEqual(issuer.audiences, [AUDIENCE, 'another-audience'], 'the new settings apply');
    assert.equal(idp.jwksFetches, fetched, 'the keys were not fetched again');

    issuers = [issuerOf('https://elsewhere.example', ['x'], 'other')];
    await assert.rejects(registry.verify(token), (err: Error & { extensions?: Record<string, unknown> }) => err.extensions?.['reason'] === 'issuer');
    issuers = [issuerOf(idp.issuer, [AUDIENCE])];
    await registry.verify(token);
    assert.equal(idp.jwksFetches, fetched + 1, 'listed again, the issuer starts afresh');
  });

  test('a verified token is remembered until its age limit; a reload, or a change of its issuer\'s settings, checks it again', async () => {
    let now = Date.now();
    let issuers = [issuerOf(idp.issuer, [AUDIENCE])];
    const registry = new IssuerRegistry(() => issuers, { verifiedTokenMaxAgeMs: 60_000, now: () => now });
    const token = await idp.userToken('ana', { groups: ['analysts'] });
    const first = await registry.verify(token);
    assert.ok(Object.isFrozen(first.claims), 'a claim set that serves many requests cannot be changed by one');
    assert.equal((await registry.verify(token)).claims, first.claims, 'the second request was answered from memory');
    now += 60_000;
    const later = await registry.verify(token);
    assert.notEqual(later.claims, first.claims, 'past the age limit the token is verified again');
    assert.deepEqual(later.claims, first.claims);

    issuers = [issuerOf(idp.issuer, ['another-audience'])];
    await assert.rejects(registry.verify(token), (err: { extensions: Record<string, unknown> }) => {
      assert.equal(err.extensions['reason'], 'audience', 'the new settings refuse a token the old ones accepted');
      return true;
    });

    const off = new IssuerRegistry(() => [issuerOf(idp.issuer, [AUDIENCE])], { verifiedTokenMaxAgeMs: 0 });
    assert.notEqual((await off.verify(token)).claims, (await off.verify(token)).claims, 'TOKEN_CACHE_MAX_AGE_MS=0 verifies every request');
  });

  test('a key set URL in clear to another host is refused without being fetched', async () => {
    const odd = await startOddIdp((self) => ({ issuer: self, jwks_uri: 'http://keys.example.com/jwks' }), () => '{"keys":[]}');
    try {
      const registry = new IssuerRegistry(() => [issuerOf(odd.url, ['a'])]);
      const problems: string[] = [];
      await registry.warmUp((_issuer, err) => problems.push((err as Error).message));
      assert.equal(problems.length, 1);
      assert.match(problems[0]!, /names a key set URL that is neither https nor on this machine: http:\/\/keys\.example\.com\/jwks/);
      assert.deepEqual(odd.requests, ['/.well-known/openid-configuration']);
    } finally {
      await odd.close();
    }
  });

  test('a key set larger than its bound is not read whole, and no key from it is used', async () => {
    const huge = JSON.stringify({ keys: [{ kty: 'oct', k: 'x'.repeat(600 * 1024) }] });
    const odd = await startOddIdp((self) => ({ issuer: self, jwks_uri: `${self}/jwks` }), () => huge);
    try {
      const registry = new IssuerRegistry(() => [issuerOf(odd.url, ['a'])]);
      const problems: string[] = [];
      await registry.warmUp((_issuer, err) => problems.push((err as Error).message));
      assert.match(problems[0] ?? '', /the key set at .*\/jwks answered more than 524288 bytes/);
    } finally {
      await odd.close();
    }
  });
});
