/**
 * The values a dashboard filter or a question parameter may take, read from Metabase's parameter
 * values endpoints (§4.15) with the role's credential, so they respect what the role may see, and
 * kept in the metadata cache of the credential's scope. An agent fills a request template with them
 * instead of guessing; they are data, returned as data.
 */
import { ArgsType, Field, Int, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import type { GatewayContext, Reach } from '../../context/context.js';
import { BadUserInputError, ForbiddenError } from '../../errors/index.js';
import type { Dashboard as DashboardRecord, Parameter as ParameterRecord, ParameterValues as ValuesRecord } from '../../metabase/types.js';

/** Values returned at most, whatever `first` asks: Metabase itself stops at 1,000. */
export const MAX_PARAMETER_VALUES = 1_000;

@ObjectType({ description: 'A value a parameter may take.' })
export class ParameterValue {
  @Field(() => GraphQLJSON, { description: 'The value to pass (a string, number or boolean).' })
  value!: string | number | boolean;

  @Field(() => String, { nullable: true, description: 'The text Metabase shows for the value, where it differs.' })
  label!: string | null;
}

@ObjectType({ description: 'Values a parameter may take, as Metabase lists them.' })
export class ParameterValues {
  @Field(() => [ParameterValue])
  values!: ParameterValue[];

  @Field(() => Boolean, { description: 'True when there are more values than listed: narrow them with `search`.' })
  hasMore!: boolean;
}

@ArgsType()
export class ParameterValuesArgs {
  @Field(() => String, { description: 'The parameter, by `slug` or `id`.' })
  parameter!: string;

  @Field(() => String, { nullable: true, description: 'Only values containing this text (case-insensitive).' })
  search?: string | null;

  @Field(() => Int, { nullable: true, description: `How many values to return (default 100, at most ${MAX_PARAMETER_VALUES}).` })
  first?: number | null;
}

/** The declared parameter an argument names, by slug or id; a clear error listing the slugs otherwise. */
export function declaredParameter(parameters: readonly ParameterRecord[], named: string, what: string): ParameterRecord {
  const found = parameters.find((p) => p.slug === named) ?? parameters.find((p) => p.id === named);
  if (found) return found;
  const slugs = parameters.slice(0, 20).map((p) => p.slug);
  throw new BadUserInputError(
    `Expected \`parameter\` to be the slug or id of one of ${what}'s parameters${slugs.length ? ` (${slugs.join(', ')})` : ' (it has none)'}.`,
    { details: { argument: 'parameter' } },
  );
}

/**
 * Metabase draws a dashboard filter's values from the columns of every question mapped to it: when one
 * of them is a question the role may not read (restricted by Metabase, or in a collection outside the
 * role's reach), the values could show what that question hides, so they are refused.
 */
async function checkMappedQuestions(dashboard: DashboardRecord, parameterId: string, reach: Reach): Promise<void> {
  for (const dc of dashboard.dashcards) {
    for (const m of dc.parameterMappings) {
      if (m.parameterId !== parameterId || m.cardId === null) continue;
      const card = [dc.card, ...dc.series].find((c) => c?.id === m.cardId);
      const readable = card && !('restricted' in card) && await reach.allows('card', card, card.id, card.collectionId ?? null);
      if (!readable) {
        throw new ForbiddenError(`The values of this filter come from questions your role may not read (question ${m.cardId} on dashboard ${dashboard.id}).`, { details: { reason: 'collection' } });
      }
    }
  }
}

export async function parameterValues(owner: 'dashboard' | 'card', id: number, parameters: readonly ParameterRecord[], args: ParameterValuesArgs, ctx: GatewayContext, reach: Reach, dashboard?: DashboardRecord): Promise<ValuesRecord> {
  const first = args.first ?? 100;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PARAMETER_VALUES) {
    throw new BadUserInputError(`Expected \`first\` to be an integer from 1 to ${MAX_PARAMETER_VALUES}, received ${first}.`, { details: { argument: 'first' } });
  }
  const search = args.search?.trim() ?? '';
  if (search.length > ctx.limits.maxSearchChars) {
    throw new BadUserInputError(`Expected \`search\` to be at most ${ctx.limits.maxSearchChars} characters, received ${search.length}.`, { details: { argument: 'search' } });
  }
  const declared = declaredParameter(parameters, args.parameter, `${owner === 'card' ? 'Question' : 'Dashboard'} ${id}`);
  if (dashboard) await checkMappedQuestions(dashboard, declared.id, reach);
  const all = await reach.loaders.parameterValues(owner, id, declared.id, search || null);
  return { values: all.values.slice(0, first), hasMore: all.hasMore || all.values.length > first };
}
