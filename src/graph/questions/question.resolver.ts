import { Args, Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../context/context.js';
import { BadUserInputError } from '../../errors/index.js';
import type { Card, Collection as CollectionRecord, Database as DatabaseRecord, Parameter as ParameterRecord, ResultColumn } from '../../metabase/types.js';
import { Connection, paginate } from '../common/connection.js';
import { isIn, parseCollectionId, parseId } from '../common/ids.js';
import { Column, Parameter } from '../common/parameter.type.js';
import { parameterValues, ParameterValues, ParameterValuesArgs } from '../common/parameter-values.js';
import { Collection } from '../collections/collection.type.js';
import { Database } from '../databases/database.type.js';
import { QueryRun } from '../runs/run.type.js';
import { partOnly, runQuestion } from '../runs/run.service.js';
import { QuestionsArgs, RunArgs } from './question.args.js';
import { QueryLanguage, Question, QuestionKind, User } from './question.type.js';
import { RUN_COST } from '../../gate/cost.js';

export const QuestionConnection = Connection('Question', Question);

/** Questions whose name or description contains the text, case-insensitively. */
export const matchesText = (text: string | null | undefined, ...fields: (string | null)[]): boolean =>
  !text || fields.some((f) => f?.toLowerCase().includes(text.toLowerCase()));

@Resolver(() => Question)
export class QuestionResolver {
  @Query(() => Question, { nullable: true, description: 'One question, model or metric by id.' })
  question(@Arg('id', () => ID, { description: 'The question\'s id.' }) id: string, @Ctx() ctx: GatewayContext): Promise<Card> {
    return ctx.reaches.card(parseId(id, 'a question'), 'question');
  }

  @Query(() => QuestionConnection, { nullable: true, description: 'Questions, models and metrics the caller can read.' })
  async questions(@Args(() => QuestionsArgs) args: QuestionsArgs, @Ctx() ctx: GatewayContext) {
    let cards: readonly Card[];
    if (args.ids) {
      if (args.ids.length > ctx.limits.maxPageSize) {
        throw new BadUserInputError(`Expected at most ${ctx.limits.maxPageSize} ids, received ${args.ids.length}.`, { details: { argument: 'ids' } });
      }
      const ids = args.ids.map((id) => parseId(id, 'a question'));
      const loaded = await ctx.loaders.card.loadMany(ids);
      const failed = loaded.find((c): c is Error => c instanceof Error);
      if (failed) throw failed;
      cards = loaded as Card[];
    } else {
      cards = await ctx.loaders.cardList();
    }
    const collectionId = args.collectionId ? parseCollectionId(args.collectionId) : undefined;
    const filtered = (await ctx.access.filter(cards, (c) => c.collectionId)).filter((c) =>
      (collectionId === undefined || isIn(c.collectionId, collectionId))
      && (!args.kind || c.type === args.kind)
      && matchesText(args.search, c.name, c.description));
    return paginate(filtered, args, ctx.limits.maxPageSize);
  }

  @FieldResolver(() => QuestionKind)
  kind(@Root() card: Card): string {
    return card.type;
  }

  @FieldResolver(() => QueryLanguage)
  queryLanguage(@Root() card: Card): string {
    return card.query.language;
  }

  @FieldResolver(() => [Parameter])
  parameters(@Root() card: Card): readonly ParameterRecord[] {
    return card.parameters;
  }

  @FieldResolver(() => ParameterValues, { description: 'The values one of the question\'s parameters may take, as Metabase lists them for the role.' })
  parameterValues(@Root() card: Card, @Args(() => ParameterValuesArgs) args: ParameterValuesArgs, @Ctx() ctx: GatewayContext) {
    const reach = ctx.reaches.of(card);
    if (reach.partsOf !== null) throw partOnly(card.id, reach.partsOf);
    return parameterValues('card', card.id, card.parameters, args, ctx, reach);
  }

  @FieldResolver(() => [Column], { nullable: true, description: 'Columns of the last result Metabase saved, when it has one.' })
  resultColumns(@Root() card: Card): readonly ResultColumn[] | null {
    return card.resultColumns;
  }

  @FieldResolver(() => String, { nullable: true, description: 'The SQL of a native question.' })
  nativeSql(@Root() card: Card): string | null {
    return card.query.language === 'native' ? card.query.sql : null;
  }

  @FieldResolver(() => Collection, { nullable: true })
  async collection(@Root() card: Card, @Ctx() ctx: GatewayContext): Promise<CollectionRecord | null> {
    const reach = ctx.reaches.of(card);
    const found = (await reach.loaders.collections()).get(card.collectionId ?? 'root');
    return found ? ctx.reaches.mark(reach, found) : null;
  }

  @FieldResolver(() => Database, { nullable: true })
  async database(@Root() card: Card, @Ctx() ctx: GatewayContext): Promise<DatabaseRecord | null> {
    // Databases live outside collections: the caller's own role's credential says what it may see of them, even for a granted question.
    return card.databaseId === null ? null : ((await ctx.reaches.own.loaders.databases()).get(card.databaseId) ?? null);
  }

  @FieldResolver(() => User, { nullable: true })
  creator(@Root() card: Card): User | null {
    return card.creator ? { id: card.creator.id, name: card.creator.commonName, email: card.creator.email } : null;
  }

  @FieldResolver(() => QueryRun, { nullable: true, complexity: RUN_COST, description: 'Runs the question with these parameter values.' })
  run(@Root() card: Card, @Args(() => RunArgs) args: RunArgs, @Ctx() ctx: GatewayContext) {
    return runQuestion(ctx, ctx.reaches.of(card), card, args);
  }
}
