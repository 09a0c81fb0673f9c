import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType({ description: 'A Metabase collection; `root` is "Our analytics".' })
export class Collection {
  @Field(() => ID)
  id!: number | 'root';

  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => Boolean)
  isPersonal!: boolean;

  @Field(() => Boolean)
  archived!: boolean;

  @Field(() => String, { nullable: true, description: 'Metabase\'s path of ancestor ids, e.g. `/2/`.' })
  location!: string | null;
}
