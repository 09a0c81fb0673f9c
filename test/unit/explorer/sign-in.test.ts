/** Which issuer the explorer signs in with: set by the configuration, or the only one; never a guess. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explorerSignIn } from '../../../src/explorer/explorer.js';

const issuers = [
  { issuer: 'https://login.example.com', audiences: ['api://gateway'] },
  { issuer: 'https://partners.example.com/', audiences: [] },
];
const settings = (extra: Partial<{ clientId: string | null; issuer: string | null; resource: string | null }> = {}) =>
  ({ clientId: 'explorer', issuer: null, scope: 'openid', resource: null, ...extra });

test('no client id, no sign-in', () => {
  assert.equal(explorerSignIn(settings({ clientId: null }), issuers), null);
  assert.equal(explorerSignIn(undefined, issuers), null);
});

test('the only issuer, or the one named; the resource is the issuer\'s first audience unless set', () => {
  assert.deepEqual(explorerSignIn(settings(), [issuers[0]!]), { issuer: 'https://login.example.com', clientId: 'explorer', scope: 'openid', resource: 'api://gateway' });
  assert.deepEqual(explorerSignIn(settings({ issuer: 'https://partners.example.com', resource: 'https://gw' }), issuers),
    { issuer: 'https://partners.example.com/', clientId: 'explorer', scope: 'openid', resource: 'https://gw' });
  assert.equal(explorerSignIn(settings({ issuer: 'https://partners.example.com' }), issuers)!.resource, null);
});

test('a client id the gateway cannot pair with one issuer is refused at start', () => {
  assert.throws(() => explorerSignIn(settings(), issuers), /accepts 2 issuers: name the explorer's with EXPLORER_ISSUER/);
  assert.throws(() => explorerSignIn(settings({ issuer: 'https://elsewhere.example.com' }), issuers), /EXPLORER_ISSUER https:\/\/elsewhere.example.com is not an issuer the gateway accepts/);
});
