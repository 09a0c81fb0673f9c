/**
 * Query runs: a saved card, a card on a dashboard, and ad-hoc queries (API-CONTRACT.md §4.4–§4.7, §5).
 * Checks that Metabase makes before it starts streaming answer with plain HTTP errors; checks made
 * inside the query processor (parameters, permissions to run) become failed-run bodies.
 */
import type { CardDef, DashboardDef } from '../content.js';
import { ApiError, closedBody, invalid, notFound, positiveInt, received, text } from '../http.js';
import type { RouteContext } from '../context.js';
import { QueryError } from '../query-error.js';
import { runQuery, type RunPlan, type RunResult } from '../runner.js';
import { cardParameters, cardQuery } from '../serialize.js';
import { normalizeDatasetQuery, type NormalizedQuery, type TemplateTag } from '../sql/dataset-query.js';
import { allowedTypesFor, isParameterTypeAllowed } from '../sql/parameter-types.js';
import { readableCard, readableDashboard } from './content.js';

type TagValues = Map<string, { type: string; value: unknown }>;

/** A template tag by name, as an own property only (never `constructor` or `__proto__`). */
const tagNamed = (tags: Record<string, TemplateTag>, name: string | undefined): TemplateTag | undefined =>
  name !== undefined && Object.hasOwn(tags, name) ? tags[name] : undefined;

const asObject = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

function parameterList(body: Record<string, unknown>, needsId: boolean): Record<string, unknown>[] {
  const raw = body['parameters'];
  if (raw === undefined || raw === null) return [];
  const summary = needsId ? "nullable sequence of value must be a parameter map with an 'id' key" : 'nullable sequence of parameter maps';
  if (!Array.isArray(raw)) throw invalid('parameters', summary, `should be a sequence, received: ${received(raw)}`);
  return raw.map((p) => {
    const o = asObject(p);
    if (!o || (needsId && (typeof o['id'] !== 'string' || o['id'] === ''))) {
      throw invalid('parameters', summary, `value must be a parameter map with an 'id' key, received: ${received(p)}`);
    }
    return o;
  });
}

/** The template-tag name a parameter targets: `["variable"|"dimension", ["template-tag", name | {id}]]`. */
function targetTag(target: unknown, tags: Record<string, TemplateTag>): string | undefined {
  if (!Array.isArray(target) || !Array.isArray(target[1]) || target[1][0] !== 'template-tag') return undefined;
  const ref = target[1][1];
  if (typeof ref === 'string') return ref;
  const byId = asObject(ref)?.['id'];
  return Object.values(tags).find((t) => t.id === byId)?.name;
}

const declaredType = (t: TemplateTag): string => (t.type === 'dimension' ? (t['widget-type'] ?? 'category') : t.type);

/** Raw tags take one value; dashboards send lists for operator types. */
function tagValue(tag: TemplateTag, value: unknown): unknown {
  if (tag.type === 'dimension' || !Array.isArray(value)) return value;
  if (value.length === 0) return null;
  if (value.length === 1) return value[0];
  throw new QueryError('invalid-parameter', `Parameter "${tag.name}" takes a single value, received ${value.length}.`);
}

function checkType(sent: string, tag: TemplateTag, where: string): void {
  const declared = declaredType(tag);
  if (!isParameterTypeAllowed(sent, declared)) {
    throw new QueryError('invalid-parameter', `Invalid parameter type ${sent} for parameter ${where}. Parameter type must be one of: ${allowedTypesFor(declared).join(', ')}`);
  }
}

/** §4.4: the card endpoint accepts template-tag parameters only, checked against the card's tags. */
function cardTagValues(card: CardDef, query: NormalizedQuery, params: Record<string, unknown>[]): TagValues {
  const tags = query.kind === 'native' ? query.templateTags : {};
  const declared = cardParameters(card);
  const values: TagValues = new Map();
  for (const p of params) {
    const known = declared.find((d) => d['id'] === p['id']);
    const target = p['target'] ?? known?.['target'];
    const name = targetTag(target, tags) ?? (typeof p['name'] === 'string' ? p['name'] : String(known?.['slug'] ?? p['id'] ?? ''));
    const tag = tagNamed(tags, name);
    if (!tag) throw new QueryError('invalid-parameter', `Invalid parameter: Card ${card.id} does not have a template tag named "${name}".`);
    const type = typeof p['type'] === 'string' ? p['type'] : typeof known?.['type'] === 'string' ? (known['type'] as string) : declaredType(tag);
    checkType(type, tag, `"${name}"`);
    values.set(name, { type, value: tagValue(tag, p['value'] ?? null) });
  }
  return values;
}

/** §4.6: dashboard parameter ids resolved through this dashcard's mappings; unmapped ones ignored. */
function dashcardValues(d: DashboardDef, dashcardId: number, card: CardDef, query: NormalizedQuery, params: Record<string, unknown>[]): Omit<RunPlan, 'query'> {
  const dashcard = d.dashcards.find((dc) => dc.id === dashcardId)!;
  const tags = query.kind === 'native' ? query.templateTags : {};
  const tagValues: TagValues = new Map();
  const fieldFilters: { fieldId: number; parameterType: string; value: unknown }[] = [];
  for (const p of params) {
    const declared = d.parameters.find((x) => x.id === p['id'])!;
    const mapping = dashcard.mappings?.find((m) => m.parameterId === declared.id && m.cardId === card.id);
    const value = p['value'];
    if (!mapping || value === null || value === undefined) continue;
    const target = mapping.target as unknown[];
    const inner = target[1] as unknown[];
    if (inner[0] === 'template-tag') {
      const name = targetTag(target, tags);
      const tag = tagNamed(tags, name);
      if (!tag) throw new QueryError('invalid-parameter', `Invalid parameter: Card ${card.id} does not have a template tag named "${String(name)}".`);
      tagValues.set(tag.name, { type: declared.type, value: tagValue(tag, value) });
    } else if (inner[0] === 'field' && query.kind === 'structured') {
      const fieldId = typeof inner[1] === 'number' ? inner[1] : inner[2];
      fieldFilters.push({ fieldId: Number(fieldId), parameterType: declared.type, value });
    }
  }
  return { tagValues, fieldFilters };
}

/** Checked before the run starts, so Metabase answers 400 whatever its failure mode (§4.6). */
function checkDashboardParameters(d: DashboardDef, params: Record<string, unknown>[]): void {
  for (const p of params) {
    const declared = d.parameters.find((x) => x.id === p['id']);
    if (!declared) throw new ApiError(text(`Dashboard does not have a parameter with ID "${String(p['id'])}".`, 400));
    if (typeof p['type'] === 'string' && !isParameterTypeAllowed(p['type'], declared.type)) {
      throw new ApiError(text(`Invalid parameter type ${p['type']} for parameter "${declared.slug}". Parameter type must be one of: ${allowedTypesFor(declared.type).join(', ')}`, 400));
    }
  }
}

/** `knobs.failingCardIds`: the warehouse refuses these cards' statements. */
const warehouseRejects = (ctx: RouteContext, card: CardDef): boolean =>
  Array.isArray(ctx.knobs.failingCardIds) && ctx.knobs.failingCardIds.includes(card.id);

function requireRunnable(ctx: RouteContext, query: NormalizedQuery, adHoc: boolean): void {
  const perms = ctx.instance.dataPermission(ctx.principal, query.database);
  const needed = !adHoc ? 'view' : query.kind === 'native' ? 'query-builder-and-native' : 'query-builder';
  const ok = perms.viewData !== 'blocked'
    && (needed === 'view' || perms.createQueries === 'query-builder-and-native' || (needed === 'query-builder' && perms.createQueries === 'query-builder'));
  if (!ok) throw new QueryError('missing-required-permissions', 'You do not have permissions to run this query.');
}

export function cardRun(ctx: RouteContext, path: Record<string, string>, body: Record<string, unknown>): Promise<RunResult> {
  closedBody(body, ['parameters', 'ignore_cache', 'collection_preview', 'dashboard_id']);
  if (body['ignore_cache'] !== undefined && typeof body['ignore_cache'] !== 'boolean') {
    throw invalid('ignore_cache', 'boolean', `should be a boolean, received: ${received(body['ignore_cache'])}`);
  }
  const dashboardId = body['dashboard_id'];
  if (dashboardId !== undefined && dashboardId !== null) {
    if (typeof dashboardId !== 'number' || !Number.isInteger(dashboardId) || dashboardId < 1) {
      throw invalid('dashboard_id', 'nullable value must be an integer greater than zero.', `value must be an integer greater than zero., received: ${received(dashboardId)}`);
    }
    readableDashboard(ctx, String(dashboardId), 'dashboard_id', false);
  }
  const params = parameterList(body, false);
  const card = readableCard(ctx, path['card-id']!, 'card-id');
  const query = cardQuery(card);
  const context = dashboardId ? 'dashboard' : body['collection_preview'] ? 'collection' : 'question';
  return runQuery(ctx.executor, {
    database: query.database, context, jsonQuery: { ...card.query, parameters: params }, warehouseRejects: warehouseRejects(ctx, card),
    plan: () => {
      requireRunnable(ctx, query, false);
      return { query, tagValues: cardTagValues(card, query, params) };
    },
  });
}

export function dashcardRun(ctx: RouteContext, params: Record<string, string>, body: Record<string, unknown>): Promise<RunResult> {
  const dashboardId = positiveInt('dashboard-id', params['dashboard-id']!);
  const dashcardId = positiveInt('dashcard-id', params['dashcard-id']!);
  const cardId = positiveInt('card-id', params['card-id']!);
  const runParams = parameterList(body, true);
  if (body['dashboard_load_id'] !== undefined && body['dashboard_load_id'] !== null && (typeof body['dashboard_load_id'] !== 'string' || body['dashboard_load_id'] === '')) {
    throw invalid('dashboard_load_id', 'nullable string with length >= 1', `should be a non-empty string, received: ${received(body['dashboard_load_id'])}`);
  }
  const d = readableDashboard(ctx, String(dashboardId), 'dashboard-id', false);
  const dashcard = d.dashcards.find((dc) => dc.id === dashcardId);
  if (!dashcard || (dashcard.cardId !== cardId && !dashcard.series?.includes(cardId))) throw notFound();
  const card = readableCard(ctx, String(cardId), 'card-id');
  checkDashboardParameters(d, runParams);
  const query = cardQuery(card);
  return runQuery(ctx.executor, {
    database: query.database, context: 'dashboard', jsonQuery: { ...card.query, parameters: runParams }, warehouseRejects: warehouseRejects(ctx, card),
    plan: () => {
      requireRunnable(ctx, query, false);
      return { query, ...dashcardValues(d, dashcardId, card, query, runParams) };
    },
  });
}

export function adHocRun(ctx: RouteContext, body: Record<string, unknown>): Promise<RunResult> {
  const database = body['database'];
  if (database === undefined || database === null || typeof database !== 'number' || !Number.isInteger(database)) {
    throw invalid('database', 'nullable integer', `should be an integer, received: ${received(database)}`);
  }
  if (database !== 1) throw notFound();
  const params = parameterList(body, false);
  return runQuery(ctx.executor, {
    database, context: 'ad-hoc', jsonQuery: body,
    plan: () => {
      const query = normalizeDatasetQuery(body);
      requireRunnable(ctx, query, true);
      return { query, tagValues: adHocTagValues(query, params) };
    },
  });
}

/** Ad-hoc parameters target the query's own template tags, checked as on the card endpoint. */
function adHocTagValues(query: NormalizedQuery, params: Record<string, unknown>[]): TagValues {
  const tags = query.kind === 'native' ? query.templateTags : {};
  const values: TagValues = new Map();
  for (const p of params) {
    const name = targetTag(p['target'], tags);
    const tag = tagNamed(tags, name);
    if (!tag) throw new QueryError('invalid-parameter', `Invalid parameter: the query does not have a template tag named "${String(name ?? p['name'] ?? '')}".`);
    const type = typeof p['type'] === 'string' ? p['type'] : declaredType(tag);
    checkType(type, tag, `"${tag.name}"`);
    values.set(tag.name, { type, value: tagValue(tag, p['value'] ?? null) });
  }
  return values;
}
