/**
 * Every error of an operation that the gateway did not cause on purpose is logged once, through the
 * request's logger (so with its request id, viewer and role), with what the client is not told: the
 * upstream detail (Metabase's message, status, the call), or the unexpected error with its stack.
 * Refusals of the caller's own making (FORBIDDEN by policy, bad input, limits) are not: the audit
 * record has them.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import type { GatewayContext } from '../context/context.js';
import { isCallersFault, REQUEST_FAULTS } from '../errors/format-error.js';
import { GatewayError } from '../errors/index.js';

const SERVER_SIDE = new Set(['UPSTREAM_AUTH', 'UPSTREAM_TIMEOUT', 'UPSTREAM_UNAVAILABLE', 'INTERNAL_SERVER_ERROR']);

export function errorLogPlugin(logged: WeakSet<object>): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ contextValue }) {
      return {
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            logged.add(error);
            const original = unwrapResolverError(error);
            const path = error.path?.join('.');
            if (original instanceof GatewayError) {
              if (original.detail === undefined && !SERVER_SIDE.has(original.code)) continue;
              const line = { event: 'graphql.error', code: original.code, reason: original.extensions['reason'], upstreamStatus: original.extensions['upstreamStatus'], path, detail: original.detail };
              if (SERVER_SIDE.has(original.code)) contextValue.log.error(line, 'an operation failed upstream');
              else contextValue.log.info(line, 'Metabase refused part of an operation');
            } else {
              const code = error.extensions?.['code'];
              if (typeof code === 'string' && REQUEST_FAULTS.has(code)) continue;
              if (isCallersFault(original)) continue;
              contextValue.log.error({ event: 'graphql.error', code: 'INTERNAL_SERVER_ERROR', path, err: original }, 'unexpected error while executing an operation');
            }
          }
        },
      };
    },
  };
}
