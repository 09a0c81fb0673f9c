/**
 * A failed query run, as Metabase's query processor reports it: an `error_type` from its closed set
 * (API-CONTRACT.md §4.5) and a message. The emulator turns it into the failed-run body.
 */
export type QueryErrorType =
  | 'client'
  | 'invalid-query'
  | 'invalid-parameter'
  | 'missing-required-parameter'
  | 'missing-required-permissions'
  | 'server'
  | 'qp'
  | 'db';

export class QueryError extends Error {
  override readonly name = 'QueryError';
  constructor(
    readonly errorType: QueryErrorType,
    message: string,
    /** The statement the warehouse rejected, when the warehouse rejected one. */
    readonly sql?: string,
  ) {
    super(message);
  }
}
