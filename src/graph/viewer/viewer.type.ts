import { Field, ObjectType } from 'type-graphql';

@ObjectType({ description: 'The caller, as its identity provider\'s token describes it.' })
export class Viewer {
  @Field(() => String, { description: 'The token\'s subject.' })
  subject!: string;

  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field(() => String, { nullable: true })
  name!: string | null;

  @Field(() => [String], { description: 'Groups from the token.' })
  groups!: string[];

  @Field(() => String, { description: 'The gateway role the caller acts in.' })
  role!: string;
}
