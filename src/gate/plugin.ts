/**
 * The operation gate inside Apollo: once the document is parsed and validated and the operation is
 * known, and before any resolver runs, the operation is measured against the role's limits and
 * introspection right. A refusal ends the request with its error; no Metabase call is made.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLSchema } from 'graphql';
import type { GatewayContext } from '../context/context.js';
import { checkOperation, OperationMeasures } from './operation-check.js';

export function operationGatePlugin(schema: () => GraphQLSchema): ApolloServerPlugin<GatewayContext> {
  // The schema is fixed for the server's life, so what is measured of a document holds for it.
  const measures = new OperationMeasures();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, document, operation, request }) {
          if (!operation) return;
          const figures = checkOperation({
            schema: schema(), document, operation, variables: request.variables,
            limits: contextValue.operationLimits,
            canIntrospect: contextValue.roleName !== null && contextValue.role.canIntrospect,
          }, measures);
          if (contextValue.trail) contextValue.trail.cost = figures.cost;
        },
      };
    },
  };
}
