/**
 * Status and error mapping at the HTTP edge, for everything answered outside a GraphQL execution:
 * refused tokens, the operation gate's refusals before parsing, bodies that cannot be read, unknown
 * routes, and headers too large to parse. Every answer is a GraphQL error body with a code from the
 * closed set and a fixed message; the status follows the code (401, 403, 429, 400, 413, 415, 404).
 * Errors the gateway did not expect are logged once with the request id and answered 500 with no detail.
 */
import type { Socket } from 'node:net';
import Negotiator from 'negotiator';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError, type GatewayErrorCode } from '../errors/index.js';

export const MEDIA_JSON = 'application/json; charset=utf-8';
export const MEDIA_GRAPHQL_RESPONSE = 'application/graphql-response+json; charset=utf-8';

/** Whether the client asked for `application/graphql-response+json` over `application/json` (GraphQL over HTTP). */
export function prefersGraphQLResponse(accept: string | undefined): boolean {
  if (!accept) return false;
  // Listed first, `application/json` wins ties (`*/*`), as Apollo Server decides.
  return new Negotiator({ headers: { accept } }).mediaType(['application/json', 'application/graphql-response+json']) === 'application/graphql-response+json';
}

export const HTTP_STATUS: Partial<Record<GatewayErrorCode, number>> = {
  UNAUTHENTICATED: 401, FORBIDDEN: 403, BAD_USER_INPUT: 400, NOT_FOUND: 404, RATE_LIMITED: 429, QUERY_TOO_COMPLEX: 400,
  PERSISTED_QUERY_REQUIRED: 400, PERSISTED_QUERY_NOT_FOUND: 400,
  UPSTREAM_AUTH: 502, UPSTREAM_TIMEOUT: 504, UPSTREAM_UNAVAILABLE: 503,
};

/**
 * The request line and headers are read up to the token limit plus this much for every other
 * header plus URL_BYTES for the URL (a GraphQL GET carries its document there), so that a token just
 * over the limit is refused with its reason (`too-large`), and anything larger is 431.
 */
export const OTHER_HEADERS_BYTES = 16 * 1024;
/** Room for the URL: a document at the default documentBytes limit fits even percent-encoded. */
export const URL_BYTES = 128 * 1024;

export function sendError(request: FastifyRequest, reply: FastifyReply, status: number, code: GatewayErrorCode, message: string, extensions: Readonly<Record<string, unknown>> = {}): FastifyReply {
  const type = prefersGraphQLResponse(request.headers.accept) ? MEDIA_GRAPHQL_RESPONSE : MEDIA_JSON;
  return reply.code(status).type(type).send({ errors: [{ message, extensions: { ...extensions, code } }] });
}

/** A gateway error's status (its own `http.status` first), and its client-safe extensions. */
export function statusOf(err: GatewayError): { status: number; extensions: Record<string, unknown> } {
  const { http, ...extensions } = err.extensions as Record<string, unknown> & { http?: { status?: number } };
  return { status: http?.status ?? HTTP_STATUS[err.code] ?? 500, extensions };
}

/** Headers too large even for the header limit, or not HTTP: answered before Fastify sees the request. */
export const clientErrorHandler = (maxHeaderBytes: number) => (err: NodeJS.ErrnoException, socket: Socket): void => {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, text, message] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'Request Header Fields Too Large', `The URL and headers together are larger than ${maxHeaderBytes} bytes: a bearer token may be at most TOKEN_MAX_BYTES, and a long GET query is better sent by POST.`]
    : [400, 'Bad Request', 'The request could not be read as HTTP.'];
  const body = JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] });
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
};

/** Fastify's own request failures (bad JSON, size, media type), in the GraphQL error shape, with the reason the audit record keeps. */
function requestFault(err: FastifyError, limitBytes: number): { status: number; message: string; reason: string } | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY': case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, message: 'The request body is not valid JSON.', reason: 'malformed-body' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: `The request body is larger than ${limitBytes} bytes.`, reason: 'body-too-large' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'Send GraphQL requests as application/json (POST) or as query parameters (GET).', reason: 'media-type' };
    default:
      return err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? { status: err.statusCode, message: 'The request could not be read.', reason: 'unreadable' } : undefined;
  }
}

export function installErrorHandlers(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const thrown: unknown = err;
    if (thrown instanceof GatewayError) {
      const { status, extensions } = statusOf(thrown);
      // The identity provider unreachable, or anything else on the gateway's side: logged once, with its cause.
      if (status >= 500) request.log.error({ event: 'request.error', code: thrown.code, reason: extensions['reason'], err: thrown.originalError ?? thrown, detail: thrown.detail }, 'a request failed before any operation');
      if (request.trail) request.trail.refused ??= { code: thrown.code, reason: extensions['reason'] ?? extensions['limit'] };
      // A route may have set its own challenge (/mcp names its protected-resource metadata).
      if (thrown.code === 'UNAUTHENTICATED' && !reply.hasHeader('www-authenticate')) {
        reply.header('www-authenticate', status === 400 ? 'Bearer realm="metabase-gateway", error="invalid_request"' : 'Bearer realm="metabase-gateway"');
      }
      const retry = extensions['retryAfterSeconds'];
      if (typeof retry === 'number') reply.header('retry-after', String(retry));
      return sendError(request, reply, status, thrown.code, thrown.message, extensions);
    }
    const fault = requestFault(err, bodyLimitBytes);
    if (fault) {
      if (request.trail) request.trail.refused ??= { code: 'BAD_USER_INPUT', reason: fault.reason };
      return sendError(request, reply, fault.status, 'BAD_USER_INPUT', fault.message);
    }
    request.log.error({ err }, 'unexpected error outside an operation');
    return sendError(request, reply, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error.');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, 404, 'NOT_FOUND', 'Nothing is served at this path; GraphQL is at /graphql.'));
}
