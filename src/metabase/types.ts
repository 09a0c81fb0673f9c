/**
 * What the Metabase client returns: Metabase's objects read into typed, camel-cased records with
 * only the fields the gateway uses. `read*` functions turn upstream JSON into these; they check what
 * is required, default what is optional and ignore the rest.
 */
import { Reader, ShapeError } from './decode.js';
import { RawRows } from './raw-rows.js';
import { readDatasetQuery, type DatasetQuery } from './dataset-query.js';

export interface UserSummary { readonly id: number; readonly email: string | null; readonly commonName: string | null }

export interface CurrentUser {
  readonly id: number;
  readonly email: string;
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly commonName: string | null;
  readonly isSuperuser: boolean;
  readonly isActive: boolean;
  readonly groupIds: readonly number[];
  readonly personalCollectionId: number | null;
}

export interface Parameter {
  readonly id: string;
  readonly name: string;
  readonly slug: string;
  readonly type: string;
  readonly target: unknown;
  readonly required: boolean;
  readonly default: unknown;
}

export interface ResultColumn {
  readonly name: string;
  readonly displayName: string;
  readonly baseType: string;
  readonly effectiveType: string | null;
  readonly semanticType: string | null;
}

export type CardType = 'question' | 'model' | 'metric';

export interface Card {
  readonly id: number;
  readonly entityId: string | null;
  readonly name: string;
  readonly description: string | null;
  readonly type: CardType;
  readonly display: string | null;
  readonly databaseId: number | null;
  readonly tableId: number | null;
  readonly collectionId: number | null;
  readonly dashboardId: number | null;
  readonly archived: boolean;
  readonly creatorId: number | null;
  readonly creator: UserSummary | null;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
  readonly query: DatasetQuery;
  readonly parameters: readonly Parameter[];
  readonly resultColumns: readonly ResultColumn[] | null;
  readonly canWrite: boolean | null;
}

/** A dashboard card the caller cannot read: Metabase keeps only its id. */
export interface RestrictedCard { readonly id: number; readonly restricted: true }

export interface ParameterMapping { readonly parameterId: string; readonly cardId: number | null; readonly target: unknown }

export interface Dashcard {
  readonly id: number;
  readonly tabId: number | null;
  /** null for virtual cards: text, headings, links. */
  readonly cardId: number | null;
  readonly card: Card | RestrictedCard | null;
  /** The text of a virtual text or heading card. */
  readonly text: string | null;
  readonly row: number;
  readonly col: number;
  readonly sizeX: number;
  readonly sizeY: number;
  readonly series: readonly (Card | RestrictedCard)[];
  readonly parameterMappings: readonly ParameterMapping[];
}

export interface DashboardTab { readonly id: number; readonly name: string; readonly position: number }

export interface Dashboard {
  readonly id: number;
  readonly entityId: string | null;
  readonly name: string;
  readonly description: string | null;
  readonly collectionId: number | null;
  readonly archived: boolean;
  readonly creatorId: number | null;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
  readonly parameters: readonly Parameter[];
  readonly tabs: readonly DashboardTab[];
  /** Empty on dashboard lists, which Metabase sends without cards. */
  readonly dashcards: readonly Dashcard[];
  readonly canWrite: boolean | null;
}

export interface Collection {
  readonly id: number | 'root';
  readonly name: string;
  readonly description: string | null;
  readonly location: string | null;
  readonly isPersonal: boolean;
  readonly personalOwnerId: number | null;
  readonly authorityLevel: string | null;
  readonly archived: boolean;
  readonly canWrite: boolean | null;
}

export interface CollectionTreeNode extends Collection {
  readonly here: readonly string[];
  readonly below: readonly string[];
  readonly children: readonly CollectionTreeNode[];
}

export interface CollectionItem {
  readonly id: number;
  readonly model: string;
  readonly name: string;
  readonly description: string | null;
  readonly display: string | null;
  readonly archived: boolean;
  readonly canWrite: boolean | null;
}

export interface Page<T> { readonly data: readonly T[]; readonly total: number; readonly limit: number | null; readonly offset: number | null }

export interface Field {
  readonly id: number;
  readonly tableId: number;
  readonly name: string;
  readonly displayName: string;
  readonly baseType: string;
  readonly effectiveType: string | null;
  readonly semanticType: string | null;
  readonly databaseType: string | null;
  readonly fkTargetFieldId: number | null;
  readonly position: number | null;
  readonly description: string | null;
  readonly visibilityType: string | null;
}

export interface Table {
  readonly id: number;
  readonly databaseId: number;
  readonly name: string;
  readonly displayName: string;
  readonly schema: string | null;
  readonly description: string | null;
  readonly entityType: string | null;
  readonly visibilityType: string | null;
  readonly fields: readonly Field[];
}

export interface Database {
  readonly id: number;
  readonly name: string;
  readonly engine: string | null;
  readonly description: string | null;
  readonly isSample: boolean;
  readonly nativePermissions: string | null;
  readonly features: readonly string[];
  readonly timezone: string | null;
  /** Present on metadata reads and on lists asked with `include=tables`. */
  readonly tables: readonly Table[];
}

export interface SearchResult {
  readonly id: number;
  readonly model: string;
  readonly name: string;
  readonly description: string | null;
  readonly archived: boolean;
  readonly collectionId: number | 'root' | null;
  readonly databaseId: number | null;
  readonly display: string | null;
}

/** What a filter may be set to (`GET /api/{dashboard|card}/:id/params/:key/values`, §4.15). */
export interface ParameterValues {
  /** Each value, with the text Metabase shows for it where the field is remapped. */
  readonly values: readonly { readonly value: string | number | boolean; readonly label: string | null }[];
  /** True when Metabase capped the list (at 1,000 values). */
  readonly hasMore: boolean;
}

export interface Group { readonly id: number; readonly name: string; readonly memberCount: number | null; readonly magicGroupType: string | null }

export interface CardDashboards {
  readonly cardId: number;
  readonly dashboards: readonly ({ readonly id: number; readonly name: string } | { readonly error: string })[];
}

export interface QueryResult {
  readonly status: 'completed';
  /** The rows as values (parsed on first read when they came as text). */
  readonly rows: readonly (readonly unknown[])[];
  /** The rows as Metabase's JSON text, checked but not parsed: what the gateway passes on. Null when they were parsed. */
  readonly rowsJson: RawRows | null;
  readonly columns: readonly ResultColumn[];
  readonly rowCount: number;
  /** The row limit Metabase applied when it cut the result, else null. */
  readonly truncatedAt: number | null;
  readonly runningTimeMs: number | null;
  readonly startedAt: string | null;
  readonly cached: boolean;
  readonly context: string | null;
}

// --- readers -----------------------------------------------------------------------------------

const CARD_TYPES: readonly CardType[] = ['question', 'model', 'metric'];

const readUserSummary = (r: Reader): UserSummary => ({ id: r.int('id'), email: r.optStr('email'), commonName: r.optStr('common_name') });

export function readCurrentUser(r: Reader): CurrentUser {
  return {
    id: r.int('id'), email: r.str('email'), firstName: r.optStr('first_name'), lastName: r.optStr('last_name'),
    commonName: r.optStr('common_name'), isSuperuser: r.bool('is_superuser', false), isActive: r.bool('is_active', true),
    groupIds: r.ints('group_ids'), personalCollectionId: r.optInt('personal_collection_id'),
  };
}

export function readParameter(r: Reader): Parameter {
  return {
    id: r.str('id'), name: r.optStr('name') ?? r.str('id'), slug: r.optStr('slug') ?? r.str('id'), type: r.str('type'),
    target: r.raw('target') ?? null, required: r.bool('required', false), default: r.raw('default') ?? null,
  };
}

export function readColumn(r: Reader): ResultColumn {
  const name = r.str('name');
  return {
    name, displayName: r.optStr('display_name') ?? name, baseType: r.optStr('base_type') ?? 'type/*',
    effectiveType: r.optStr('effective_type'), semanticType: r.optStr('semantic_type'),
  };
}

export function readCard(r: Reader): Card {
  const rawType = r.optStr('type');
  // Before v0.49 models were `dataset: true` and there was no `type`.
  const type: CardType = rawType && (CARD_TYPES as string[]).includes(rawType) ? (rawType as CardType) : r.bool('dataset', false) ? 'model' : 'question';
  const creator = r.optObject('creator');
  return {
    id: r.int('id'), entityId: r.optStr('entity_id'), name: r.str('name'), description: r.optStr('description'), type,
    display: r.optStr('display'), databaseId: r.optInt('database_id'), tableId: r.optInt('table_id'),
    collectionId: r.optInt('collection_id'), dashboardId: r.optInt('dashboard_id'), archived: r.bool('archived', false),
    creatorId: r.optInt('creator_id'), creator: creator ? readUserSummary(creator) : null,
    createdAt: r.optStr('created_at'), updatedAt: r.optStr('updated_at'), query: readDatasetQuery(r.raw('dataset_query')),
    parameters: r.list('parameters', readParameter),
    resultColumns: r.has('result_metadata') ? r.list('result_metadata', readColumn) : null,
    canWrite: r.has('can_write') ? r.bool('can_write', false) : null,
  };
}

/** A dashcard's card: full, or cut to `{id}` when the caller cannot read it. */
function readEmbeddedCard(r: Reader): Card | RestrictedCard {
  return r.has('name') ? readCard(r) : { id: r.int('id'), restricted: true };
}

export function readDashcard(r: Reader): Dashcard {
  const cardId = r.optInt('card_id');
  const settings = r.optObject('visualization_settings');
  const card = cardId === null ? null : readEmbeddedCard(r.optObject('card') ?? Reader.of({ id: cardId }, `${r.path}.card`));
  return {
    id: r.int('id'), tabId: r.optInt('dashboard_tab_id'), cardId, card,
    text: cardId === null ? (settings?.optStr('text') ?? null) : null,
    row: r.optInt('row') ?? 0, col: r.optInt('col') ?? 0, sizeX: r.optInt('size_x') ?? 0, sizeY: r.optInt('size_y') ?? 0,
    series: r.list('series', readEmbeddedCard),
    parameterMappings: r.list('parameter_mappings', (m) => ({ parameterId: m.str('parameter_id'), cardId: m.optInt('card_id'), target: m.raw('target') ?? null })),
  };
}

export function readDashboard(r: Reader): Dashboard {
  return {
    id: r.int('id'), entityId: r.optStr('entity_id'), name: r.str('name'), description: r.optStr('description'),
    collectionId: r.optInt('collection_id'), archived: r.bool('archived', false), creatorId: r.optInt('creator_id'),
    createdAt: r.optStr('created_at'), updatedAt: r.optStr('updated_at'), parameters: r.list('parameters', readParameter),
    tabs: r.list('tabs', (t) => ({ id: t.int('id'), name: t.str('name'), position: t.optInt('position') ?? 0 })),
    dashcards: r.list('dashcards', readDashcard), canWrite: r.has('can_write') ? r.bool('can_write', false) : null,
  };
}

export function readCollection(r: Reader): Collection {
  const id = r.id('id');
  return {
    id: id === 'root' ? 'root' : typeof id === 'number' ? id : r.int('id'), name: r.str('name'), description: r.optStr('description'),
    location: r.optStr('location'), isPersonal: r.bool('is_personal', r.optInt('personal_owner_id') !== null),
    personalOwnerId: r.optInt('personal_owner_id'), authorityLevel: r.optStr('authority_level'), archived: r.bool('archived', false),
    canWrite: r.has('can_write') ? r.bool('can_write', false) : null,
  };
}

export function readTreeNode(r: Reader): CollectionTreeNode {
  return { ...readCollection(r), here: r.strings('here'), below: r.strings('below'), children: r.list('children', readTreeNode) };
}

export function readCollectionItem(r: Reader): CollectionItem {
  return {
    id: r.int('id'), model: r.str('model'), name: r.str('name'), description: r.optStr('description'), display: r.optStr('display'),
    archived: r.bool('archived', false), canWrite: r.has('can_write') ? r.bool('can_write', false) : null,
  };
}

export function readPage<T>(r: Reader, read: (item: Reader) => T): Page<T> {
  return { data: r.list('data', read), total: r.int('total'), limit: r.optInt('limit'), offset: r.optInt('offset') };
}

export function readField(r: Reader): Field {
  return {
    id: r.int('id'), tableId: r.int('table_id'), name: r.str('name'), displayName: r.optStr('display_name') ?? r.str('name'),
    baseType: r.optStr('base_type') ?? 'type/*', effectiveType: r.optStr('effective_type'), semanticType: r.optStr('semantic_type'),
    databaseType: r.optStr('database_type'), fkTargetFieldId: r.optInt('fk_target_field_id'), position: r.optInt('position'),
    description: r.optStr('description'), visibilityType: r.optStr('visibility_type'),
  };
}

export function readTable(r: Reader, databaseId: number): Table {
  return {
    id: r.int('id'), databaseId: r.optInt('db_id') ?? databaseId, name: r.str('name'), displayName: r.optStr('display_name') ?? r.str('name'),
    schema: r.optStr('schema'), description: r.optStr('description'), entityType: r.optStr('entity_type'),
    visibilityType: r.optStr('visibility_type'), fields: r.list('fields', readField),
  };
}

export function readDatabase(r: Reader): Database {
  const id = r.int('id');
  return {
    id, name: r.str('name'), engine: r.optStr('engine'), description: r.optStr('description'), isSample: r.bool('is_sample', false),
    nativePermissions: r.optStr('native_permissions'), features: r.has('features') ? r.strings('features') : [],
    timezone: r.optStr('timezone'), tables: r.list('tables', (t) => readTable(t, id)),
  };
}

export function readSearchResult(r: Reader): SearchResult {
  const collection = r.optObject('collection');
  const collectionId = collection?.raw('id');
  return {
    id: r.int('id'), model: r.str('model'), name: r.str('name'), description: r.optStr('description'), archived: r.bool('archived', false),
    collectionId: collectionId === 'root' ? 'root' : typeof collectionId === 'number' ? collectionId : null,
    databaseId: r.optInt('database_id'), display: r.optStr('display'),
  };
}

export function readParameterValues(r: Reader): ParameterValues {
  const values = r.array('values').flatMap((entry, i) => {
    const where = `${r.path}.values[${i}]`;
    if (!Array.isArray(entry) || entry.length < 1 || entry.length > 2) throw new ShapeError(where, '[value] or [value, display]', entry);
    const [value, label] = entry as unknown[];
    // A null value (an empty field) is no value a filter can take.
    if (value === null) return [];
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw new ShapeError(`${where}[0]`, 'a string, number or boolean', value);
    if (label !== undefined && label !== null && typeof label !== 'string') throw new ShapeError(`${where}[1]`, 'a string', label);
    return [{ value, label: typeof label === 'string' ? label : null }];
  });
  return { values, hasMore: r.bool('has_more_values', false) };
}

export function readGroup(r: Reader): Group {
  return { id: r.int('id'), name: r.str('name'), memberCount: r.optInt('member_count'), magicGroupType: r.optStr('magic_group_type') };
}

export function readCardDashboards(r: Reader): CardDashboards {
  return {
    cardId: r.int('card_id'),
    dashboards: r.list('dashboards', (d) => (d.has('error') ? { error: d.str('error') } : { id: d.int('id'), name: d.str('name') })),
  };
}

/** A completed run. Failed runs never reach here: the transport turns them into errors first. */
export function readQueryResult(r: Reader): QueryResult {
  const data = r.optObject('data') ?? Reader.of({}, `${r.path}.data`);
  const cached = r.raw('cached');
  const rest = {
    status: 'completed' as const, columns: data.list('cols', readColumn), rowCount: r.int('row_count'),
    truncatedAt: data.optInt('rows_truncated'), runningTimeMs: r.optNum('running_time'), startedAt: r.optStr('started_at'),
    // `cached` is a timestamp string on cache hits and null otherwise.
    cached: cached !== null && cached !== undefined && cached !== false, context: r.optStr('context'),
  };
  const text = data.raw('rows');
  if (text instanceof RawRows) {
    // Already checked (every row an array) by the scan that kept them as text.
    let parsed: unknown[][] | undefined;
    return { ...rest, rowsJson: text, get rows() {
      return (parsed ??= text.parse());
    } };
  }
  // Checked in place, not copied: the rows are the bulk of the answer.
  const rows = data.array('rows');
  for (let i = 0; i < rows.length; i++) {
    if (!Array.isArray(rows[i])) throw new ShapeError(`${data.path}.rows[${i}]`, 'an array', rows[i]);
  }
  return { ...rest, rows: rows as unknown[][], rowsJson: null };
}

export const readArray = <T>(value: unknown, path: string, read: (r: Reader) => T): T[] => {
  if (!Array.isArray(value)) throw new ShapeError(path, 'an array', value);
  return value.map((item, i) => read(Reader.of(item, `${path}[${i}]`)));
};
