import { ArgsType, Field, ID, Int } from 'type-graphql';
import { PageArgs } from '../common/connection.js';
import { ParameterValueInput } from '../common/parameter.type.js';
import { QuestionKind } from './question.type.js';

@ArgsType()
export class QuestionsArgs extends PageArgs {
  @Field(() => [ID], { nullable: true, description: 'Only these questions, in this order.' })
  ids?: string[] | null;

  @Field(() => ID, { nullable: true, description: 'Only questions directly in this collection (`root` for the top).' })
  collectionId?: string | null;

  @Field(() => QuestionKind, { nullable: true })
  kind?: QuestionKind | null;

  @Field(() => String, { nullable: true, description: 'Case-insensitive text in the name or description.' })
  search?: string | null;
}

@ArgsType()
export class RunArgs {
  @Field(() => [ParameterValueInput], { nullable: true })
  parameters?: ParameterValueInput[] | null;

  @Field(() => Int, { nullable: true, description: 'Return at most this many rows (Metabase caps runs at 2,000, or 10,000 aggregated).' })
  maxRows?: number | null;
}
