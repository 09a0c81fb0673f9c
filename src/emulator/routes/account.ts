/** Sessions, the current user, groups and API keys (API-CONTRACT.md §2, §4.1, §4.12). */
import { GROUPS } from '../content.js';
import { ApiError, forbidden, invalid, json, notFound, page, positiveInt, received, route, text, type Reply, type Route } from '../http.js';
import type { RouteContext } from '../context.js';
import type { Principal } from '../instance.js';
import { userSummary } from '../serialize.js';

const requireSuperuser = (p: Principal): void => {
  if (!p.isSuperuser) throw forbidden();
};

function nonBlank(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v.trim() === '') {
    throw new ApiError(json({
      errors: { [key]: 'value must be a non-blank string.' },
      'specific-errors': { [key]: [typeof v === 'string' ? `non-blank string, received: ${received(v)}` : `should be a string, received: ${received(v)}`, `non-blank string, received: ${received(v)}`] },
    }, 400));
  }
  return v;
}

const groupId = (v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalid('group_id', 'value must be an integer greater than zero.', `value must be an integer greater than zero., received: ${received(v)}`);
  if (!GROUPS.some((g) => g.id === v)) throw notFound();
  return v;
};

const maskedKey = (prefix: string): string => `${prefix}${'*'.repeat(40)}`;

function serializeKey(ctx: RouteContext, id: number, unmasked?: string): Record<string, unknown> {
  const k = ctx.instance.apiKeys.get(id)!;
  const group = GROUPS.find((g) => g.id === k.groupId)!;
  const out: Record<string, unknown> = {
    id: k.id, name: k.name, group: { id: group.id, name: group.name }, masked_key: maskedKey(k.prefix),
    created_at: k.createdAt, updated_at: k.updatedAt, updated_by: { id: ctx.principal.user.id, common_name: `${ctx.principal.user.firstName} ${ctx.principal.user.lastName}`.trim() },
  };
  if (unmasked) out['unmasked_key'] = unmasked;
  return out;
}

function apiKeyRecord(ctx: RouteContext, params: Record<string, string>) {
  requireSuperuser(ctx.principal);
  const record = ctx.instance.apiKeys.get(positiveInt('id', params['id']!));
  if (!record) throw notFound();
  return record;
}

function currentUser(ctx: RouteContext): Reply {
  const u = ctx.principal.user;
  const perms = ctx.instance.dataPermission(ctx.principal, 1);
  return json({
    ...userSummary(u),
    locale: null, is_active: u.isActive, is_superuser: ctx.principal.isSuperuser, is_qbnewb: false, is_installer: u.id === 1,
    date_joined: u.dateJoined, last_login: u.lastLogin, first_login: u.lastLogin, updated_at: u.dateJoined,
    login_attributes: null, sso_source: null, group_ids: [...u.groupIds], personal_collection_id: u.personalCollectionId, tenant_collection_id: null,
    has_invited_second_user: false, has_question_and_dashboard: true, has_model: true, custom_homepage: null,
    can_write_any_collection: ctx.principal.isSuperuser || u.groupIds.some((g) => Object.values(GROUPS.find((x) => x.id === g)!.collections).includes('write')),
    permissions: { can_create_queries: perms.createQueries !== 'no', can_create_native_queries: perms.createQueries === 'query-builder-and-native' },
  });
}

function members(ctx: RouteContext, gid: number): Record<string, unknown>[] {
  return [...ctx.instance.users.values()]
    .filter((u) => u.isActive && u.groupIds.includes(gid))
    .map((u) => ({ user_id: u.id, email: u.email, first_name: u.firstName, last_name: u.lastName, membership_id: u.id * 100 + gid, is_group_manager: false, is_superuser: u.groupIds.includes(2) }));
}

export const accountRoutes: Route<RouteContext>[] = [
  route('GET', '/api/health', () => json({ status: 'ok' }), { public: true }),

  route('POST', '/api/session', async (ctx) => {
    const body = await ctx.body();
    const username = nonBlank(body, 'username');
    const password = nonBlank(body, 'password');
    const result = ctx.instance.login(username, password);
    if ('error' in result) return json({ errors: result.error }, 401);
    return json({ id: result.sessionId }, 200, { 'set-cookie': `metabase.SESSION=${result.sessionId}; Path=/; HttpOnly; SameSite=Lax` });
  }, { public: true }),

  // Public in Metabase: it reads the session itself and answers 404 when there is none (§2.3).
  route('DELETE', '/api/session', (ctx) => {
    const p = ctx.instance.authenticate(ctx.req.headers);
    if (!p?.sessionId || !ctx.instance.logout(p.sessionId)) return text('Not found.', 404);
    return { status: 204, empty: true, headers: { 'set-cookie': 'metabase.SESSION=; Path=/; Max-Age=0; HttpOnly' } };
  }, { public: true }),

  route('GET', '/api/user/current', currentUser),

  // Paged envelope (§4.14). Real Metabase may show non-admins a subset; the emulator keeps it to admins.
  route('GET', '/api/user', (ctx) => {
    requireSuperuser(ctx.principal);
    const includeDeactivated = ctx.query.boolean('include_deactivated');
    const people = [...ctx.instance.users.values()].filter((u) => u.type === 'personal' && (includeDeactivated || u.isActive));
    return json({
      data: page(people, ctx.paging).map((u) => ({
        ...userSummary(u), is_active: u.isActive, is_superuser: u.groupIds.includes(2), group_ids: [...u.groupIds],
        personal_collection_id: u.personalCollectionId, date_joined: u.dateJoined, last_login: u.lastLogin,
      })),
      total: people.length, limit: ctx.paging?.limit ?? null, offset: ctx.paging?.offset ?? null,
    });
  }),

  route('GET', '/api/permissions/group', (ctx) => {
    requireSuperuser(ctx.principal);
    const tenancy = ctx.query.oneOf('tenancy', ['external', 'internal'] as const);
    const groups = tenancy === 'external' ? [] : [...GROUPS].sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
    return json(page(groups, ctx.paging).map((g) => ({
      id: g.id, name: g.name, entity_id: `group-${g.slug}`.padEnd(21, '0').slice(0, 21), magic_group_type: g.magicGroupType, member_count: members(ctx, g.id).length,
    })));
  }),

  route('GET', '/api/permissions/group/:id', (ctx, params) => {
    requireSuperuser(ctx.principal);
    const g = GROUPS.find((x) => x.id === positiveInt('id', params['id']!));
    if (!g) throw notFound();
    return json({ id: g.id, name: g.name, magic_group_type: g.magicGroupType, members: members(ctx, g.id) });
  }),

  route('GET', '/api/permissions/membership', (ctx) => {
    requireSuperuser(ctx.principal);
    const out: Record<string, unknown[]> = {};
    for (const u of ctx.instance.users.values()) {
      if (!u.isActive) continue;
      out[u.id] = u.groupIds.map((g) => ({ membership_id: u.id * 100 + g, group_id: g, user_id: u.id, is_group_manager: false }));
    }
    return json(out);
  }),

  route('GET', '/api/permissions/graph', (ctx) => {
    requireSuperuser(ctx.principal);
    const groups: Record<string, unknown> = {};
    for (const g of GROUPS) {
      groups[g.id] = Object.fromEntries(Object.entries(g.data).map(([db, d]) => [db, { 'view-data': d.viewData, 'create-queries': d.createQueries, details: 'no' }]));
    }
    return json({ revision: 1, groups });
  }),

  route('GET', '/api/collection/graph', (ctx) => {
    requireSuperuser(ctx.principal);
    // Since 0.56.13 `none` entries are left out.
    const groups = Object.fromEntries(GROUPS.map((g) => [g.id, g.id === 2 ? { root: 'write' } : Object.fromEntries(Object.entries(g.collections).filter(([, v]) => v !== 'none'))]));
    return json({ revision: 1, groups });
  }),

  route('GET', '/api/api-key', (ctx) => {
    requireSuperuser(ctx.principal);
    return json([...ctx.instance.apiKeys.keys()].map((id) => serializeKey(ctx, id)));
  }),

  route('POST', '/api/api-key', async (ctx) => {
    requireSuperuser(ctx.principal);
    const body = await ctx.body();
    const name = nonBlank(body, 'name');
    if ([...ctx.instance.apiKeys.values()].some((k) => k.name === name)) {
      return json({ errors: { name: 'An API key with this name already exists.' } }, 400);
    }
    const { record, key } = ctx.instance.createApiKey(name, groupId(body['group_id']));
    return json(serializeKey(ctx, record.id, key));
  }),

  route('PUT', '/api/api-key/:id/regenerate', (ctx, params) => {
    const record = apiKeyRecord(ctx, params);
    const key = ctx.instance.regenerateApiKey(record);
    return json({ ...serializeKey(ctx, record.id), unmasked_key: key, prefix: record.prefix });
  }),

  route('PUT', '/api/api-key/:id', async (ctx, params) => {
    const record = apiKeyRecord(ctx, params);
    const body = await ctx.body();
    if (body['name'] !== undefined) record.name = nonBlank(body, 'name');
    if (body['group_id'] !== undefined) ctx.instance.setApiKeyGroup(record, groupId(body['group_id']));
    return json(serializeKey(ctx, record.id));
  }),

  route('DELETE', '/api/api-key/:id', (ctx, params) => {
    ctx.instance.deleteApiKey(apiKeyRecord(ctx, params));
    return { status: 204, empty: true };
  }),
];
