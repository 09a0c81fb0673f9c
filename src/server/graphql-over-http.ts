/**
 * Status codes as the GraphQL-over-HTTP specification asks, for both response media types: a
 * request error (the document does not parse or validate, a variable does not fit its type, the
 * operation name matches nothing) is answered 200 to an `application/json` client and 400 to an
 * `application/graphql-response+json` one; field errors leave 200 either way. The gateway's own
 * refusals keep their status (QUERY_TOO_COMPLEX 400, FORBIDDEN 403).
 *
 * And one piece of hygiene: a role that may not introspect does not learn field names from
 * validation messages' suggestions ("Did you mean …?").
 */
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import type { GatewayContext } from '../context/context.js';
import { prefersGraphQLResponse } from './http-errors.js';

/** What the specification calls a request error: the document, the variables or the operation name are wrong. */
const REQUEST_ERRORS = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'OPERATION_RESOLUTION_FAILURE']);
const isRequestError = (e: GraphQLError): boolean => REQUEST_ERRORS.has(String(e.extensions?.['code'])) || /^Too many errors processing variables/.test(e.message);

export function graphqlOverHttpPlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ request, contextValue }) {
      return {
        async willSendResponse({ response, errors: raised }) {
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          const errors = result.errors ?? [];
          if (errors.length === 0) return;
          const requestError = result.data === undefined && response.http.status === 400 && (raised ?? []).length > 0 && (raised ?? []).every(isRequestError);
          if (requestError) response.http.status = prefersGraphQLResponse(request.http?.headers.get('accept')) ? 400 : 200;
          const canIntrospect = contextValue.roleName !== null && contextValue.role.canIntrospect;
          if (!canIntrospect) {
            result.errors = errors.map((e) => (/ Did you mean /.test(e.message) ? { ...e, message: e.message.replace(/ Did you mean .*$/, '') } : e));
          }
        },
      };
    },
  };
}
