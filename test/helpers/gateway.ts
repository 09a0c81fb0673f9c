/** Starting the whole demo stack on free ports, and a typed GraphQL client using codegen documents. */
import { print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { loadConfig } from '../../src/config/config.js';
import { startDemo, type DemoStack, type DemoUser } from '../../src/demo.js';

export type { DemoStack };

export function startStack(env: Record<string, string> = {}): Promise<DemoStack> {
  return startDemo(loadConfig({ PORT: '0', ...env }));
}

export interface GqlError {
  readonly message: string;
  readonly path?: readonly (string | number)[];
  readonly extensions?: { readonly code?: string; readonly [key: string]: unknown };
}

export interface GqlResult<T> {
  readonly status: number;
  readonly data?: T | null;
  readonly errors?: readonly GqlError[];
}

/** Sends an operation as `user` (or with an explicit Authorization header value, or none). */
export async function gql<T, V>(
  stack: DemoStack,
  as: DemoUser | { authorization?: string },
  document: TypedDocumentNode<T, V>,
  variables?: V,
): Promise<GqlResult<T>> {
  const authorization = typeof as === 'string' ? `Bearer ${stack.tokens[as]}` : as.authorization;
  const res = await fetch(`${stack.gatewayUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return { status: res.status, ...((await res.json()) as { data?: T; errors?: GqlError[] }) };
}

/** The codes of a result's errors. */
export const codes = (r: GqlResult<unknown>): (string | undefined)[] => (r.errors ?? []).map((e) => e.extensions?.code);
