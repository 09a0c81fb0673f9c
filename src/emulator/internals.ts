/**
 * What a real Metabase gives away about itself when something goes wrong: exception bodies with Java and
 * Clojure stack frames (API-CONTRACT.md §3, unless `hide-stacktraces` is set), database errors naming the
 * application database's user and host, SQL errors that quote the statement as Metabase's H2 driver does
 * (§4.5), and the error page of a reverse proxy in front of it. The emulator answers with these so that the
 * gateway's tests can prove none of it reaches a client. Every string here is made up but shaped like the
 * real thing.
 */

/** The application database's user, host and port, as the exception bodies name them. */
export const APP_DB_USER = 'mb_app';
export const APP_DB_HOST = '10.2.3.4';
export const APP_DB_PORT = 5432;
/** The Metabase instance a reverse proxy forwards to, as its 502 page names it. */
export const UPSTREAM_HOST = 'metabase-0.metabase.internal:3000';

/**
 * Substrings that appear only in the emulator's leak bodies (exceptions, stack traces, proxy pages) and never
 * in a normal answer: a client response containing one of them passed Metabase's internals on.
 */
export const LEAK_MARKERS: readonly string[] = [
  APP_DB_USER, APP_DB_HOST, 'metabase-0.metabase.internal', 'PSQLException', 'clojure.lang.', 'org.h2.', '.clj:', 'nginx/',
];

/** H2's error-code suffix: `[<code>-<build>]`. The Sample Database runs on H2 2.1.214. */
const H2_BUILD = 214;

/** The H2 form of a failed statement, as Metabase reports warehouse errors: `<message>; SQL statement:\n<sql> [code-214]`. */
const h2 = (message: string, sql: string, code: number): string => `${message}; SQL statement:\n${sql} [${code}-${H2_BUILD}]`;

/**
 * A SQLite error message in the form Metabase's H2 driver gives it, quoting the statement:
 * `no such column: NOPE` becomes `Column "NOPE" not found; SQL statement:\nSELECT NOPE FROM PRODUCTS [42122-214]`.
 */
export function h2ErrorMessage(sqliteMessage: string, sql: string): string {
  const column = /^no such column: ([^\n]+)$/.exec(sqliteMessage);
  if (column) return h2(`Column "${column[1]!.toUpperCase()}" not found`, sql, 42122);
  const table = /^no such table: ([^\n]+)$/.exec(sqliteMessage);
  if (table) return h2(`Table "${table[1]!.toUpperCase()}" not found`, sql, 42102);
  return h2(sqliteMessage, sql, 90000);
}

/** The warehouse refusing a statement outright (H2's "Not enough rights", 90096), naming the first table it reads. */
export function warehouseRejection(sql: string): string {
  const table = /\bFROM\s+"?([A-Za-z_][A-Za-z0-9_]*)"?/i.exec(sql)?.[1];
  return h2(`Not enough rights for object "PUBLIC.${(table ?? 'ORDERS').toUpperCase()}"`, sql, 90096);
}

/** The message of an unexpected exception: the application database refusing a connection. */
export const APP_DB_EXCEPTION_MESSAGE =
  `org.postgresql.util.PSQLException: FATAL: remaining connection slots are reserved for non-replication superuser connections (user "${APP_DB_USER}", host ${APP_DB_HOST}:${APP_DB_PORT})`;

/** The message Metabase passes on as is for an error thrown with only a message (`failureStyle: 'json-message'`). */
export const APP_DB_JSON_MESSAGE =
  `org.postgresql.util.PSQLException: Connection to ${APP_DB_HOST}:${APP_DB_PORT} refused for user "${APP_DB_USER}" (${APP_DB_HOST}:${APP_DB_PORT}, database "metabase_app"). Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections.`;

/** A last-resort failure inside the emulator, reported as Metabase reports a bug of its own. */
const INTERNAL_EXCEPTION_MESSAGE =
  'java.lang.NullPointerException: Cannot invoke "clojure.lang.IFn.invoke(Object)" because the return value of "metabase.api.common$check_404.invokeStatic(Object)" is null';

const SERVER_TRACE: readonly string[] = [
  'metabase.driver.sql_jdbc.execute$execute_reducible_query.invokeStatic(execute.clj:512)',
  'metabase.driver.sql_jdbc.execute$execute_reducible_query.invoke(execute.clj:494)',
  'metabase.app_db.connection$get_connection.invokeStatic(connection.clj:118)',
  'com.mchange.v2.c3p0.impl.NewProxyConnection.prepareStatement(NewProxyConnection.java:1193)',
  'org.postgresql.core.v3.ConnectionFactoryImpl.doAuthentication(ConnectionFactoryImpl.java:693)',
  'org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:203)',
  'org.postgresql.jdbc.PgConnection.<init>(PgConnection.java:263)',
  'metabase.server.middleware.exceptions$catch_uncaught_exceptions$fn__81234.invoke(exceptions.clj:108)',
  'metabase.server.middleware.session$wrap_current_user_info$fn__80711.invoke(session.clj:412)',
  'ring.middleware.keyword_params$wrap_keyword_params$fn__79001.invoke(keyword_params.clj:55)',
  'clojure.lang.AFn.applyToHelper(AFn.java:160)',
  'org.eclipse.jetty.server.handler.HandlerWrapper.handle(HandlerWrapper.java:122)',
  'java.base/java.lang.Thread.run(Thread.java:1583)',
];

/**
 * The body of an unexpected 500 (API-CONTRACT.md §3): with stack traces shown, Metabase's
 * `{message, via, trace}` with the internals in them; hidden, `{"message":"Something went wrong"}`.
 */
export function exceptionBody(hideStacktraces: boolean, kind: 'app-db' | 'internal' = 'app-db'): Record<string, unknown> {
  if (hideStacktraces) return { message: 'Something went wrong' };
  const message = kind === 'app-db' ? APP_DB_EXCEPTION_MESSAGE : INTERNAL_EXCEPTION_MESSAGE;
  const cause = message.slice(message.indexOf(': ') + 2);
  const type = message.slice(0, message.indexOf(':'));
  return {
    message,
    type,
    via: [
      {
        type: 'clojure.lang.ExceptionInfo',
        message: kind === 'app-db' ? 'Error getting a connection to the application database' : 'Error processing the request',
        data: kind === 'app-db'
          ? { 'jdbc-url': `jdbc:postgresql://${APP_DB_HOST}:${APP_DB_PORT}/metabase_app?user=${APP_DB_USER}`, pool: 'metabase-app-db', 'max-pool-size': 15 }
          : { 'request-method': 'get', uri: '/api/card/:id', toucan2: 'metabase.models.card' },
        at: ['metabase.app_db.connection$get_connection', 'invokeStatic', 'connection.clj', 118],
      },
      {
        type, message: cause,
        at: kind === 'app-db' ? ['org.postgresql.core.v3.ConnectionFactoryImpl', 'doAuthentication', 'ConnectionFactoryImpl.java', 693] : ['metabase.api.common$check_404', 'invokeStatic', 'common.clj', 251],
      },
    ],
    trace: [...SERVER_TRACE],
    cause,
  };
}

/** Frames of Metabase's query processor, as a failed run lists them in `stacktrace`. */
const RUN_STACKTRACE: readonly string[] = [
  '--> driver.sql_jdbc.execute$execute_reducible_query.invokeStatic(execute.clj:512)',
  '    driver.sql_jdbc.execute$execute_reducible_query.invoke(execute.clj:494)',
  '    driver.sql_jdbc$fn__104201.invokeStatic(sql_jdbc.clj:78)',
  '    query_processor.execute$run.invokeStatic(execute.clj:106)',
  '    query_processor.middleware.cache$maybe_return_cached_results$maybe_return_cached_results_STAR___62003.invoke(cache.clj:229)',
  '    query_processor.middleware.permissions$check_query_permissions$fn__58117.invoke(permissions.clj:140)',
  '    query_processor.middleware.catch_exceptions$catch_exceptions$fn__60991.invoke(catch_exceptions.clj:190)',
  '    query_processor$process_query.invokeStatic(query_processor.clj:64)',
  '    server.streaming_response$do_f_STAR_.invokeStatic(streaming_response.clj:69)',
];

/**
 * `via` and `stacktrace` of a failed run (§4.5), as Metabase sends them unless stack traces are hidden.
 * For a warehouse error the first entry carries the statement and the driver's connection details.
 */
export function failedRunDetails(message: string, errorType: string, sql?: string): { via: unknown[]; stacktrace: string[] } {
  const via: Record<string, unknown>[] = [{
    type: 'clojure.lang.ExceptionInfo',
    message: sql === undefined ? message : `Error executing query: ${message}`,
    data: sql === undefined
      ? { type: errorType }
      : { type: errorType, sql, params: null, 'connection-details': { db: '/plugins/sample-database.db;USER=GUEST;PASSWORD=guest' } },
  }];
  if (sql !== undefined) via.push({ type: 'org.h2.jdbc.JdbcSQLSyntaxErrorException', message, at: ['org.h2.message.DbException', 'getJdbcSQLException', 'DbException.java', 502] });
  return { via, stacktrace: [...RUN_STACKTRACE] };
}

/** What a reverse proxy in front of Metabase answers when Metabase is down: nginx's 502 page, upstream named. */
export function proxyBadGatewayPage(path: string): string {
  // Only the path's safe characters are echoed: the page is HTML.
  const shown = path.replace(/[^A-Za-z0-9/_.:-]/g, '');
  return [
    '<html>',
    '<head><title>502 Bad Gateway</title></head>',
    '<body>',
    '<center><h1>502 Bad Gateway</h1></center>',
    `<p>connect() failed (111: Connection refused) while connecting to upstream, upstream: "http://${UPSTREAM_HOST}${shown}"</p>`,
    '<hr><center>nginx/1.25.3</center>',
    '</body>',
    '</html>',
    '',
  ].join('\r\n');
}
