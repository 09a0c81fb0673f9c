/**
 * From verified claims to the caller the gateway serves: a Viewer, and the role whose Metabase
 * credential its calls will use. Roles are tried in order; the first whose group the viewer has wins.
 */
import type { JWTPayload } from 'jose';
import { ForbiddenError } from '../errors/index.js';

export interface Viewer {
  readonly subject: string;
  readonly email: string | null;
  readonly name: string | null;
  readonly groups: readonly string[];
}

export interface RoleMatch {
  /** The role's name, as the configuration gives it. */
  readonly name: string;
  /** IdP groups that select this role. */
  readonly groups: readonly string[];
}

/** Reads a claim by dotted path (`realm_access.roles`) or as a whole key (a namespaced URL claim). */
export function claimAt(payload: Record<string, unknown>, path: string): unknown {
  if (path in payload) return payload[path];
  return path.split('.').reduce<unknown>((v, key) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), payload);
}

export function viewerFromClaims(payload: JWTPayload, groupsClaim: string): Viewer {
  const raw = claimAt(payload as Record<string, unknown>, groupsClaim);
  const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : typeof raw === 'string' ? raw.split(/[\s,]+/).filter(Boolean) : [];
  const str = (k: string): string | null => (typeof payload[k] === 'string' ? (payload[k] as string) : null);
  return { subject: payload.sub!, email: str('email'), name: str('name'), groups };
}

export function resolveRole<R extends RoleMatch>(viewer: Viewer, roles: readonly R[]): R {
  const role = roles.find((r) => r.groups.some((g) => viewer.groups.includes(g)));
  if (!role) throw new ForbiddenError('None of your identity provider groups is allowed to use this gateway.');
  return role;
}
