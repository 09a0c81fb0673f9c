/**
 * Who is calling and in which role, decided before the body is read: the bearer token is verified,
 * read through the policy's claim paths, and matched against its roles. No fitting role is not an
 * error here: `viewer` still answers, and the rules refuse the rest. Asking (with X-Gateway-Role)
 * for a role that does not fit is, and so is a request whose credentials are ambiguous: two
 * Authorization headers, or a token in the URL (where proxies and logs keep it).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditViewer } from '../audit/trail.js';
import type { OperationLimits } from '../config/limits.js';
import { BadUserInputError, ForbiddenError, GatewayError } from '../errors/index.js';
import type { TokenVerification } from '../identity/issuers.js';
import { tokenError } from '../identity/verifier.js';
import { decideRoles, explainNoRole, listed, viewerFromClaims, type RoleDecision, type Viewer } from '../identity/viewer.js';
import type { ActiveRole, PolicyStore } from '../policy/store.js';

/** The header with which a caller asks for another of the roles it may act in. */
export const ROLE_HEADER = 'x-gateway-role';

export interface Caller {
  readonly viewer: Viewer;
  /** The role in force, or null when none fits. */
  readonly role: ActiveRole | null;
  readonly availableRoles: readonly string[];
  readonly noRoleReason: string | null;
  /** The role's limits, or the policy's when no role fits. */
  readonly limits: OperationLimits;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

export interface AuthenticateDeps {
  readonly policy: PolicyStore;
  /** The issuers' verification (IssuerRegistry): each token against the issuer it names. */
  readonly tokens: TokenVerification;
}

export function authenticate(deps: AuthenticateDeps) {
  return async function authenticateRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const trail = request.trail;
    const active = deps.policy.current;
    try {
      const header = onlyOne(request, 'authorization', () => tokenError('malformed', undefined, { status: 400, message: 'Send exactly one Authorization header.' }));
      if (hasTokenInUrl(request.url)) {
        throw tokenError('malformed', undefined, { status: 400, message: 'Send the token in the Authorization header, never in the URL (URLs are kept by proxies and logs).' });
      }
      if (header === undefined || header === '') throw tokenError('missing');
      const match = /^Bearer +(\S+)$/i.exec(header);
      if (!match) throw tokenError('malformed');
      const { claims, issuer } = await deps.tokens.verify(match[1]!);
      let viewer = viewerFromClaims(claims, issuer.claims, issuer.name);
      if (viewer.subject === '') throw tokenError('subject');
      if (viewer.groupsOverage) {
        // Read from Microsoft Graph where the issuer says how; when that fails, no group-based role fits and the caller is told why.
        viewer = await deps.tokens.resolveOverage(viewer, claims, issuer).catch((err: unknown) => {
          request.log.warn({ event: 'idp.groups-overage', issuer: issuer.name, err }, 'the token\'s overage groups could not be read from Microsoft Graph');
          return viewer;
        });
      }
      const decision = decideRoles(viewer, active.roles);
      const who = auditViewer(viewer);
      if (trail) trail.viewer = who;
      // Every later log line of this request carries who it is for (groups listed short) and its role:
      // one child logger, made once the role is known, or with the viewer alone when choosing it fails.
      const viewerLog = { ...who, groups: viewer.groups.length > 20 ? `${listed(viewer.groups, 20)}` : viewer.groups };
      let role: ActiveRole | null;
      try {
        const asked = onlyOne(request, ROLE_HEADER, () => new BadUserInputError(`Send at most one ${ROLE_HEADER} header.`, { details: { reason: 'malformed' } }));
        if (trail && asked) trail.askedRole = asked.slice(0, 64);
        role = chooseRole(decision, asked);
      } catch (err) {
        request.log = request.log.child({ viewer: viewerLog });
        throw err;
      }
      request.log = request.log.child({ viewer: viewerLog, role: role?.name ?? null });
      request.caller = {
        viewer, role, availableRoles: decision.allowed.map((r) => r.name),
        noRoleReason: role ? null : explainNoRole(viewer, decision, active.policy.explainDenials),
        limits: role?.limits ?? active.policy.limits,
      };
      if (request.scope) request.scope.limits = request.caller.limits;
      reply.log = request.log;
      if (trail) trail.role = role?.name ?? null;
    } catch (err) {
      if (err instanceof GatewayError && (err.code === 'UNAUTHENTICATED' || err.code === 'FORBIDDEN')) {
        // Who tried what, never the token: its reason, and where it came from.
        request.log.info({ event: 'auth.refused', requestId: request.id, code: err.code, reason: err.extensions['reason'], ip: request.ip, userAgent: String(request.headers['user-agent'] ?? '').slice(0, 200) }, 'request refused before any operation');
      }
      throw err;
    }
  };
}

/** The viewer as the audit trail records it. */
export const auditViewer = (viewer: Viewer): AuditViewer =>
  ({ subject: viewer.subject, email: viewer.email, groups: viewer.groups, clientKind: viewer.clientKind, issuer: viewer.issuer });

/** The one value of a header the request must send at most once; `refuse` when it came several times. */
function onlyOne(request: FastifyRequest, name: string, refuse: () => Error): string | undefined {
  // Node keeps only the first of duplicate Authorization headers in `headers`; `headersDistinct` has them all.
  // (A request the gateway makes to itself, an MCP tool call, has no `headersDistinct`; its headers are the gateway's.)
  const distinct = request.raw.headersDistinct as NodeJS.Dict<string[]> | undefined;
  const sent = request.headers[name];
  const all = distinct ? distinct[name] : sent === undefined ? undefined : Array.isArray(sent) ? sent : [sent];
  if (all && all.length > 1) throw refuse();
  return all?.[0];
}

function hasTokenInUrl(url: string): boolean {
  const q = url.indexOf('?');
  return q >= 0 && new URLSearchParams(url.slice(q + 1)).has('access_token');
}

/** The default role (the first that fits), or the one asked for by name if it fits too. */
function chooseRole(decision: RoleDecision<ActiveRole>, asked: string | undefined): ActiveRole | null {
  if (asked === undefined || asked === '') return decision.allowed[0] ?? null;
  const role = decision.allowed.find((r) => r.name === asked);
  if (role) return role;
  const fits = decision.allowed.map((r) => r.name);
  throw new ForbiddenError(
    `You asked for role "${asked.slice(0, 64)}" with ${ROLE_HEADER}, but your token allows ${fits.length ? fits.join(', ') : 'no role'}.`,
    { details: { reason: 'role-not-allowed' } },
  );
}
