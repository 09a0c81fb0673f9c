/** A dashboard, its tabs and its cards. Roots are the Metabase client's records. */
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import type { Dashcard, Dashboard as DashboardRecord } from '../../metabase/types.js';

@ObjectType()
export class DashboardTab {
  @Field(() => ID)
  id!: number;

  @Field(() => String)
  name!: string;

  @Field(() => Int)
  position!: number;
}

@ObjectType({ description: 'Where a card sits on the dashboard grid.' })
export class CardPosition {
  @Field(() => Int)
  row!: number;

  @Field(() => Int)
  col!: number;

  @Field(() => Int)
  width!: number;

  @Field(() => Int)
  height!: number;
}

@ObjectType({ description: 'Which dashboard parameter feeds which part of a card\'s query.' })
export class ParameterMapping {
  @Field(() => ID)
  parameterId!: string;

  @Field(() => ID, { nullable: true })
  questionId!: number | null;

  @Field(() => GraphQLJSON, { description: 'Metabase\'s target, e.g. ["variable", ["template-tag", "category"]].' })
  target!: unknown;
}

@ObjectType({ description: 'A dashboard.' })
export class Dashboard {
  @Field(() => ID)
  id!: number;

  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => Boolean)
  archived!: boolean;

  @Field(() => String, { nullable: true })
  createdAt!: string | null;

  @Field(() => String, { nullable: true })
  updatedAt!: string | null;
}

/** The root of a DashboardCard: the dashcard with the dashboard it belongs to. */
export interface DashcardRoot {
  readonly dashcard: Dashcard;
  readonly dashboard: DashboardRecord;
}

@ObjectType({ description: 'A card on a dashboard: a question, or a text card.' })
export class DashboardCard {
  @Field(() => ID, { description: 'The dashcard id (not the question id).' })
  id!: number;
}
