/**
 * The closed set of error codes a client of the gateway can see, in `extensions.code`. Codes are
 * public API: a retired code is never reused for something else.
 */
export const GATEWAY_ERROR_CODES = {
  UNAUTHENTICATED: 'No valid bearer token was sent, or it has expired.',
  FORBIDDEN: 'The caller may not see or run this; Metabase or the gateway policy denied it.',
  BAD_USER_INPUT: 'An argument, parameter value or request body was not what the operation expects.',
  NOT_FOUND: 'The object does not exist, or is not visible to the caller.',
  RATE_LIMITED: 'The caller sent too many requests; retry after the time given.',
  PERSISTED_QUERY_REQUIRED: 'The caller\'s role may run vetted operations only, sent by id (`documentId` or `extensions.persistedQuery.sha256Hash`), not a document.',
  PERSISTED_QUERY_NOT_FOUND: 'No vetted operation has the id sent.',
  QUERY_TOO_COMPLEX: 'The request exceeds one of the gateway\'s limits (size, depth, aliases, cost, runs…); `extensions` name the limit, its value and the measured figure.',
  QUERY_FAILED: 'Metabase ran the query and it failed; `extensions.errorType` is Metabase\'s error type.',
  UPSTREAM_AUTH: 'Metabase refused the gateway\'s credential for this role (revoked key, failed login).',
  UPSTREAM_TIMEOUT: 'Metabase did not answer within the gateway\'s timeout.',
  UPSTREAM_UNAVAILABLE: 'Metabase could not be reached, failed, or cut its answer short; or the gateway\'s shared store (access requests) did not answer.',
  INTERNAL_SERVER_ERROR: 'Something unexpected failed inside the gateway; details are in its logs only.',
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERROR_CODES;
