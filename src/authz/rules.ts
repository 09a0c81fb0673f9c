/**
 * The graph's permissions, as graphql-shield rules. Deny by default and fail closed: every root
 * field of Query and Mutation has its own named rule (no wildcard), every other object type of the
 * schema is listed, and anything not listed (a field or type added later) is denied. A test walks the
 * emitted schema and fails for any field no rule names. Rules sit on root fields and object types,
 * never on rows or cells (query results are one JSON value per run).
 *
 * Rules read the request's role, which comes from the policy in force when the request started, so a
 * policy reload needs no new schema. Denials are FORBIDDEN errors with a `reason`; errors thrown by
 * resolvers pass through unchanged (`allowExternalErrors`).
 *
 * Cache scopes, chosen per rule:
 * - `contextual` (once per request) only for rules that read nothing but the context (the role);
 * - `strict` (per parent and arguments) for root fields whose answer depends on the `id` argument;
 * - `no_cache` for per-object rules: shield's hash of a whole parent object would cost more than the
 *   check, so the AccessChecker memoizes per object identity instead.
 */
import { allow, and, deny as denyAll, rule, shield } from 'graphql-shield';
import type { IRules } from 'graphql-shield';

type ShieldRule = Parameters<typeof and>[number];
type RuleTree = Record<string, ShieldRule | Record<string, ShieldRule>>;
import type { GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { noRoleReasonCode, type GatewayContext, type ReachKind } from '../context/context.js';
import { ForbiddenError, GatewayError } from '../errors/index.js';
import { parseCollectionId, parseId } from '../graph/common/ids.js';
import type { Card, Collection, Dashboard } from '../metabase/types.js';

type Denial = 'no-role' | 'groups-overage' | 'collection' | 'sql-hidden' | 'native-sql' | 'no-rule' | 'unverified';

const deny = (reason: Denial, message: string): ForbiddenError => new ForbiddenError(message, { details: { reason } });
/** No role fits; `groups-overage` when that is because the token's groups overflowed (Entra ID). */
const noRole = (ctx: GatewayContext): ForbiddenError => deny(noRoleReasonCode(ctx), ctx.noRoleReason ?? 'No gateway role fits your token.');

/** Only a request with a role passes. Reads the context alone: `contextual`. */
const hasRole = (name: string): ShieldRule => rule(name, { cache: 'contextual' })((_parent, _args, ctx: GatewayContext) =>
  ctx.roleName !== null || noRole(ctx));

/** Per object: SQL shows only where the reach the question came through allows it (a grant: its own role's and the granting role's). */
const canViewSql = rule('can-view-sql', { cache: 'no_cache' })((parent: object, _args, ctx: GatewayContext) => {
  if (ctx.roleName === null) return noRole(ctx);
  return ctx.reaches.of(parent).canViewSql || deny('sql-hidden', `Role ${ctx.roleName} may not see questions' SQL (canViewSql is off).`);
});

const canRunNativeSql = rule('can-run-native-sql', { cache: 'contextual' })((_parent, _args, ctx: GatewayContext) => {
  if (ctx.roleName === null) return noRole(ctx);
  return ctx.role.canRunNativeSql || deny('native-sql', `Role ${ctx.roleName} may not run native SQL (canRunNativeSql is off).`);
});

/**
 * Per object: its parent is the object, so never `contextual` (that would give every list item the
 * first one's answer). The object is checked in the reach it was loaded through: the role's own, or a grant's.
 */
function objectRule<P extends object>(name: string, kind: ReachKind | null, collectionOf: (parent: P) => number | 'root' | null | undefined, idOf: (parent: P) => number | 'root', what: (parent: P) => string): ShieldRule {
  return rule(name, { cache: 'no_cache' })(async (parent: P, _args, ctx: GatewayContext) => {
    if (ctx.roleName === null) return noRole(ctx);
    const where = collectionOf(parent);
    if (kind === null || where === undefined) return (await ctx.access.object(parent, where)) || deny('collection', `${what(parent)} is in a collection role ${ctx.roleName} may not read.`);
    return (await ctx.reaches.of(parent).allows(kind, parent, idOf(parent), where)) || ctx.reaches.denial(kind, idOf(parent), what(parent));
  });
}

const dashboardInReach = objectRule('dashboard-in-reach', 'dashboard', (d: Dashboard) => d.collectionId, (d) => d.id, (d: Dashboard) => `Dashboard ${d.id}`);
const questionInReach = objectRule('question-in-reach', 'card', (c: Card) => c.collectionId, (c) => c.id, (c: Card) => `Question ${c.id}`);
/** A collection is readable when items directly in it are. */
const collectionInReach = objectRule('collection-in-reach', 'collection', (c: Collection) => c.id, (c) => c.id, (c: Collection) => `Collection ${c.id}`);
/** A search hit (the role's own search): collections by their own id, dashboards and questions by the collection they are in; databases and tables live outside collections. */
const searchHitInReach = objectRule(
  'search-hit-in-reach', null,
  (r: { kind: string; id: number; collectionId: number | 'root' | null }) => (r.kind === 'collection' ? r.id : r.kind === 'database' || r.kind === 'table' ? undefined : r.collectionId),
  (r) => r.id,
  (r: { kind: string; id: number }) => `Search result ${r.kind} ${r.id}`,
);

/**
 * A root field that takes an object's id: the object is found (through the request's reaches, so the
 * resolver's own lookup is free) in the role's own reach or a grant's, giving one clear denial at the
 * root field. When it cannot be found the rule fails closed: it answers with the lookup's own error
 * (NOT_FOUND, a bad id, Metabase unreachable, the denial saying whether access can be requested),
 * the same the resolver would give, and the resolver never runs; anything else is a denial.
 */
function byIdRule(name: string, find: (args: Record<string, unknown>, ctx: GatewayContext, field: string) => Promise<unknown>): ShieldRule {
  // No cache: a root field's rule runs once per field asked (the reaches memoize what they find), and
  // graphql-shield's 'strict' cache hashed the arguments with object-hash on every request.
  return rule(name, { cache: 'no_cache' })(async (_parent, args: Record<string, unknown>, ctx: GatewayContext, info: { fieldName: string }) => {
    if (ctx.roleName === null) return noRole(ctx);
    try {
      await find(args, ctx, info.fieldName);
      return true;
    } catch (err) {
      return err instanceof GatewayError ? err : deny('unverified', 'The object\'s collection could not be checked.');
    }
  });
}

const dashboardArg = (key: string) => (args: Record<string, unknown>, ctx: GatewayContext, field: string) => ctx.reaches.dashboard(parseId(String(args[key]), 'a dashboard'), field);
const questionArg = (args: Record<string, unknown>, ctx: GatewayContext, field: string) => ctx.reaches.card(parseId(String(args['id']), 'a question'), field);
const collectionArg = (args: Record<string, unknown>, ctx: GatewayContext, field: string) => ctx.reaches.collection(parseCollectionId(String(args['id'])), field);

/** The rule tree. Every object type of the schema appears; a test checks that against the schema. */
export const RULES = {
  Query: {
    viewer: allow,
    dashboard: byIdRule('dashboard-by-id', dashboardArg('id')),
    question: byIdRule('question-by-id', questionArg),
    collection: byIdRule('collection-by-id', collectionArg),
    // Lists are filtered to the role's collections by their resolvers and the object rules below.
    dashboards: hasRole('dashboards-with-role'),
    questions: hasRole('questions-with-role'),
    collections: hasRole('collections-with-role'),
    // Databases live outside collections; the role's Metabase credential scopes them.
    database: hasRole('database-with-role'),
    databases: hasRole('databases-with-role'),
    search: hasRole('search-with-role'),
    // Kept runs are read only by the viewer who ran them, in the role they ran in (stored-runs.ts).
    queryRun: hasRole('query-run-with-role'),
    // Just-in-time access: any signed-in caller may ask and look; the access service decides who may
    // ask for what, who answers (never the requester) and who revokes.
    accessRequests: allow,
  },
  Mutation: {
    runQuestion: byIdRule('run-question-by-id', questionArg),
    runDashboardCard: byIdRule('run-dashboard-card-by-id', dashboardArg('dashboardId')),
    runNativeQuery: canRunNativeSql,
    requestAccess: allow,
    approveAccessRequest: allow,
    denyAccessRequest: allow,
    revokeGrant: allow,
  },
  Viewer: allow,
  AccessRequest: allow, AccessTarget: allow, Person: allow,
  ClaimReading: allow,
  Dashboard: dashboardInReach,
  Question: { '*': questionInReach, nativeSql: and(questionInReach, canViewSql) },
  Collection: collectionInReach,
  SearchResult: searchHitInReach,
  // Parts of an object already checked above, or objects outside collections (their Metabase
  // credential scopes them): allowed once reached.
  DashboardCard: allow, DashboardTab: allow, CardPosition: allow, ParameterMapping: allow, Parameter: allow, ParameterValues: allow, ParameterValue: allow,
  User: allow, Column: allow, Database: allow, Table: allow, Field: allow,
  QueryRun: allow, QueryRunError: allow, QueryRunRowPage: allow, PageInfo: allow,
  DashboardConnection: allow, DashboardEdge: allow, QuestionConnection: allow, QuestionEdge: allow,
} satisfies RuleTree;

const OPTIONS = {
  fallbackRule: denyAll,
  allowExternalErrors: true,
  debug: false,
  fallbackError: () => deny('no-rule', 'No permission rule allows this field.'),
};

/** The schema with the rules applied to every field. */
export function protect(schema: GraphQLSchema): GraphQLSchema {
  return applyMiddleware(schema, shield(RULES as IRules, OPTIONS));
}
