import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum SearchKind {
  DASHBOARD = 'dashboard',
  QUESTION = 'card',
  MODEL = 'dataset',
  METRIC = 'metric',
  COLLECTION = 'collection',
  TABLE = 'table',
  DATABASE = 'database',
}
registerEnumType(SearchKind, { name: 'SearchKind' });

@ObjectType({ description: 'Something Metabase\'s search found.' })
export class SearchResult {
  @Field(() => SearchKind)
  kind!: SearchKind;

  @Field(() => ID)
  id!: number;

  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => ID, { nullable: true, description: 'The collection it is in, when it is in one.' })
  collectionId!: number | 'root' | null;
}
