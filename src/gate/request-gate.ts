/**
 * The operation gate at the HTTP edge, once the caller and its role are known, a vetted operation's
 * id has been replaced by its document (persisted.ts), and before Apollo parses anything: the
 * document's size, tokens and nesting and the variables' size, depth and number of values are checked
 * against the role's limits (see request-check.ts).
 */
import type { FastifyRequest } from 'fastify';
import { BadUserInputError } from '../errors/index.js';
import { overLimit } from './refusal.js';
import { checkDocument, checkVariables } from './request-check.js';

export async function checkRequestLimits(request: FastifyRequest): Promise<void> {
  const limits = request.caller?.limits;
  if (!limits) return;
  let query: unknown;
  let variables: unknown;
  if (request.method === 'GET') {
    // Read exactly as Apollo reads it (WHATWG URL and URLSearchParams, first value of each name),
    // not through Fastify's parser, which splits some URLs differently (`#`, bad escapes): what is
    // checked must be what runs. A parameter sent twice is refused as ambiguous.
    const params = new URL(request.url, 'http://gateway.invalid/').searchParams;
    for (const name of ['query', 'variables', 'operationName', 'extensions']) {
      if (params.getAll(name).length > 1) throw new BadUserInputError(`Send the \`${name}\` parameter once.`, { details: { reason: 'ambiguous', argument: name } });
    }
    query = params.get('query') ?? undefined;
    const raw = params.get('variables');
    if (typeof raw === 'string' && raw !== '') {
      // Measured as sent, before anything parses it.
      if (raw.length > limits.variableBytes) throw overLimit('variableBytes', limits.variableBytes, raw.length);
      try {
        variables = JSON.parse(raw);
      } catch {
        // Apollo answers a `variables` parameter that is not JSON.
        return;
      }
    }
  } else {
    const body = request.body;
    if (Array.isArray(body)) throw new BadUserInputError('Send one operation per request; batched requests are not accepted.', { details: { reason: 'batched' } });
    if (body === null || typeof body !== 'object') return;
    query = (body as Record<string, unknown>)['query'];
    variables = (body as Record<string, unknown>)['variables'];
  }
  if (typeof query === 'string') checkDocument(query, limits);
  checkVariables(variables, limits);
  // Read once, as Apollo will read them: later checks of the values (risk flags) look here.
  request.sentVariables = variables;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's variables as sent (GET or POST), once the request limits have bounded them. */
    sentVariables?: unknown;
  }
}
