/**
 * Audit recording at the HTTP edge: every /graphql request gets a trail and a scope as it arrives,
 * before its token or body are read, so that every request leaves exactly one record, refused ones
 * included (a bad token, a body that is not JSON, a wrong content type, a limit), and ones whose
 * caller went away (status 499). A record is written once the response has gone out and the work
 * done for the request has settled, which the request's deadline bounds; at shutdown, records still
 * waiting are written at once, so none is lost.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit.js';
import { Trail } from '../audit/trail.js';
import type { OperationLimits } from '../config/limits.js';
import { internalCalls } from './internal-call.js';
import { InFlight, RequestScope } from './request-scope.js';

declare module 'fastify' {
  interface FastifyRequest {
    trail?: Trail;
    scope?: RequestScope;
    responseBytes?: number;
  }
}

export interface AuditRecordingOptions {
  readonly audit: AuditLog;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  /** The limits a request has before its role is known. */
  readonly defaultLimits: () => OperationLimits;
  /** Called with each trail when its work has settled, just before its record is written. */
  readonly beforeWrite?: (trail: Trail) => void | Promise<void>;
}

export class AuditRecorder {
  readonly inFlight = new InFlight();
  readonly #waiting = new Set<() => void>();
  readonly #written = new Set<Promise<void>>();
  #flushing = false;

  constructor(private readonly options: AuditRecordingOptions) {}

  /** onRequest: the request's trail and scope, and the handler that records it when the exchange is over. */
  readonly begin = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const trail = new Trail(String(request.id));
    const clientId = request.headers['x-request-id'];
    if (typeof clientId === 'string') trail.clientRequestId = clientId.slice(0, 128);
    const scope = new RequestScope(trail, this.options.requestTimeoutMs, this.options.defaultLimits());
    const internal = internalCalls.of(request);
    if (internal) {
      request.internalCall = internal;
      trail.mcp = { tool: internal.tool, requestId: internal.requestId };
      // The outer caller gone is this request's caller gone: its Metabase calls stop.
      if (internal.signal?.aborted) scope.stop('client-gone');
      else internal.signal?.addEventListener('abort', () => scope.stop('client-gone'), { once: true });
    }
    request.trail = trail;
    request.scope = scope;
    this.inFlight.add(scope);
    reply.raw.once('close', () => {
      // Outside Fastify's and Apollo's error handling: nothing thrown here may escape.
      try {
        this.#finish(request, reply, trail, scope);
      } catch (err) {
        this.options.logger.error({ err, requestId: trail.requestId }, 'recording a request failed');
      }
    });
  };

  /** onSend: the size of the answer, for the record. */
  readonly measure = async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    if (request.trail) {
      request.responseBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.length : Number(reply.getHeader('content-length') ?? 0);
    }
    return payload;
  };

  #finish(request: FastifyRequest, reply: FastifyReply, trail: Trail, scope: RequestScope): void {
    // An in-process request (an MCP tool call) has no socket to flush: ending it is answering it.
    const answered = reply.raw.writableFinished || (request.internalCall !== undefined && reply.raw.writableEnded);
    // A caller that went away takes its request's work with it: Metabase calls still running stop.
    if (!answered) scope.stop('client-gone');
    const status = answered ? reply.statusCode : 499;
    const settled = trail.settled(this.#flushing ? 0 : Math.max(0, scope.deadlineAt - Date.now()) + 1_000);
    this.#waiting.add(settled.now);
    const written = settled.done.then(async () => {
      // Bounded: what runs here (the risk flags' shared count) answers within the store's deadline;
      // whatever it does, the record is written.
      try {
        await this.options.beforeWrite?.(trail);
      } catch (err) {
        this.options.logger.error({ err, requestId: trail.requestId }, 'completing an audit record failed; it is written as it is');
      }
      this.options.audit.write(trail, { status, responseBytes: request.responseBytes ?? 0 });
    }).catch((err: unknown) => {
      this.options.logger.error({ err, requestId: trail.requestId }, 'an audit record could not be written');
    }).finally(() => {
      this.#waiting.delete(settled.now);
      this.#written.delete(written);
      this.inFlight.delete(scope);
      scope.dispose();
    });
    this.#written.add(written);
  }

  /** Shutdown: records still waiting for their work are written now, and so is every later one. */
  flushNow(): void {
    this.#flushing = true;
    for (const now of [...this.#waiting]) now();
  }

  /** Resolves when every record begun so far is written. */
  async idle(): Promise<void> {
    while (this.#written.size > 0) await Promise.all([...this.#written]);
  }
}
