/** The gateway's graph, built code-first from the resolvers of each domain. */
import 'reflect-metadata';
import { buildSchema } from 'type-graphql';
import type { GraphQLSchema } from 'graphql';
import { AccessRequestResolver, ViewerGrantsResolver } from './access/access.resolver.js';
import { CollectionResolver } from './collections/collection.resolver.js';
import { DashboardCardResolver, DashboardResolver } from './dashboards/dashboard.resolver.js';
import { DatabaseResolver, TableFieldResolver, TableResolver } from './databases/database.resolver.js';
import { QuestionResolver } from './questions/question.resolver.js';
import { QueryRunResolver } from './runs/query-run.resolver.js';
import { RunResolver } from './runs/run.resolver.js';
import { SearchResolver } from './search/search.resolver.js';
import { ViewerResolver } from './viewer/viewer.resolver.js';

export const RESOLVERS = [
  ViewerResolver, DashboardResolver, DashboardCardResolver, QuestionResolver, CollectionResolver,
  DatabaseResolver, TableResolver, TableFieldResolver, SearchResolver, RunResolver,
  QueryRunResolver, AccessRequestResolver, ViewerGrantsResolver,
] as const;

export function buildGatewaySchema(): Promise<GraphQLSchema> {
  return buildSchema({ resolvers: RESOLVERS, validate: false, emitSchemaFile: false });
}
