/**
 * The explorer at /graphiql: GraphiQL for analysts, served entirely by the gateway. The page loads
 * nothing from elsewhere: GraphiQL's bundled build and React 18's UMD files come from installed
 * packages, the page's own script and style from src/explorer/public/, under a Content-Security-Policy
 * (@fastify/helmet) that allows scripts from this origin only (no inline script, no eval) and
 * connections to this origin and the identity provider's (for the sign-in's token exchange).
 *
 * Sign-in: when the gateway is given a public client id (EXPLORER_CLIENT_ID), the page runs the OIDC
 * authorization-code flow with PKCE against the issuer; the token lives in the tab's session storage
 * and is sent as the Authorization header. A token field remains; in demo mode the page offers the
 * demo users' tokens. /graphiql/config.json tells the page which of these it has, and lists the
 * vetted operations and examples it opens as tabs.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlibConstants, gzip } from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import helmet from '@fastify/helmet';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Negotiator from 'negotiator';
import { SECURE_URL } from '../config/config.js';
import { discoveryDocument } from '../identity/verifier.js';

export const EXPLORER_PATH = '/graphiql';

export interface ExplorerSignIn {
  /** The issuer the page signs in with. */
  readonly issuer: string;
  /** The public client id registered at the issuer for the explorer (redirect URI: <base>/graphiql). */
  readonly clientId: string;
  /** Scopes asked for. */
  readonly scope: string;
  /** The gateway's audience at the issuer, sent as the resource indicator (RFC 8707) where one is set. */
  readonly resource: string | null;
}

/**
 * The sign-in the explorer offers, from the configuration and the issuers in force; null when no
 * client id is set. A client id with no issuer to pair it with is refused at start.
 */
export function explorerSignIn(
  settings: { readonly clientId: string | null; readonly issuer: string | null; readonly scope: string; readonly resource: string | null } | undefined,
  issuers: readonly { readonly issuer: string; readonly audiences: readonly string[] }[],
): ExplorerSignIn | null {
  if (!settings?.clientId) return null;
  const issuer = settings.issuer ? issuers.find((i) => i.issuer.replace(/\/$/, '') === settings.issuer!.replace(/\/$/, '')) : issuers.length === 1 ? issuers[0] : undefined;
  if (!issuer) {
    throw new Error(settings.issuer
      ? `EXPLORER_ISSUER ${settings.issuer} is not an issuer the gateway accepts (${issuers.map((i) => i.issuer).join(', ')})`
      : `EXPLORER_CLIENT_ID is set and the gateway accepts ${issuers.length} issuers: name the explorer's with EXPLORER_ISSUER`);
  }
  return { issuer: issuer.issuer, clientId: settings.clientId, scope: settings.scope, resource: settings.resource ?? issuer.audiences[0] ?? null };
}

export interface ExplorerOptions {
  /** The sign-in in force (read on each page load: it follows policy reloads), or null for none. */
  readonly signIn: () => ExplorerSignIn | null;
  /** Demo mode: the demo users and their tokens, once they are made. */
  readonly demoUsers?: () => readonly { readonly name: string; readonly token: string }[];
  /** The vetted operations, as tabs: name, description, document. */
  readonly operations: readonly { readonly name: string; readonly description: string; readonly document: string }[];
}

const require = createRequire(import.meta.url);
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`));
const PUBLIC_DIR = new URL('./public/', import.meta.url);

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  /** A strong validator: the content's SHA-256. */
  readonly etag: string;
  /** Compressed forms, made on first demand and kept. */
  readonly encoded: Map<'br' | 'gzip', Promise<Buffer>>;
}

const brotli = promisify(brotliCompress);
const ENCODINGS = ['br', 'gzip', 'identity'];
const gzipped = promisify(gzip);

/** The asset in the encoding the client prefers among br, gzip and none; compressed once, on first demand. */
function encodedBody(asset: Asset, acceptEncoding: string | undefined): { encoding: 'br' | 'gzip' | null; body: Promise<Buffer> } {
  // Among encodings the client weighs alike, ours decide (browsers list gzip before br).
  const negotiator = new Negotiator({ headers: { 'accept-encoding': acceptEncoding ?? '' } }) as unknown as { encoding(available: string[], options: { preferred: string[] }): string | undefined };
  const best = acceptEncoding ? negotiator.encoding(ENCODINGS, { preferred: ENCODINGS }) : 'identity';
  if (best !== 'br' && best !== 'gzip') return { encoding: null, body: Promise.resolve(asset.body) };
  let body = asset.encoded.get(best);
  if (!body) {
    body = best === 'br' ? brotli(asset.body, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 5 } }) : gzipped(asset.body, { level: 6 });
    asset.encoded.set(best, body);
  }
  return { encoding: best, body };
}

/** The files the page loads, read once at start. */
function loadAssets(): Map<string, Asset> {
  const js = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  const files: [string, string, string][] = [
    ['react.js', join(packageDir('react'), 'umd/react.production.min.js'), js],
    ['react-dom.js', join(packageDir('react-dom'), 'umd/react-dom.production.min.js'), js],
    ['graphiql.js', join(packageDir('graphiql'), 'graphiql.min.js'), js],
    ['graphiql.css', join(packageDir('graphiql'), 'graphiql.min.css'), css],
    ['explorer.js', new URL('explorer.js', PUBLIC_DIR).pathname, js],
    ['explorer.css', new URL('explorer.css', PUBLIC_DIR).pathname, css],
  ];
  return new Map(files.map(([name, path, type]) => {
    const body = readFileSync(path);
    return [name, { type, body, etag: `"${createHash('sha256').update(body).digest('base64url')}"`, encoded: new Map() }];
  }));
}

/** The examples opened as tabs beside the vetted operations. */
const EXAMPLES = [
  { name: 'Who am I', description: 'How the gateway reads your token: your groups, your role and the roles you may switch to.', document: 'query WhoAmI {\n  viewer { subject email groups clientKind role availableRoles noRoleReason }\n}\n' },
  { name: 'A dashboard with its rows', description: 'A dashboard, its filters, and every card\'s result.', document: 'query Dashboard($id: ID! = 1) {\n  dashboard(id: $id) {\n    name\n    parameters { slug type }\n    cards { id question { name } run { status rowCount columns { name } rows(first: 20) } }\n  }\n}\n' },
  { name: 'Questions', description: 'The questions your role can read.', document: 'query Questions {\n  questions(first: 20) { nodes { id name kind collection { name } } totalCount }\n}\n' },
  {
    name: 'Access requests',
    description: 'Just-in-time access: your requests and grants, and the requests you may answer. A FORBIDDEN error says when you may ask.',
    document: 'query AccessRequests {\n  viewer { grants { id target { kind id } grantingRole grantedUntil } }\n  accessRequests(first: 20) {\n    id state target { kind id } requester { name email } reason durationMinutes canAnswer\n  }\n}\n\n'
      + '# mutation Ask { requestAccess(target: {kind: DASHBOARD, id: "2"}, reason: "Why you need it", durationMinutes: 60) { id state } }\n'
      + '# mutation Approve($id: ID!) { approveAccessRequest(id: $id, note: "ok") { state grantedUntil } }\n',
  },
];

export async function registerExplorer(app: FastifyInstance, options: ExplorerOptions): Promise<void> {
  const assets = loadAssets();
  // Each issuer's endpoints, from its discovery document read as token verification reads it (bounded, checked).
  const endpoints = new Map<string, Promise<{ authorize: string; token: string }>>();
  /** Token endpoints found so far, by issuer: the page posts its code there, which may be another origin (Google's is). */
  const tokenOrigins = new Map<string, string>();
  // The sign-in's issuer may change with a policy reload: the CSP names the one in force, and its token endpoint's origin.
  const issuerOrigins = (): string => {
    const signIn = options.signIn();
    if (!signIn) return "'self'";
    const issuer = new URL(signIn.issuer).origin;
    const token = tokenOrigins.get(signIn.issuer);
    return token && token !== issuer ? `${issuer} ${token}` : issuer;
  };
  const signInEndpoints = (signIn: ExplorerSignIn) => {
    let found = endpoints.get(signIn.issuer);
    if (!found) {
      found = discoveryDocument(signIn.issuer, 5_000).then((d) => {
        // The code and verifier travel to these: https, or this machine, as for the key set.
        const url = (v: unknown): string | null => (typeof v === 'string' && SECURE_URL.test(v) ? v : null);
        const authorize = url(d['authorization_endpoint']);
        const token = url(d['token_endpoint']);
        if (!authorize || !token) throw new Error('the issuer\'s discovery document names no authorization or token endpoint that is https or on this machine');
        tokenOrigins.set(signIn.issuer, new URL(token).origin);
        return { authorize, token };
      });
      // A failure is asked again on the next page load; the issuers in force are few.
      found.catch(() => endpoints.delete(signIn.issuer));
      if (endpoints.size >= 16) {
        endpoints.clear();
        tokenOrigins.clear();
      }
      endpoints.set(signIn.issuer, found);
    }
    return found;
  };

  await app.register(async (scope) => {
    await scope.register(helmet, {
      global: true,
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          // GraphiQL and CodeMirror set style attributes as they lay out the editors.
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'", 'data:'],
          connectSrc: ["'self'", issuerOrigins],
          formAction: ["'self'", issuerOrigins],
          frameAncestors: ["'none'"],
          baseUri: ["'none'"],
          objectSrc: ["'none'"],
        },
      },
      // The sign-in returns here from the identity provider: a referrer would carry the code to the page's requests.
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginEmbedderPolicy: false,
    });
    // Revalidated on every load (no-cache) against the content's hash: a reload costs a 304, not 1.6 MB.
    const send = async (request: FastifyRequest, reply: FastifyReply, asset: Asset) => {
      reply.header('cache-control', 'no-cache').header('etag', asset.etag).header('vary', 'accept-encoding');
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
      const { encoding, body } = encodedBody(asset, request.headers['accept-encoding']);
      if (encoding) reply.header('content-encoding', encoding);
      return reply.type(asset.type).send(await body);
    };
    scope.get(EXPLORER_PATH, async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(PAGE));
    scope.get(`${EXPLORER_PATH}/assets/:name`, async (request, reply) => {
      const asset = assets.get((request.params as { name: string }).name);
      if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('Not found.');
      return send(request, reply, asset);
    });
    scope.get(`${EXPLORER_PATH}/config.json`, async (request, reply) => {
      let signIn: Record<string, unknown> | null = null;
      const inForce = options.signIn();
      if (inForce) {
        try {
          const e = await signInEndpoints(inForce);
          signIn = { issuer: inForce.issuer, clientId: inForce.clientId, scope: inForce.scope, resource: inForce.resource, authorizationEndpoint: e.authorize, tokenEndpoint: e.token };
        } catch (err) {
          request.log.warn({ event: 'explorer.discovery-failed', issuer: inForce.issuer, err }, 'the explorer could not read the issuer\'s discovery document; sign-in is off until it can');
        }
      }
      return reply.header('cache-control', 'no-store').send({
        signIn,
        demoUsers: options.demoUsers?.() ?? null,
        tabs: [...EXAMPLES, ...options.operations],
      });
    });
  });
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Metabase gateway explorer</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${EXPLORER_PATH}/assets/graphiql.css">
<link rel="stylesheet" href="${EXPLORER_PATH}/assets/explorer.css">
</head>
<body>
<header id="bar"></header>
<main id="graphiql"><p class="loading">Loading the explorer…</p></main>
<script src="${EXPLORER_PATH}/assets/react.js"></script>
<script src="${EXPLORER_PATH}/assets/react-dom.js"></script>
<script src="${EXPLORER_PATH}/assets/graphiql.js"></script>
<script src="${EXPLORER_PATH}/assets/explorer.js"></script>
</body>
</html>
`;
