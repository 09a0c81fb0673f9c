import { Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../context/context.js';
import { NotFoundError } from '../../errors/index.js';
import type { Database as DatabaseRecord, Field as FieldRecord, Table as TableRecord } from '../../metabase/types.js';
import { parseId } from '../common/ids.js';
import { Database, Table, TableField } from './database.type.js';

@Resolver(() => Database)
export class DatabaseResolver {
  @Query(() => Database, { nullable: true })
  async database(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<DatabaseRecord> {
    const key = parseId(id, 'a database');
    const found = (await ctx.loaders.databases()).get(key);
    if (!found) throw new NotFoundError(`No database ${key} is visible to your role.`);
    return found;
  }

  @Query(() => [Database], { nullable: true })
  async databases(@Ctx() ctx: GatewayContext): Promise<DatabaseRecord[]> {
    return [...(await ctx.loaders.databases()).values()];
  }

  @FieldResolver(() => Boolean, { description: 'Whether the caller\'s Metabase role may run native SQL here.' })
  nativeQueriesAllowed(@Root() db: DatabaseRecord): boolean {
    return db.nativePermissions === 'write';
  }

  @FieldResolver(() => [Table])
  async tables(@Root() db: DatabaseRecord, @Ctx() ctx: GatewayContext): Promise<readonly TableRecord[]> {
    return (await ctx.loaders.databaseMetadata.load(db.id)).tables;
  }
}

@Resolver(() => Table)
export class TableResolver {
  @FieldResolver(() => [TableField])
  fields(@Root() table: TableRecord): readonly FieldRecord[] {
    return table.fields;
  }
}

@Resolver(() => TableField)
export class TableFieldResolver {
  @FieldResolver(() => ID, { nullable: true, description: 'For a foreign key: the id of the field it points to.' })
  foreignKeyTargetId(@Root() field: FieldRecord): number | null {
    return field.fkTargetFieldId;
  }
}

