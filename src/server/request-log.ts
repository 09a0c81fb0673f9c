/**
 * One log line per request, when it completes: method, path, the names of its query parameters
 * (never their values: a token or a password sent in a URL must not reach the log), status and time,
 * on the request's logger (so with its viewer and role once known). 5xx at error, the rest at info.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Path and query-parameter names of a URL, at most 20 names of at most 64 characters each. */
export function describeUrl(url: string): { path: string; queryKeys?: string[] } {
  const q = url.indexOf('?');
  if (q < 0) return { path: url.slice(0, 512) };
  const keys = [...new Set(new URLSearchParams(url.slice(q + 1)).keys())].slice(0, 20).map((k) => k.slice(0, 64));
  return { path: url.slice(0, Math.min(q, 512)), queryKeys: keys };
}

export async function logCompletedRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const line = {
    method: request.method, ...describeUrl(request.url), status: reply.statusCode,
    responseTimeMs: Math.round(reply.elapsedTime * 100) / 100, ip: request.ip,
  };
  if (reply.statusCode >= 500) request.log.error(line, 'request completed');
  else request.log.info(line, 'request completed');
}
