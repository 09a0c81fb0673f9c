/**
 * The one place errors are shaped for clients. Gateway errors pass through with their code; errors
 * graphql-js and Apollo raise for bad requests become BAD_USER_INPUT with their message; anything
 * else is logged and replaced by a generic INTERNAL_SERVER_ERROR. Never throws, never adds a stack.
 */
import type { GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { GatewayError, type GatewayErrorCode } from './index.js';

/** Apollo's and graphql-js's codes for a request that is wrong, as opposed to a server fault. */
const REQUEST_FAULTS = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'BAD_REQUEST', 'OPERATION_RESOLUTION_FAILURE', 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED']);

export interface ErrorLogger {
  error(obj: object, msg: string): void;
}

export function createFormatError(log: ErrorLogger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    try {
      const original = unwrapResolverError(error);
      const base = { message: formatted.message, ...(formatted.locations ? { locations: formatted.locations } : {}), ...(formatted.path ? { path: formatted.path } : {}) };
      if (original instanceof GatewayError) {
        const { http: _http, ...extensions } = original.extensions as Record<string, unknown>;
        return { ...base, message: original.message, extensions: { ...extensions, code: original.code } };
      }
      const code = formatted.extensions?.['code'];
      if (typeof code === 'string' && REQUEST_FAULTS.has(code)) {
        return { ...base, extensions: { code: 'BAD_USER_INPUT' satisfies GatewayErrorCode } };
      }
      log.error({ err: original }, 'unexpected error while executing an operation');
      return { ...base, message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' satisfies GatewayErrorCode } };
    } catch {
      return { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
  };
}
