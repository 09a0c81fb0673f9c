/** A Metabase card: a saved question, a model or a metric. */
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum QuestionKind {
  QUESTION = 'question',
  MODEL = 'model',
  METRIC = 'metric',
}
registerEnumType(QuestionKind, { name: 'QuestionKind', description: 'What a Metabase card is.' });

export enum QueryLanguage {
  NATIVE = 'native',
  STRUCTURED = 'structured',
  UNKNOWN = 'unknown',
}
registerEnumType(QueryLanguage, { name: 'QueryLanguage', description: 'Native SQL, or Metabase\'s query builder.' });

@ObjectType({ description: 'A person who created something in Metabase.' })
export class User {
  @Field(() => ID)
  id!: number;

  @Field(() => String, { nullable: true })
  name!: string | null;

  @Field(() => String, { nullable: true })
  email!: string | null;
}

@ObjectType({ description: 'A saved question, model or metric (a Metabase card).' })
export class Question {
  @Field(() => ID)
  id!: number;

  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => String, { nullable: true, description: 'How Metabase draws it: table, bar, scalar, …' })
  display!: string | null;

  @Field(() => Boolean)
  archived!: boolean;

  @Field(() => String, { nullable: true, description: 'ISO-8601, as Metabase gives it.' })
  createdAt!: string | null;

  @Field(() => String, { nullable: true, description: 'ISO-8601, as Metabase gives it.' })
  updatedAt!: string | null;
}
