/**
 * A request the gateway makes to itself, in process: an MCP tool call runs its vetted operation
 * through /graphql, the same pipeline as any caller's request. What the inner request needs to know
 * about the call (its tool, the /mcp request that made it) is held here under a random 256-bit id
 * for as long as the call lasts, and the inner request carries only that id in a header: a caller
 * cannot guess a live id, and an id that names no live call is ignored. (Fastify's `inject` does not
 * carry async-local context into the request it makes, so the id travels as a header.)
 */
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export const INTERNAL_CALL_HEADER = 'x-gateway-internal-call';

export interface InternalCall {
  readonly via: 'mcp';
  /** The tool called. */
  readonly tool: string;
  /** The id of the /mcp request that made the call. */
  readonly requestId: string;
  /** Aborts when the caller of the /mcp request went away: the inner request's work stops with it. */
  readonly signal?: AbortSignal;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request is one the gateway made to itself (an MCP tool call). */
    internalCall?: InternalCall;
  }
}

class InternalCalls {
  readonly #live = new Map<string, InternalCall>();

  /** Runs `send` with the header that marks its request as this call. */
  async run<T>(call: InternalCall, send: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    const id = randomBytes(32).toString('hex');
    this.#live.set(id, call);
    try {
      return await send({ [INTERNAL_CALL_HEADER]: id });
    } finally {
      this.#live.delete(id);
    }
  }

  /** The call a request is, if its header names a live one; an id serves one request only. */
  of(request: FastifyRequest): InternalCall | undefined {
    const id = request.headers[INTERNAL_CALL_HEADER];
    if (typeof id !== 'string' || id.length !== 64) return undefined;
    const call = this.#live.get(id);
    this.#live.delete(id);
    return call;
  }
}

export const internalCalls = new InternalCalls();
