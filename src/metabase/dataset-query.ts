/**
 * The client's reading of a card's `dataset_query`, which comes in three shapes (API-CONTRACT.md
 * §4.3): MBQL 5 (`lib/type: mbql/query` with stages), legacy native and legacy MBQL. Everything
 * beyond what the gateway needs stays opaque, as Metabase advises.
 */
import { isObject } from './decode.js';

export interface TemplateTag {
  readonly id: string | null;
  readonly name: string;
  readonly displayName: string;
  readonly type: string;
  readonly required: boolean;
  readonly default: unknown;
  /** For field filters (`type: dimension`): the widget type and the field id. */
  readonly widgetType: string | null;
  readonly fieldId: number | null;
}

export type DatasetQuery =
  | { readonly language: 'native'; readonly databaseId: number | null; readonly sql: string; readonly templateTags: readonly TemplateTag[] }
  | { readonly language: 'structured'; readonly databaseId: number | null; readonly sourceTableId: number | null }
  /** Empty (text cards) or a shape this gateway does not know. */
  | { readonly language: 'unknown'; readonly databaseId: number | null };

const intOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);

export function readDatasetQuery(raw: unknown): DatasetQuery {
  if (!isObject(raw)) return { language: 'unknown', databaseId: null };
  const databaseId = intOrNull(raw['database']);
  // MBQL 5: the first stage says what the query is.
  if (raw['lib/type'] === 'mbql/query' && Array.isArray(raw['stages'])) {
    const stage = raw['stages'][0];
    if (isObject(stage) && stage['lib/type'] === 'mbql.stage/native' && typeof stage['native'] === 'string') {
      return { language: 'native', databaseId, sql: stage['native'], templateTags: readTags(stage['template-tags']) };
    }
    if (isObject(stage) && stage['lib/type'] === 'mbql.stage/mbql') {
      return { language: 'structured', databaseId, sourceTableId: intOrNull(stage['source-table']) };
    }
    return { language: 'unknown', databaseId };
  }
  if (raw['type'] === 'native' && isObject(raw['native']) && typeof raw['native']['query'] === 'string') {
    return { language: 'native', databaseId, sql: raw['native']['query'], templateTags: readTags(raw['native']['template-tags']) };
  }
  if (raw['type'] === 'query' && isObject(raw['query'])) {
    return { language: 'structured', databaseId, sourceTableId: intOrNull(raw['query']['source-table']) };
  }
  return { language: 'unknown', databaseId };
}

/** A field reference: legacy `["field", 12, opts]` or MBQL 5 `["field", opts, 12]`. */
export function fieldIdOf(ref: unknown): number | null {
  if (!Array.isArray(ref) || ref[0] !== 'field') return null;
  return intOrNull(ref[1]) ?? intOrNull(ref[2]);
}

function readTags(raw: unknown): TemplateTag[] {
  if (!isObject(raw)) return [];
  return Object.entries(raw).flatMap(([key, t]) => {
    if (!isObject(t)) return [];
    const name = typeof t['name'] === 'string' ? t['name'] : key;
    return [{
      id: typeof t['id'] === 'string' ? t['id'] : null,
      name,
      displayName: typeof t['display-name'] === 'string' ? t['display-name'] : name,
      type: typeof t['type'] === 'string' ? t['type'] : 'text',
      required: t['required'] === true,
      default: t['default'] ?? null,
      widgetType: typeof t['widget-type'] === 'string' ? t['widget-type'] : null,
      fieldId: fieldIdOf(t['dimension']),
    }];
  });
}
