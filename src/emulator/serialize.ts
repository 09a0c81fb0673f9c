/**
 * The JSON shapes Metabase answers with (API-CONTRACT.md §4): cards, dashboards, collections,
 * databases and users, with the field names of the contract. Readers never see internal records.
 */
import { createHash } from 'node:crypto';
import {
  CARDS, COLLECTIONS, CREATED_AT, DASHBOARDS, UPDATED_AT, SAMPLE_DATABASE_ID,
  type CardDef, type CollectionDef, type DashboardDef, type DashcardDef,
} from './content.js';
import { collectionById, type Instance, type Principal, type UserRecord } from './instance.js';
import { SAMPLE_FIELDS, SAMPLE_TABLES, type FieldDef, type TableDef } from './sample-schema.js';
import { normalizeDatasetQuery, toLegacy, toMbql5, type NormalizedQuery } from './sql/dataset-query.js';

export const METABASE_VERSION = 'v0.59.4';

/** A stable 21-character NanoID per object, so `entity_id` lookups work across restarts. */
export function entityId(model: string, id: number | string): string {
  return createHash('sha256').update(`${model}:${id}`).digest('base64url').slice(0, 21);
}

export function userSummary(u: UserRecord): Record<string, unknown> {
  return { id: u.id, email: u.email, first_name: u.firstName, last_name: u.lastName, common_name: commonName(u) };
}

const commonName = (u: UserRecord): string => [u.firstName, u.lastName].filter(Boolean).join(' ');

export function lastEditInfo(instance: Instance, userId: number, timestamp: string): Record<string, unknown> {
  const u = instance.users.get(userId)!;
  return { id: u.id, email: u.email, first_name: u.firstName, last_name: u.lastName, timestamp };
}

// --- Cards -------------------------------------------------------------------------------------

const normalizedCards = new Map<number, NormalizedQuery>();

/** A card's query, read once from its definition. */
export function cardQuery(card: CardDef): NormalizedQuery {
  let q = normalizedCards.get(card.id);
  if (!q) {
    q = normalizeDatasetQuery(card.query);
    normalizedCards.set(card.id, q);
  }
  return q;
}

export const dashboardCount = (cardId: number): number =>
  DASHBOARDS.filter((d) => !d.archived && d.dashcards.some((dc) => dc.cardId === cardId || dc.series?.includes(cardId))).length;

export const cardById = (id: number | string): CardDef | undefined =>
  CARDS.find((c) => (typeof id === 'number' ? c.id === id : entityId('card', c.id) === id));

/** The parameter type Metabase gives a card parameter for each template-tag type. */
const TAG_PARAMETER_TYPES: Record<string, string> = { text: 'category', number: 'number/=', date: 'date/single', boolean: 'boolean/=' };

export function cardParameters(card: CardDef): Record<string, unknown>[] {
  const q = cardQuery(card);
  if (q.kind !== 'native') return [];
  return Object.values(q.templateTags).map((t) => {
    const dimension = t.type === 'dimension';
    const p: Record<string, unknown> = {
      id: t.id,
      name: t['display-name'] ?? t.name,
      slug: t.name,
      type: dimension ? (t['widget-type'] ?? 'category') : (TAG_PARAMETER_TYPES[t.type] ?? 'category'),
      target: [dimension ? 'dimension' : 'variable', ['template-tag', t.name]],
    };
    if (t.required) p['required'] = true;
    if (t.default !== undefined && t.default !== null) p['default'] = t.default;
    return p;
  });
}

export interface CardView {
  readonly legacyMbql?: boolean;
  /** Result columns from the card's last run, when there was one. */
  readonly resultMetadata?: unknown[] | null;
}

export function serializeCard(instance: Instance, p: Principal, card: CardDef, view: CardView = {}): Record<string, unknown> {
  const q = cardQuery(card);
  const collection = card.collectionId === null ? null : collectionById(card.collectionId)!;
  return {
    id: card.id,
    entity_id: entityId('card', card.id),
    name: card.name,
    description: card.description,
    type: card.type,
    display: card.display,
    query_type: q.kind === 'native' ? 'native' : 'query',
    database_id: q.database,
    table_id: q.kind === 'structured' ? q.sourceTable : null,
    collection_id: card.collectionId,
    collection_position: null,
    collection_preview: true,
    dashboard_id: null,
    archived: card.archived ?? false,
    archived_directly: card.archived ?? false,
    creator_id: card.creatorId,
    creator: userSummary(instance.users.get(card.creatorId)!),
    created_at: CREATED_AT,
    updated_at: UPDATED_AT,
    'last-edit-info': lastEditInfo(instance, card.creatorId, UPDATED_AT),
    dataset_query: view.legacyMbql ? toLegacy(q) : toMbql5(q),
    parameters: cardParameters(card),
    parameter_mappings: [],
    result_metadata: view.resultMetadata ?? null,
    visualization_settings: {},
    cache_ttl: null,
    enable_embedding: false,
    embedding_params: null,
    made_public_by_id: null,
    public_uuid: null,
    can_write: instance.canWrite(p, card.collectionId),
    can_restore: false,
    can_delete: false,
    can_manage_db: instance.dataPermission(p, q.database).createQueries === 'query-builder-and-native' && p.isSuperuser,
    dashboard_count: dashboardCount(card.id),
    dashboard: null,
    average_query_time: null,
    last_query_start: null,
    parameter_usage_count: 0,
    param_fields: {},
    moderation_reviews: [],
    collection: collection ? collectionSummary(collection) : rootSummary(),
  };
}

// --- Dashboards --------------------------------------------------------------------------------

export function serializeDashboard(instance: Instance, p: Principal, d: DashboardDef, withCards: boolean): Record<string, unknown> {
  const base: Record<string, unknown> = {
    id: d.id,
    entity_id: entityId('dashboard', d.id),
    name: d.name,
    description: d.description,
    collection_id: d.collectionId,
    collection_position: null,
    collection_authority_level: null,
    archived: d.archived ?? false,
    archived_directly: d.archived ?? false,
    creator_id: d.creatorId,
    creator: userSummary(instance.users.get(d.creatorId)!),
    created_at: CREATED_AT,
    updated_at: UPDATED_AT,
    auto_apply_filters: true,
    width: 'fixed',
    cache_ttl: null,
    enable_embedding: false,
    embedding_params: null,
    public_uuid: null,
    made_public_by_id: null,
    position: null,
    show_in_getting_started: false,
    caveats: null,
    points_of_interest: null,
    can_write: instance.canWrite(p, d.collectionId),
    can_restore: false,
    can_delete: false,
    'last-edit-info': lastEditInfo(instance, d.creatorId, UPDATED_AT),
    parameters: d.parameters.map((x) => {
      const out: Record<string, unknown> = { id: x.id, name: x.name, slug: x.slug, type: x.type, sectionId: x.sectionId };
      if (x.default !== undefined) out['default'] = x.default;
      if (x.required) out['required'] = true;
      return out;
    }),
  };
  if (!withCards) return base;
  const collection = d.collectionId === null ? null : collectionById(d.collectionId)!;
  return {
    ...base,
    tabs: d.tabs.map((t, position) => ({
      id: t.id, dashboard_id: d.id, entity_id: entityId('tab', t.id), name: t.name, position, created_at: CREATED_AT, updated_at: CREATED_AT,
    })),
    dashcards: d.dashcards.map((dc) => serializeDashcard(instance, p, d, dc)),
    param_fields: {},
    collection: collection ? collectionSummary(collection) : rootSummary(),
  };
}

function serializeDashcard(instance: Instance, p: Principal, d: DashboardDef, dc: DashcardDef): Record<string, unknown> {
  const common = {
    id: dc.id, entity_id: entityId('dashcard', dc.id), dashboard_id: d.id, dashboard_tab_id: dc.tabId,
    action_id: null, row: dc.row, col: dc.col, size_x: dc.sizeX, size_y: dc.sizeY,
    created_at: CREATED_AT, updated_at: CREATED_AT, inline_parameters: [],
  };
  if (dc.cardId === null) {
    const virtual = { name: null, display: 'text', dataset_query: {}, visualization_settings: {} };
    return { ...common, card_id: null, series: [], parameter_mappings: [], card: virtual, visualization_settings: { text: dc.text ?? '', virtual_card: virtual } };
  }
  const embed = (cardId: number): Record<string, unknown> => {
    const card = cardById(cardId)!;
    // Unreadable cards keep their place but are cut down to their id (API-CONTRACT.md §4.8).
    return instance.canRead(p, card.collectionId) ? serializeCard(instance, p, card) : { id: card.id };
  };
  return {
    ...common,
    card_id: dc.cardId,
    card: embed(dc.cardId),
    series: (dc.series ?? []).map(embed),
    parameter_mappings: (dc.mappings ?? []).map((m) => ({ parameter_id: m.parameterId, card_id: m.cardId, target: m.target })),
    visualization_settings: {},
  };
}

// --- Collections -------------------------------------------------------------------------------

export function rootSummary(): Record<string, unknown> {
  return { id: 'root', name: 'Our analytics', authority_level: null, is_personal: false };
}

export function collectionSummary(c: CollectionDef): Record<string, unknown> {
  return { id: c.id, name: c.name, location: c.location, is_personal: c.personalOwnerId !== null, authority_level: c.authorityLevel, type: null };
}

export function serializeRoot(instance: Instance, p: Principal): Record<string, unknown> {
  return {
    id: 'root', name: 'Our analytics', parent_id: null, effective_location: null, effective_ancestors: [],
    authority_level: null, is_personal: false, can_write: instance.canWrite(p, null),
  };
}

/** Ancestors the caller can read, as Metabase lists them in `effective_ancestors`. */
export function ancestorsOf(instance: Instance, p: Principal, c: CollectionDef): CollectionDef[] {
  return c.location.split('/').filter(Boolean).map((id) => collectionById(Number(id))!).filter((a) => instance.canRead(p, a.id));
}

export function serializeCollection(instance: Instance, p: Principal, c: CollectionDef): Record<string, unknown> {
  const ancestors = ancestorsOf(instance, p, c);
  return {
    id: c.id,
    name: c.name,
    description: c.description,
    entity_id: entityId('collection', c.id),
    slug: c.name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, ''),
    location: c.location,
    parent_id: ancestors.at(-1)?.id ?? null,
    personal_owner_id: c.personalOwnerId,
    is_personal: c.personalOwnerId !== null,
    namespace: null,
    type: null,
    authority_level: c.authorityLevel,
    archived: c.archived,
    can_write: instance.canWrite(p, c.id),
    effective_ancestors: [{ ...rootSummaryWithWrite(instance, p) }, ...ancestors.map((a) => ({ id: a.id, name: a.name, can_write: instance.canWrite(p, a.id) }))],
    effective_location: ancestors.length ? `/${ancestors.map((a) => a.id).join('/')}/` : '/',
    created_at: CREATED_AT,
  };
}

const rootSummaryWithWrite = (instance: Instance, p: Principal): Record<string, unknown> =>
  ({ id: 'root', name: 'Our analytics', can_write: instance.canWrite(p, null) });

export const readableCollections = (instance: Instance, p: Principal): CollectionDef[] =>
  COLLECTIONS.filter((c) => instance.canRead(p, c.id));

// --- Databases ---------------------------------------------------------------------------------

export function serializeDatabase(instance: Instance, p: Principal): Record<string, unknown> {
  const perms = instance.dataPermission(p, SAMPLE_DATABASE_ID);
  return {
    id: SAMPLE_DATABASE_ID,
    name: 'Sample Database',
    description: 'Some example data for you to play around with.',
    engine: 'h2',
    is_sample: true,
    is_audit: false,
    is_full_sync: true,
    is_on_demand: false,
    dbms_version: { flavor: 'H2', version: '2.1.214 (2022-06-13)', semantic_version: [2, 1] },
    metadata_sync_schedule: '0 50 * * * ? *',
    cache_field_values_schedule: '0 0 0 * * ? *',
    refingerprint: null,
    options: null,
    features: ['basic-aggregations', 'standard-deviation-aggregations', 'expression-aggregations', 'foreign-keys', 'native-parameters', 'nested-queries', 'expressions', 'case-sensitivity-string-filter-options', 'binning'],
    timezone: 'UTC',
    native_permissions: perms.createQueries === 'query-builder-and-native' ? 'write' : 'none',
    initial_sync_status: 'complete',
    auto_run_queries: true,
    settings: null,
    details: { db: 'sample-database.db' },
    caveats: null,
    points_of_interest: null,
    cache_ttl: null,
    creator_id: null,
    created_at: CREATED_AT,
    updated_at: CREATED_AT,
  };
}

export function serializeTable(t: TableDef, withFields: boolean): Record<string, unknown> {
  const table: Record<string, unknown> = {
    id: t.id, db_id: SAMPLE_DATABASE_ID, name: t.name, display_name: t.displayName, schema: 'PUBLIC',
    description: t.description, entity_type: t.entityType, visibility_type: null, active: true,
    created_at: CREATED_AT, updated_at: CREATED_AT,
  };
  if (withFields) table['fields'] = SAMPLE_FIELDS.filter((f) => f.tableId === t.id).map(serializeField);
  return table;
}

export function serializeField(f: FieldDef): Record<string, unknown> {
  const target = f.fkTarget ? SAMPLE_FIELDS.find((x) => `${x.tableName}.${x.name}` === f.fkTarget) : undefined;
  return {
    id: f.id, table_id: f.tableId, name: f.name, display_name: f.displayName, base_type: f.baseType,
    effective_type: f.baseType, semantic_type: f.semanticType, database_type: f.databaseType,
    fk_target_field_id: target?.id ?? null, position: f.position, visibility_type: 'normal',
    has_field_values: f.semanticType === 'type/Category' || f.semanticType === 'type/State' || f.semanticType === 'type/Source' ? 'list' : 'none',
    fingerprint: null, description: null, active: true, coercion_strategy: null,
  };
}

export const sampleTables = (): readonly TableDef[] => SAMPLE_TABLES;
