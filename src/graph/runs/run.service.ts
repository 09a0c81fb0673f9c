/** Running questions and dashboard cards: parameters checked first, then one (deduped) upstream run. */
import type { GatewayContext, Reach } from '../../context/context.js';
import { ForbiddenError, NotFoundError } from '../../errors/index.js';
import type { Card, Dashboard, Dashcard } from '../../metabase/types.js';
import type { ParameterValueInput } from '../common/parameter.type.js';
import { resolveParameterValues } from './parameters.js';
import { checkMaxRows, keepingOf, runOrFailure } from './run.mapper.js';
import type { QueryRun } from './run.type.js';

export interface RunInput {
  readonly parameters?: readonly ParameterValueInput[] | null;
  readonly maxRows?: number | null;
}

/** Runs a question through the reach it was found by (the role's own credential, or a grant's). */
export function runQuestion(ctx: GatewayContext, reach: Reach, card: Card, input: RunInput): Promise<QueryRun> {
  if (reach.partsOf !== null) throw partOnly(card.id, reach.partsOf);
  const maxRows = checkMaxRows(input.maxRows, reach.maxRows);
  const parameters = resolveParameterValues(card.parameters, input.parameters, `question ${card.id}`)
    .filter((v) => v.value !== null)
    .map(({ parameter, value }) => ({ id: parameter.id, type: parameter.type, target: parameter.target, value }));
  return runOrFailure(() => reach.loaders.run.load({ kind: 'card', cardId: card.id, parameters }), maxRows, {
    trail: ctx.trail, keeping: keepingOf({ runs: ctx.runs, runOwner: reach.runOwner }, { collections: [card.collectionId] }), canViewSql: reach.canViewSql, log: ctx.log, questionId: card.id, parameters: parameters.map((p) => ({ id: p.id, value: p.value })),
  });
}

/** Runs a dashboard card's question with the dashboard's parameter values; text cards have no run. */
export async function runDashcard(ctx: GatewayContext, reach: Reach, dashboard: Dashboard, dashcard: Dashcard, input: RunInput): Promise<QueryRun | null> {
  if (dashcard.cardId === null) return null;
  if (dashcard.card && 'restricted' in dashcard.card) {
    throw new ForbiddenError(`Your role's Metabase group cannot read question ${dashcard.cardId} on dashboard ${dashboard.id}.`);
  }
  // The question behind the card must be in reach too, not only the dashboard.
  if (!dashcard.card || !(await reach.allows('card', dashcard.card, dashcard.card.id, dashcard.card.collectionId))) {
    throw new ForbiddenError(`Question ${dashcard.cardId} on dashboard ${dashboard.id} is in a collection role ${ctx.roleName} may not read.`, { details: { reason: 'collection' } });
  }
  const maxRows = checkMaxRows(input.maxRows, reach.maxRows);
  const parameters = resolveParameterValues(dashboard.parameters, input.parameters, `dashboard ${dashboard.id}`)
    .filter((v) => v.value !== null)
    .map(({ parameter, value }) => ({ id: parameter.id, value }));
  const key = { kind: 'dashcard' as const, dashboardId: dashboard.id, dashcardId: dashcard.id, cardId: dashcard.cardId, parameters };
  return runOrFailure(() => reach.loaders.run.load(key), maxRows, {
    trail: ctx.trail, keeping: keepingOf({ runs: ctx.runs, runOwner: reach.runOwner }, { collections: [dashboard.collectionId, dashcard.card?.collectionId ?? null] }), canViewSql: reach.canViewSql, log: ctx.log, questionId: dashcard.cardId, dashboardId: dashboard.id, dashboardCardId: dashcard.id, parameters,
  });
}

/** A question reached as a card of a granted dashboard runs on that dashboard only (its parameters and mappings apply). */
export function partOnly(questionId: number, dashboardId: number): ForbiddenError {
  return new ForbiddenError(`Question ${questionId} is yours through a grant of dashboard ${dashboardId} only as one of its cards: run the card (DashboardCard.run or runDashboardCard).`, { details: { reason: 'collection', requestable: false } });
}

export function findDashcard(dashboard: Dashboard, dashcardId: number): Dashcard {
  const dashcard = dashboard.dashcards.find((dc) => dc.id === dashcardId);
  if (!dashcard) throw new NotFoundError(`Dashboard ${dashboard.id} has no card ${dashcardId}.`);
  return dashcard;
}
