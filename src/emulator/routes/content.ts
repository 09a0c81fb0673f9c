/** Cards, dashboards, collections, databases and search (API-CONTRACT.md §4.2–§4.3, §4.8–§4.11, §4.13). */
import {
  ACTIONS, CARDS, COLLECTIONS, DASHBOARDS, MODEL_INDEXES, SAMPLE_DATABASE_ID, SEGMENTS, type CardDef, type CollectionDef, type DashboardDef,
} from '../content.js';
import { forbidden, idOrEntityId, invalid, json, notFound, page, positiveInt, received, route, text, type Route } from '../http.js';
import type { RouteContext } from '../context.js';
import { collectionById } from '../instance.js';
import { fieldByName, tableById } from '../sample-schema.js';
import {
  cardById, cardQuery, collectionSummary, dashboardCount, entityId, lastEditInfo, readableCollections, sampleTables, serializeCard,
  serializeCollection, serializeDashboard, serializeDatabase, serializeRoot, serializeTable,
} from '../serialize.js';

/** The Trash's id; it holds no permissions of its own here (archived items keep their collection's). */
const TRASH_COLLECTION_ID = 10;

/** When items were last edited, as their `last-edit-info` reports it. */
const EDITED_AT = '2026-03-05T08:00:00.700Z';

const CARD_FILTERS = ['all', 'mine', 'bookmarked', 'archived', 'database', 'table', 'using_model', 'using_segment'] as const;
const ITEM_MODELS = ['card', 'dataset', 'metric', 'dashboard', 'collection', 'snippet', 'pulse', 'timeline', 'document', 'table', 'transform', 'no_models'] as const;
const SEARCH_MODELS = ['dashboard', 'card', 'dataset', 'metric', 'collection', 'table', 'database', 'segment', 'action', 'indexed-entity', 'document', 'transform', 'measure'] as const;

/** Metabase's item `model` for each card type. */
export const cardModel = (c: CardDef): 'card' | 'dataset' | 'metric' => (c.type === 'model' ? 'dataset' : c.type === 'metric' ? 'metric' : 'card');

export function readableCard(ctx: RouteContext, raw: string, param = 'id'): CardDef {
  const card = cardById(idOrEntityId(param, raw));
  if (!card) throw notFound();
  if (!ctx.instance.canRead(ctx.principal, card.collectionId)) throw forbidden();
  return card;
}

export function readableDashboard(ctx: RouteContext, raw: string, param = 'id', allowEntityId = true): DashboardDef {
  const id = allowEntityId ? idOrEntityId(param, raw) : positiveInt(param, raw);
  const d = DASHBOARDS.find((x) => (typeof id === 'number' ? x.id === id : entityId('dashboard', x.id) === id));
  if (!d) throw notFound();
  if (!ctx.instance.canRead(ctx.principal, d.collectionId)) throw forbidden();
  return d;
}

function readableCollection(ctx: RouteContext, raw: string): CollectionDef {
  const id = idOrEntityId('id', raw);
  const c = typeof id === 'number' ? collectionById(id) : COLLECTIONS.find((x) => entityId('collection', x.id) === id);
  if (!c) throw notFound();
  if (!ctx.instance.canRead(ctx.principal, c.id)) throw forbidden();
  return c;
}

function cardItem(ctx: RouteContext, c: CardDef): Record<string, unknown> {
  return {
    id: c.id, model: cardModel(c), name: c.name, description: c.description, display: c.display, database_id: SAMPLE_DATABASE_ID,
    entity_id: entityId('card', c.id), collection_position: null, collection_preview: true, archived: c.archived ?? false,
    fully_parameterized: false, moderated_status: null, dashboard_count: dashboardCount(c.id),
    can_write: ctx.instance.canWrite(ctx.principal, c.collectionId), 'last-edit-info': lastEditInfo(ctx.instance, c.creatorId, EDITED_AT),
  };
}

function dashboardItem(ctx: RouteContext, d: DashboardDef): Record<string, unknown> {
  return {
    id: d.id, model: 'dashboard', name: d.name, description: d.description, entity_id: entityId('dashboard', d.id),
    collection_position: null, archived: d.archived ?? false, can_write: ctx.instance.canWrite(ctx.principal, d.collectionId),
    'last-edit-info': lastEditInfo(ctx.instance, d.creatorId, EDITED_AT),
  };
}

/** Item models present directly in a collection, and anywhere below it (`here`/`below`). */
function modelsIn(ctx: RouteContext, collectionId: number | null): string[] {
  const models = new Set<string>();
  for (const c of CARDS) if (!c.archived && c.collectionId === collectionId) models.add(cardModel(c));
  for (const d of DASHBOARDS) if (!d.archived && d.collectionId === collectionId) models.add('dashboard');
  if (readableCollections(ctx.instance, ctx.principal).some((c) => parentOf(c) === collectionId)) models.add('collection');
  return [...models].sort();
}

const parentOf = (c: CollectionDef): number | null => {
  const ids = c.location.split('/').filter(Boolean);
  return ids.length ? Number(ids.at(-1)) : null;
};

function collectionItem(ctx: RouteContext, c: CollectionDef): Record<string, unknown> {
  const below = new Set<string>();
  for (const child of readableCollections(ctx.instance, ctx.principal).filter((x) => x.location.startsWith(`${c.location}${c.id}/`))) {
    for (const m of modelsIn(ctx, child.id)) below.add(m);
  }
  return {
    id: c.id, model: 'collection', name: c.name, description: c.description, entity_id: entityId('collection', c.id),
    location: c.location, authority_level: c.authorityLevel, archived: c.archived, personal_owner_id: c.personalOwnerId,
    can_write: ctx.instance.canWrite(ctx.principal, c.id), here: modelsIn(ctx, c.id), below: [...below].sort(),
  };
}

function collectionItems(ctx: RouteContext, collectionId: number | null | 'trash'): ReturnType<typeof json> {
  const q = ctx.query;
  const models = q.manyOf('models', ITEM_MODELS);
  const archived = collectionId === 'trash' || q.boolean('archived');
  const pinned = q.oneOf('pinned_state', ['all', 'is_pinned', 'is_not_pinned'] as const) ?? 'all';
  const sortColumn = q.oneOf('sort_column', ['name', 'last_edited_at', 'last_edited_by', 'model', 'description'] as const) ?? 'name';
  const sortDirection = q.oneOf('sort_direction', ['asc', 'desc'] as const) ?? 'asc';
  q.boolean('official_collections_first');
  q.boolean('show_dashboard_questions');
  q.boolean('include_can_run_adhoc_query');
  const inPlace = (id: number | null): boolean => (collectionId === 'trash' ? true : id === collectionId);
  const items: Record<string, unknown>[] = [];
  const want = (m: string): boolean => models.length === 0 || (models as string[]).includes(m);
  for (const c of CARDS) {
    if ((c.archived ?? false) === archived && inPlace(c.collectionId) && want(cardModel(c)) && ctx.instance.canRead(ctx.principal, c.collectionId)) items.push(cardItem(ctx, c));
  }
  for (const d of DASHBOARDS) {
    if ((d.archived ?? false) === archived && inPlace(d.collectionId) && want('dashboard') && ctx.instance.canRead(ctx.principal, d.collectionId)) items.push(dashboardItem(ctx, d));
  }
  if (want('collection') && collectionId !== 'trash') {
    const children = readableCollections(ctx.instance, ctx.principal).filter((c) => parentOf(c) === collectionId && c.archived === archived);
    // Other people's personal collections never show; the caller's own shows in root.
    for (const c of children) if (c.personalOwnerId === null || c.personalOwnerId === ctx.principal.user.id) items.push(collectionItem(ctx, c));
  }
  const pinnedItems = pinned === 'is_pinned' ? [] : items; // no item of the sample is pinned
  const key = sortColumn === 'last_edited_at' || sortColumn === 'last_edited_by' ? 'name' : sortColumn;
  pinnedItems.sort((a, b) => {
    // Official collections first, as Metabase sorts since v0.50.
    const official = Number(b['authority_level'] === 'official') - Number(a['authority_level'] === 'official');
    if (official !== 0) return official;
    const cmp = String(a[key] ?? '').toLowerCase().localeCompare(String(b[key] ?? '').toLowerCase()) || Number(a['id']) - Number(b['id']);
    return sortDirection === 'asc' ? cmp : -cmp;
  });
  return json({
    total: pinnedItems.length,
    data: page(pinnedItems, ctx.paging),
    models: [...new Set(pinnedItems.map((i) => String(i['model'])))].sort(),
    limit: ctx.paging?.limit ?? null,
    offset: ctx.paging?.offset ?? null,
  });
}

function tree(ctx: RouteContext, parent: number | null, shallow: boolean, excludeArchived: boolean, excludeOthers: boolean): Record<string, unknown>[] {
  return readableCollections(ctx.instance, ctx.principal)
    .filter((c) => parentOf(c) === parent && !(excludeArchived && c.archived))
    .filter((c) => !(excludeOthers && c.personalOwnerId !== null && c.personalOwnerId !== ctx.principal.user.id))
    .sort((a, b) => Number(b.authorityLevel === 'official') - Number(a.authorityLevel === 'official') || a.name.localeCompare(b.name))
    .map((c) => {
      const item = collectionItem(ctx, c);
      const children = shallow ? [] : tree(ctx, c.id, shallow, excludeArchived, excludeOthers);
      return { ...serializeCollection(ctx.instance, ctx.principal, c), here: item['here'], below: item['below'], children };
    });
}

function searchItems(ctx: RouteContext): ReturnType<typeof json> {
  const q = ctx.query;
  const text = (q.string('q') ?? '').toLowerCase();
  const models = q.manyOf('models', SEARCH_MODELS);
  const ids = q.positiveInts('ids');
  if (ids.length > 0 && models.length !== 1) {
    throw invalid('ids', 'ids requires exactly one value of models', `the ids filter works only with exactly one model, received: ${received(models)}`);
  }
  const archived = q.boolean('archived');
  const personal = q.oneOf('filter_items_in_personal_collection', ['all', 'only', 'only-mine', 'exclude', 'exclude-others'] as const) ?? 'all';
  const collection = q.positiveInt('collection');
  const tableDbId = q.positiveInt('table_db_id');
  const want = (m: string): boolean => models.length === 0 || (models as string[]).includes(m);
  const matches = (name: string, description: string | null): boolean =>
    text === '' || name.toLowerCase().includes(text) || (description ?? '').toLowerCase().includes(text);
  const owner = (id: number | null): number | null => (id === null ? null : collectionById(id)?.personalOwnerId ?? null);
  const personalOk = (id: number | null): boolean => {
    const o = owner(id);
    switch (personal) {
      case 'only': return o !== null;
      case 'only-mine': return o === ctx.principal.user.id;
      case 'exclude': return o === null;
      case 'exclude-others': return o === null || o === ctx.principal.user.id;
      default: return true;
    }
  };
  const inScope = (id: number | null): boolean => (collection === undefined || id === collection) && personalOk(id);
  const wanted = (id: number): boolean => ids.length === 0 || ids.includes(id);
  const collectionRef = (id: number | null): Record<string, unknown> =>
    id === null ? { id: 'root', name: 'Our analytics', authority_level: null, type: null } : { ...collectionSummary(collectionById(id)!), type: null };
  const people = (userId: number): string => {
    const u = ctx.instance.users.get(userId)!;
    return `${u.firstName} ${u.lastName}`;
  };
  const data: Record<string, unknown>[] = [];
  const available = new Set<string>();
  const push = (model: string, row: Record<string, unknown>): void => {
    available.add(model);
    if (want(model)) data.push(row);
  };
  for (const c of CARDS) {
    if ((c.archived ?? false) !== archived || !matches(c.name, c.description) || !inScope(c.collectionId) || !wanted(c.id)) continue;
    if (!ctx.instance.canRead(ctx.principal, c.collectionId)) continue;
    const query = cardQuery(c);
    push(cardModel(c), {
      id: c.id, model: cardModel(c), name: c.name, description: c.description, archived: c.archived ?? false,
      collection: collectionRef(c.collectionId), collection_position: null, database_id: SAMPLE_DATABASE_ID,
      table_id: query.kind === 'structured' ? query.sourceTable : null, display: c.display, dashboard_count: dashboardCount(c.id),
      moderated_status: null, dashboard: null, created_at: '2026-03-01T12:00:00.000Z', creator_id: c.creatorId,
      creator_common_name: people(c.creatorId), last_edited_at: '2026-03-05T08:00:00.700Z', last_editor_id: c.creatorId,
      last_editor_common_name: people(c.creatorId), updated_at: '2026-03-05T08:00:00.654Z', scores: [],
    });
  }
  for (const d of DASHBOARDS) {
    if ((d.archived ?? false) !== archived || !matches(d.name, d.description) || !inScope(d.collectionId) || !wanted(d.id)) continue;
    if (!ctx.instance.canRead(ctx.principal, d.collectionId)) continue;
    push('dashboard', {
      id: d.id, model: 'dashboard', name: d.name, description: d.description, archived: d.archived ?? false,
      collection: collectionRef(d.collectionId), collection_position: null, created_at: '2026-03-01T12:00:00.000Z',
      creator_id: d.creatorId, creator_common_name: people(d.creatorId), last_edited_at: '2026-03-05T08:00:00.700Z',
      last_editor_id: d.creatorId, last_editor_common_name: people(d.creatorId), updated_at: '2026-03-05T08:00:00.654Z', scores: [],
    });
  }
  for (const c of readableCollections(ctx.instance, ctx.principal)) {
    if (c.archived !== archived || !matches(c.name, c.description) || !wanted(c.id) || collection !== undefined) continue;
    if (c.personalOwnerId !== null && c.personalOwnerId !== ctx.principal.user.id) continue;
    push('collection', {
      id: c.id, model: 'collection', name: c.name, description: c.description, archived: c.archived, authority_level: c.authorityLevel,
      collection: { id: c.id, name: c.name, authority_level: c.authorityLevel, type: null }, location: c.location, scores: [],
    });
  }
  if (!archived && collection === undefined && (tableDbId === undefined || tableDbId === SAMPLE_DATABASE_ID)) {
    for (const t of sampleTables()) {
      if (!matches(t.displayName, t.description) || !wanted(t.id)) continue;
      push('table', {
        id: t.id, model: 'table', name: t.name, display_name: t.displayName, description: t.description, table_id: t.id,
        table_name: t.name, table_schema: 'PUBLIC', database_id: SAMPLE_DATABASE_ID, archived: false, collection: { id: null, name: null }, scores: [],
      });
    }
    if (matches('Sample Database', null) && wanted(SAMPLE_DATABASE_ID) && tableDbId === undefined) {
      push('database', { id: SAMPLE_DATABASE_ID, model: 'database', name: 'Sample Database', description: null, archived: false, collection: { id: null, name: null }, scores: [] });
    }
  }
  // Search-only models: segments (table-level, outside collections), and actions and indexed entities, which
  // live on a model card and are visible to whoever reads the model's collection.
  const onSampleDb = tableDbId === undefined || tableDbId === SAMPLE_DATABASE_ID;
  const edited = (userId: number): Record<string, unknown> => ({
    created_at: '2026-03-01T12:00:00.000Z', creator_id: userId, creator_common_name: people(userId), last_edited_at: '2026-03-05T08:00:00.700Z',
    last_editor_id: userId, last_editor_common_name: people(userId), updated_at: '2026-03-05T08:00:00.654Z',
  });
  if (!archived && collection === undefined && onSampleDb && ctx.instance.dataPermission(ctx.principal, SAMPLE_DATABASE_ID).viewData !== 'blocked') {
    for (const sg of SEGMENTS) {
      const table = tableById(sg.tableId)!;
      if (!matches(sg.name, sg.description) || !wanted(sg.id)) continue;
      push('segment', {
        id: sg.id, model: 'segment', name: sg.name, description: sg.description, archived: false,
        collection: { id: null, name: null, authority_level: null, type: null }, collection_position: null,
        database_id: SAMPLE_DATABASE_ID, table_id: table.id, table_name: table.name, table_schema: 'PUBLIC', table_description: table.description,
        moderated_status: null, dashboard: null, ...edited(sg.creatorId), scores: [],
      });
    }
  }
  const readableModel = (modelId: number): CardDef | undefined => {
    const model = CARDS.find((c) => c.id === modelId && c.type === 'model' && !c.archived);
    return model && inScope(model.collectionId) && ctx.instance.canRead(ctx.principal, model.collectionId) ? model : undefined;
  };
  if (!archived && onSampleDb) {
    for (const a of ACTIONS) {
      const model = readableModel(a.modelId);
      if (!model || !matches(a.name, a.description) || !wanted(a.id)) continue;
      push('action', {
        id: a.id, model: 'action', name: a.name, description: a.description, archived: false,
        collection: collectionRef(model.collectionId), collection_position: null, database_id: SAMPLE_DATABASE_ID, table_id: null,
        model_id: model.id, model_name: model.name, action_type: a.type, moderated_status: null, dashboard: null, ...edited(a.creatorId), scores: [],
      });
    }
    for (const ix of MODEL_INDEXES) {
      const model = readableModel(ix.modelId);
      if (!model) continue;
      for (const v of ctx.indexedValues) {
        if (v.modelIndexId !== ix.id || !matches(v.value, null) || !wanted(v.pk)) continue;
        push('indexed-entity', {
          id: v.pk, model: 'indexed-entity', name: v.value, description: null, archived: null,
          collection: collectionRef(model.collectionId), collection_position: null, database_id: SAMPLE_DATABASE_ID, table_id: null,
          model_id: model.id, model_name: model.name, model_index_id: ix.id, pk_ref: ['field', fieldByName(ix.table, ix.pkField).id, null],
          scores: [],
        });
      }
    }
  }
  data.sort((a, b) => String(a['name']).localeCompare(String(b['name'])) || String(a['model']).localeCompare(String(b['model'])));
  const paging = ctx.paging ?? { limit: 50, offset: 0 };
  return json({
    data: page(data, paging), total: data.length, limit: paging.limit, offset: paging.offset,
    models: models.length ? models : null, available_models: [...available].sort(), table_db_id: tableDbId ?? null,
  });
}

export const contentRoutes: Route<RouteContext>[] = [
  route('GET', '/api/card', (ctx) => {
    ctx.query.closed(['f', 'model_id']);
    const f = ctx.query.oneOf('f', CARD_FILTERS) ?? 'all';
    const modelId = ctx.query.positiveInt('model_id');
    if (['database', 'table', 'using_model', 'using_segment'].includes(f) && modelId === undefined) {
      throw invalid('model_id', 'model_id is a required parameter when filter mode is ' + f, `value must be an integer greater than zero., received: nil`);
    }
    const cards = CARDS.filter((c) => {
      if (!ctx.instance.canRead(ctx.principal, c.collectionId)) return false;
      if ((c.archived ?? false) !== (f === 'archived')) return false;
      const q = cardQuery(c);
      switch (f) {
        case 'mine': return c.creatorId === ctx.principal.user.id;
        case 'bookmarked': case 'using_model': case 'using_segment': return false;
        case 'database': return q.database === modelId;
        case 'table': return q.kind === 'structured' && q.sourceTable === modelId;
        default: return true;
      }
    });
    return json(cards.map((c) => serializeCard(ctx.instance, ctx.principal, c)));
  }),

  route('GET', '/api/card/:id', (ctx, params) => {
    ctx.query.closed(['legacy-mbql']);
    const legacyMbql = ctx.query.boolean('legacy-mbql');
    return json(serializeCard(ctx.instance, ctx.principal, readableCard(ctx, params['id']!), { legacyMbql }));
  }),

  route('POST', '/api/cards/dashboards', async (ctx) => {
    const body = await ctx.body();
    const ids = body['card_ids'];
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 1)) {
      throw invalid('card_ids', 'sequence of value must be an integer greater than zero.', `should be a sequence of positive integers, received: ${received(ids)}`);
    }
    return json((ids as number[]).map((cardId) => ({
      card_id: cardId,
      dashboards: DASHBOARDS.filter((d) => !d.archived && d.dashcards.some((dc) => dc.cardId === cardId || dc.series?.includes(cardId))).map((d) =>
        ctx.instance.canRead(ctx.principal, d.collectionId) ? { id: d.id, name: d.name } : { error: 'unreadable-dashboard' }),
    })));
  }),

  route('GET', '/api/dashboard', (ctx) => {
    const f = ctx.query.oneOf('f', ['all', 'mine', 'archived'] as const) ?? 'all';
    const list = DASHBOARDS.filter((d) => ctx.instance.canRead(ctx.principal, d.collectionId)
      && (d.archived ?? false) === (f === 'archived') && (f !== 'mine' || d.creatorId === ctx.principal.user.id));
    return json(list.map((d) => serializeDashboard(ctx.instance, ctx.principal, d, false)));
  }),

  route('GET', '/api/dashboard/:id', (ctx, params) =>
    json(serializeDashboard(ctx.instance, ctx.principal, readableDashboard(ctx, params['id']!), true))),

  route('GET', '/api/collection', (ctx) => {
    const archived = ctx.query.boolean('archived');
    const excludeOthers = ctx.query.boolean('exclude-other-user-collections');
    const personalOnly = ctx.query.boolean('personal-only');
    ctx.query.string('namespace');
    const list = readableCollections(ctx.instance, ctx.principal)
      .filter((c) => c.archived === archived)
      .filter((c) => !personalOnly || c.personalOwnerId !== null)
      .filter((c) => !excludeOthers || c.personalOwnerId === null || c.personalOwnerId === ctx.principal.user.id)
      .map((c) => serializeCollection(ctx.instance, ctx.principal, c));
    return json(archived || personalOnly ? list : [serializeRoot(ctx.instance, ctx.principal), ...list]);
  }),

  route('GET', '/api/collection/root', (ctx) => {
    ctx.query.string('namespace');
    return json(serializeRoot(ctx.instance, ctx.principal));
  }),

  route('GET', '/api/collection/tree', (ctx) => {
    const excludeArchived = ctx.query.boolean('exclude-archived');
    const excludeOthers = ctx.query.boolean('exclude-other-user-collections');
    const shallow = ctx.query.boolean('shallow');
    ctx.query.boolean('include-library');
    const from = ctx.query.positiveInt('collection-id');
    if (from !== undefined && !collectionById(from)) throw notFound();
    return json(tree(ctx, from ?? null, shallow, excludeArchived, excludeOthers));
  }),

  route('GET', '/api/collection/root/items', (ctx) => {
    if (!ctx.instance.canRead(ctx.principal, null)) throw forbidden();
    return collectionItems(ctx, null);
  }),

  route('GET', '/api/collection/trash/items', (ctx) => collectionItems(ctx, 'trash')),

  // The Trash is a collection of its own since v0.50; archived items are listed in it.
  route('GET', '/api/collection/trash', (ctx) => json({
    id: TRASH_COLLECTION_ID, name: 'Trash', description: null, entity_id: entityId('collection', 'trash'), slug: 'trash', location: '/',
    parent_id: null, personal_owner_id: null, is_personal: false, namespace: null, type: 'trash', authority_level: null,
    archived: false, can_write: ctx.instance.canWrite(ctx.principal, null), effective_ancestors: [], effective_location: '/', created_at: '2026-03-01T12:00:00.000Z',
  })),

  route('GET', '/api/collection/:id/items', (ctx, params) => collectionItems(ctx, readableCollection(ctx, params['id']!).id)),

  route('GET', '/api/collection/:id', (ctx, params) => json(serializeCollection(ctx.instance, ctx.principal, readableCollection(ctx, params['id']!)))),

  route('GET', '/api/database', (ctx) => {
    const include = ctx.query.oneOf('include', ['tables'] as const);
    const db = serializeDatabase(ctx.instance, ctx.principal);
    const withTables = include === 'tables' ? { ...db, tables: sampleTables().map((t) => serializeTable(t, false)) } : db;
    return json({ data: [withTables], total: 1 });
  }),

  route('GET', '/api/database/:id', (ctx, params) => {
    if (positiveInt('id', params['id']!) !== SAMPLE_DATABASE_ID) throw notFound();
    return json(serializeDatabase(ctx.instance, ctx.principal));
  }),

  route('GET', '/api/database/:id/metadata', (ctx, params) => {
    if (positiveInt('id', params['id']!) !== SAMPLE_DATABASE_ID) throw notFound();
    for (const flag of ['include_hidden', 'include_editable_data_model', 'remove_inactive']) ctx.query.boolean(flag);
    const skipFields = ctx.query.boolean('skip_fields');
    const perms = ctx.instance.dataPermission(ctx.principal, SAMPLE_DATABASE_ID);
    if (perms.viewData === 'blocked') {
      // Blocked data access: only the database's name, id and tables.
      return json({ id: SAMPLE_DATABASE_ID, name: 'Sample Database', tables: sampleTables().map((t) => ({ id: t.id, name: t.name, display_name: t.displayName, schema: 'PUBLIC' })) });
    }
    return json({ ...serializeDatabase(ctx.instance, ctx.principal), tables: sampleTables().map((t) => serializeTable(t, !skipFields)) });
  }),

  route('GET', '/api/search', searchItems),
];

export const unknownEndpoint = (): ReturnType<typeof text> => text('API endpoint does not exist.', 404);
