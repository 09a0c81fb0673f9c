/**
 * Errors that clients see. Each class stamps one code from the closed set in `codes.ts` onto
 * `extensions.code`, so `switch (err.code)` narrows. Messages say what was expected; they never
 * carry a credential, a stack trace or an internal detail. Start-up faults use plain TypeErrors.
 */
import { GraphQLError } from 'graphql';
import type { GatewayErrorCode } from './codes.js';

export { GATEWAY_ERROR_CODES, type GatewayErrorCode } from './codes.js';

export interface GatewayErrorOptions {
  /** Extra, client-safe details placed in `extensions` next to `code`. */
  readonly details?: Readonly<Record<string, unknown>>;
  /** The original failure, for logs only; never serialized to clients. */
  readonly cause?: unknown;
  /** What went wrong in words the client must not see (Metabase's text, a host name): logged with the request id. */
  readonly detail?: string;
}

export abstract class GatewayError<C extends GatewayErrorCode = GatewayErrorCode> extends GraphQLError {
  abstract readonly code: C;
  /** Log-only detail; see GatewayErrorOptions.detail. */
  readonly detail: string | undefined;

  protected constructor(code: C, message: string, options: GatewayErrorOptions = {}) {
    super(message, { extensions: { code, ...options.details }, originalError: causeAsError(options.cause) });
    this.detail = options.detail;
  }
}

const causeAsError = (cause: unknown): Error | undefined =>
  cause === undefined ? undefined : cause instanceof Error ? cause : new Error(String(cause));

export class UnauthenticatedError extends GatewayError<'UNAUTHENTICATED'> {
  readonly code = 'UNAUTHENTICATED';
  constructor(message: string, options?: GatewayErrorOptions) { super('UNAUTHENTICATED', message, options); }
}

export class ForbiddenError extends GatewayError<'FORBIDDEN'> {
  readonly code = 'FORBIDDEN';
  constructor(message: string, options?: GatewayErrorOptions) { super('FORBIDDEN', message, options); }
}

export class BadUserInputError extends GatewayError<'BAD_USER_INPUT'> {
  readonly code = 'BAD_USER_INPUT';
  constructor(message: string, options?: GatewayErrorOptions) { super('BAD_USER_INPUT', message, options); }
}

export class NotFoundError extends GatewayError<'NOT_FOUND'> {
  readonly code = 'NOT_FOUND';
  constructor(message: string, options?: GatewayErrorOptions) { super('NOT_FOUND', message, options); }
}

export class RateLimitedError extends GatewayError<'RATE_LIMITED'> {
  readonly code = 'RATE_LIMITED';
  constructor(message: string, options?: GatewayErrorOptions) { super('RATE_LIMITED', message, options); }
}

export class PersistedQueryRequiredError extends GatewayError<'PERSISTED_QUERY_REQUIRED'> {
  readonly code = 'PERSISTED_QUERY_REQUIRED';
  constructor(message: string, options?: GatewayErrorOptions) { super('PERSISTED_QUERY_REQUIRED', message, options); }
}

export class PersistedQueryNotFoundError extends GatewayError<'PERSISTED_QUERY_NOT_FOUND'> {
  readonly code = 'PERSISTED_QUERY_NOT_FOUND';
  constructor(message: string, options?: GatewayErrorOptions) { super('PERSISTED_QUERY_NOT_FOUND', message, options); }
}

export class QueryTooComplexError extends GatewayError<'QUERY_TOO_COMPLEX'> {
  readonly code = 'QUERY_TOO_COMPLEX';
  constructor(message: string, options?: GatewayErrorOptions) { super('QUERY_TOO_COMPLEX', message, options); }
}

export class QueryFailedError extends GatewayError<'QUERY_FAILED'> {
  readonly code = 'QUERY_FAILED';
  constructor(message: string, options?: GatewayErrorOptions) { super('QUERY_FAILED', message, options); }
}

export class UpstreamAuthError extends GatewayError<'UPSTREAM_AUTH'> {
  readonly code = 'UPSTREAM_AUTH';
  constructor(message: string, options?: GatewayErrorOptions) { super('UPSTREAM_AUTH', message, options); }
}

export class UpstreamTimeoutError extends GatewayError<'UPSTREAM_TIMEOUT'> {
  readonly code = 'UPSTREAM_TIMEOUT';
  constructor(message: string, options?: GatewayErrorOptions) { super('UPSTREAM_TIMEOUT', message, options); }
}

export class UpstreamUnavailableError extends GatewayError<'UPSTREAM_UNAVAILABLE'> {
  readonly code = 'UPSTREAM_UNAVAILABLE';
  constructor(message: string, options?: GatewayErrorOptions) { super('UPSTREAM_UNAVAILABLE', message, options); }
}

export class InternalServerError extends GatewayError<'INTERNAL_SERVER_ERROR'> {
  readonly code = 'INTERNAL_SERVER_ERROR';
  constructor(message = 'Unexpected error.', options?: GatewayErrorOptions) { super('INTERNAL_SERVER_ERROR', message, options); }
}

/** One class per code; the catalogue test checks this map against `GATEWAY_ERROR_CODES`. */
export const ERROR_CLASSES = {
  UNAUTHENTICATED: UnauthenticatedError,
  FORBIDDEN: ForbiddenError,
  BAD_USER_INPUT: BadUserInputError,
  NOT_FOUND: NotFoundError,
  RATE_LIMITED: RateLimitedError,
  PERSISTED_QUERY_REQUIRED: PersistedQueryRequiredError,
  PERSISTED_QUERY_NOT_FOUND: PersistedQueryNotFoundError,
  QUERY_TOO_COMPLEX: QueryTooComplexError,
  QUERY_FAILED: QueryFailedError,
  UPSTREAM_AUTH: UpstreamAuthError,
  UPSTREAM_TIMEOUT: UpstreamTimeoutError,
  UPSTREAM_UNAVAILABLE: UpstreamUnavailableError,
  INTERNAL_SERVER_ERROR: InternalServerError,
} as const satisfies { [C in GatewayErrorCode]: new (message: string, options?: GatewayErrorOptions) => GatewayError<C> };
