/** Parameters a question or dashboard declares, result columns, and parameter values as input. */
import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';

@ObjectType({ description: 'A filter or variable a question or dashboard declares.' })
export class Parameter {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String, { description: 'The short name to pass values by.' })
  slug!: string;

  @Field(() => String, { description: 'Metabase\'s parameter type, e.g. `category`, `number/=`, `date/single`, `string/=`.' })
  type!: string;

  @Field(() => Boolean)
  required!: boolean;

  @Field(() => GraphQLJSON, { nullable: true, description: 'The value used when none is given.' })
  default!: unknown;
}

@ObjectType({ description: 'A column of a question\'s result.' })
export class Column {
  @Field(() => String)
  name!: string;

  @Field(() => String)
  displayName!: string;

  @Field(() => String, { description: 'Metabase\'s base type, e.g. `type/Integer`.' })
  baseType!: string;

  @Field(() => String, { nullable: true })
  semanticType!: string | null;
}

@InputType({ description: 'A value for one declared parameter, named by `id` or by `slug` (exactly one).' })
export class ParameterValueInput {
  @Field(() => String, { nullable: true })
  id?: string | null;

  @Field(() => String, { nullable: true })
  slug?: string | null;

  @Field(() => GraphQLJSON, { nullable: true, description: 'A JSON value of the parameter\'s type; null applies no filter.' })
  value?: unknown;
}
