import { Field, ID, Int, ObjectType } from 'type-graphql';

@ObjectType({ description: 'A database connected to Metabase.' })
export class Database {
  @Field(() => ID)
  id!: number;

  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  engine!: string | null;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => Boolean)
  isSample!: boolean;
}

@ObjectType()
export class Table {
  @Field(() => ID)
  id!: number;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  displayName!: string;

  @Field(() => String, { nullable: true })
  schema!: string | null;

  @Field(() => String, { nullable: true })
  description!: string | null;
}

@ObjectType('Field', { description: 'A column of a table.' })
export class TableField {
  @Field(() => ID)
  id!: number;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  displayName!: string;

  @Field(() => String)
  baseType!: string;

  @Field(() => String, { nullable: true })
  semanticType!: string | null;

  @Field(() => String, { nullable: true })
  databaseType!: string | null;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => Int, { nullable: true })
  position!: number | null;
}
