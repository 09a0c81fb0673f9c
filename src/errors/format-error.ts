/**
 * The one place errors are shaped for clients. Gateway errors pass through with their code and
 * client-safe extensions (never `http`, never a stack). Errors graphql-js and Apollo raise for a bad
 * request become BAD_USER_INPUT with their message, cut short, and without any variable's value (a
 * message about a variable names it and its type). Anything else becomes a generic
 * INTERNAL_SERVER_ERROR. Never throws.
 *
 * Logging is the request's business (server/error-log.ts logs each error once with the request id);
 * an error that never passed through a request's hooks is logged here, through `fallbackLog`.
 */
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { GatewayError, type GatewayErrorCode } from './index.js';

/** Apollo's and graphql-js's codes for a request that is wrong, as opposed to a server fault. */
export const REQUEST_FAULTS = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'BAD_REQUEST', 'OPERATION_RESOLUTION_FAILURE', 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED']);

/** Longest message passed on from graphql-js or Apollo. */
const MESSAGE_CHARS = 300;

export interface ErrorLogger {
  error(obj: object, msg: string): void;
}

/**
 * graphql-js repeats a variable's value in its coercion errors (`Variable "$v" got invalid value
 * <the value>; …`), which could be megabytes or a secret: the message keeps the variable's name and
 * where in it the problem is, and says what its type expects, without the value.
 */
export function withoutVariableValues(message: string): string {
  const m = /^Variable "(\$[_A-Za-z][_0-9A-Za-z]*)" got invalid value /.exec(message);
  if (!m) return message;
  const at = / at "([^"]{1,100})";/.exec(message)?.[1];
  return `Variable "${m[1]}" got a value its type does not accept${at ? ` (at "${at}")` : ''}; check the value against the variable's declared type.`;
}

/**
 * Errors graphql-js raises without a code that are the caller's fault: "Too many errors processing
 * variables", and an argument that cannot take its value (`Argument "id" of non-null type "ID!" must
 * not be null.`), which execution reports for one field.
 */
export function isCallersFault(error: unknown): boolean {
  if (!(error instanceof GraphQLError) || error.originalError || error.extensions?.['code'] !== undefined) return false;
  return /^Too many (validation )?errors/.test(error.message) || /^Argument "[_A-Za-z][_0-9A-Za-z]*" /.test(error.message);
}

const shorten = (message: string): string => (message.length > MESSAGE_CHARS ? `${message.slice(0, MESSAGE_CHARS - 1)}…` : message);

export function createFormatError(fallbackLog: ErrorLogger, logged: WeakSet<object>) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    try {
      const original = unwrapResolverError(error);
      const base = { ...(formatted.locations ? { locations: formatted.locations.slice(0, 5) } : {}), ...(formatted.path ? { path: formatted.path } : {}) };
      if (original instanceof GatewayError) {
        const { http: _http, ...extensions } = original.extensions as Record<string, unknown>;
        return { ...base, message: original.message, extensions: { ...extensions, code: original.code } };
      }
      const code = formatted.extensions?.['code'];
      if ((typeof code === 'string' && REQUEST_FAULTS.has(code)) || isCallersFault(original)) {
        return { ...base, message: shorten(withoutVariableValues(formatted.message)), extensions: { code: 'BAD_USER_INPUT' satisfies GatewayErrorCode } };
      }
      if (error !== null && typeof error === 'object' && !logged.has(error)) fallbackLog.error({ err: original }, 'unexpected error outside a request\'s hooks');
      return { ...base, message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' satisfies GatewayErrorCode } };
    } catch {
      return { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
  };
}
