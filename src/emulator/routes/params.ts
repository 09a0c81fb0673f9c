/**
 * Parameter values: what a dashboard filter or a question's parameter may be set to (API-CONTRACT.md §4.15, §6).
 * Read access to the dashboard or card is checked first (404/403), then the parameter key (400), then the
 * caller's data permissions on the fields behind it (403).
 */
import { SAMPLE_DATABASE_ID } from '../content.js';
import { ApiError, forbidden, json, positiveInt, route, text, type Reply, type Route } from '../http.js';
import type { RouteContext } from '../context.js';
import {
  MAX_CHAINED_VALUES, cardParameterFields, dashboardParameterFields, parameterValues, type ChainedConstraint,
} from '../param-values.js';
import type { FieldDef } from '../sample-schema.js';
import { cardParameters } from '../serialize.js';
import { readableCard, readableDashboard } from './content.js';

/** Metabase's `ex-info` with a status code and only a message: a plain-text body. */
const noSuchParameter = (what: 'Dashboard' | 'Card', key: string): ApiError =>
  new ApiError(text(`${what} does not have a parameter with the ID ${JSON.stringify(key)}`, 400));

/** Other parameters' current values from the query string (`?<param-id>=v`, repeatable); other keys are ignored. */
function chainedConstraints(ctx: RouteContext, others: readonly { id: string; fields: readonly FieldDef[] }[]): ChainedConstraint[] {
  const constraints: ChainedConstraint[] = [];
  for (const o of others) {
    const values = ctx.query.params.getAll(o.id).filter((v) => v !== '');
    if (values.length > MAX_CHAINED_VALUES) {
      throw new ApiError(text(`Too many values for parameter ${JSON.stringify(o.id)}: at most ${MAX_CHAINED_VALUES} may be sent.`, 400));
    }
    if (values.length > 0 && o.fields.length > 0) constraints.push({ fields: o.fields, values });
  }
  return constraints;
}

async function answer(ctx: RouteContext, fields: readonly FieldDef[], constraints: ChainedConstraint[], search: string | undefined): Promise<Reply> {
  if (fields.length === 0) return json({ values: [], has_more_values: false });
  // Every field of the emulator is in the Sample Database.
  if (ctx.instance.dataPermission(ctx.principal, SAMPLE_DATABASE_ID).viewData === 'blocked') throw forbidden();
  return json(await parameterValues(ctx.executor, fields, constraints, search));
}

function dashboardValues(ctx: RouteContext, params: Record<string, string>, search?: string): Promise<Reply> {
  const d = readableDashboard(ctx, String(positiveInt('id', params['id']!)), 'id', false);
  const key = params['param-key']!;
  if (!d.parameters.some((p) => p.id === key)) throw noSuchParameter('Dashboard', key);
  const others = d.parameters.filter((p) => p.id !== key).map((p) => ({ id: p.id, fields: dashboardParameterFields(d, p.id) }));
  return answer(ctx, dashboardParameterFields(d, key), chainedConstraints(ctx, others), search);
}

function cardValues(ctx: RouteContext, params: Record<string, string>, search?: string): Promise<Reply> {
  const card = readableCard(ctx, String(positiveInt('id', params['id']!)));
  const key = params['param-key']!;
  const declared = cardParameters(card).map((p) => String(p['id']));
  if (!declared.includes(key)) throw noSuchParameter('Card', key);
  const others = declared.filter((id) => id !== key).map((id) => ({ id, fields: cardParameterFields(card, id) }));
  return answer(ctx, cardParameterFields(card, key), chainedConstraints(ctx, others), search);
}

export const parameterRoutes: Route<RouteContext>[] = [
  route('GET', '/api/dashboard/:id/params/:param-key/values', (ctx, params) => dashboardValues(ctx, params)),
  route('GET', '/api/dashboard/:id/params/:param-key/search/:query', (ctx, params) => dashboardValues(ctx, params, params['query'])),
  route('GET', '/api/card/:id/params/:param-key/values', (ctx, params) => cardValues(ctx, params)),
  route('GET', '/api/card/:id/params/:param-key/search/:query', (ctx, params) => cardValues(ctx, params, params['query'])),
];
