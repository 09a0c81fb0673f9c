/**
 * A real OpenID provider (oidc-provider) on port 0: user access tokens (JWT, for the gateway's
 * audience) with groups per account, and a client-credentials agent client. The test owns the
 * signing key, so it can also forge tokens with exactly one thing wrong. `jwksFetches` counts key set downloads.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import Provider from 'oidc-provider';

export const AUDIENCE = 'https://gateway.test';

export interface Idp {
  readonly issuer: string;
  readonly agentClientId: string;
  /** Key set downloads since start. */
  readonly jwksFetches: number;
  /** An access token for a user, with the given extra claims (groups, roles…). */
  userToken(accountId: string, claims?: Record<string, unknown>): Promise<string>;
  /** The extra claims of a user's next tokens, however they are issued (the login form included). */
  setClaims(accountId: string, claims: Record<string, unknown>): void;
  /** The explorer's public client (authorization code with PKCE; any loopback port's /graphiql). */
  readonly explorerClientId: string;
  /** An access token from the client-credentials grant, as an agent gets one. */
  agentToken(): Promise<string>;
  /** A token signed with the IdP's own key (kid k1), with claims of the test's choosing. */
  sign(claims: JWTPayload, header?: Record<string, unknown>): Promise<string>;
  readonly publicPem: string;
  /** Stops answering: the IdP is down. */
  close(): Promise<void>;
}

export async function startIdp(): Promise<Idp> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
  let jwksFetches = 0;
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/jwks')) jwksFetches += 1;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicPem = await exportSPKI(publicKey);
  const agentClientId = 'reporting-agent';
  const secret = crypto.randomUUID();
  const pending = new Map<string, Record<string, unknown>>();
  const resourceServer = { scope: 'metabase:read', audience: AUDIENCE, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } } as const;
  const provider = new Provider(issuer, {
    clients: [
      { client_id: agentClientId, client_secret: secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
      { client_id: 'gateway-web', client_secret: crypto.randomUUID(), grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['http://127.0.0.1/cb'] },
      // A public client, as a browser page is: no secret, PKCE; native, so a loopback redirect may use any port (RFC 8252).
      { client_id: 'explorer', application_type: 'native', token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['http://127.0.0.1/graphiql'] },
    ],
    // The explorer's page exchanges its code from its own origin: a loopback origin on any port.
    clientBasedCORS: (_ctx, origin, client) => client.clientId === 'explorer' && /^http:\/\/127\.0\.0\.1:\d+$/.test(origin),
    // The login form (any login, any password) and the consent page, for tests that sign in in a browser.
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] },
    scopes: ['openid', 'metabase:read'],
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true, defaultResource: () => AUDIENCE, useGrantedResource: () => true,
        getResourceServerInfo: () => resourceServer,
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const accountId = (token as { accountId?: string }).accountId;
      return accountId ? (pending.get(accountId) ?? {}) : {};
    },
  });
  handler = provider.callback();
  const web = await provider.Client.find('gateway-web');
  return {
    issuer, agentClientId, publicPem, explorerClientId: 'explorer',
    setClaims(accountId, claims) {
      pending.set(accountId, claims);
    },
    get jwksFetches() {
      return jwksFetches;
    },
    async userToken(accountId, claims = {}) {
      pending.set(accountId, claims);
      return new provider.AccessToken({
        accountId, client: web!, scope: 'metabase:read', grantId: crypto.randomUUID(), gty: 'authorization_code',
        resourceServer: new provider.ResourceServer(AUDIENCE, resourceServer),
      }).save();
    },
    async agentToken() {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${agentClientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'metabase:read', resource: AUDIENCE }),
      });
      if (res.status !== 200) throw new Error(`client credentials grant answered ${res.status}`);
      return ((await res.json()) as { access_token: string }).access_token;
    },
    // A `crit` list in the header is signed as given (jose would otherwise refuse extensions it does not know).
    sign: (claims, header = {}) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header })
      .sign(privateKey, Array.isArray(header['crit']) ? { crit: Object.fromEntries((header['crit'] as string[]).map((c) => [c, true])) } : undefined),
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
