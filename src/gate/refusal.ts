/** A request over one of the limits: QUERY_TOO_COMPLEX naming the limit, its value and the figure measured. */
import { LIMIT_WORDS, type LimitName } from '../config/limits.js';
import { QueryTooComplexError } from '../errors/index.js';

/**
 * @param measured the figure found, or a lower bound of it when counting stopped early (`atLeast`).
 * @param during true for limits counted while the operation executes (runs, Metabase calls): the
 *   error is then one field's error in a partial result, not a refusal of the whole request (HTTP 400).
 */
export function overLimit(limit: LimitName, max: number, measured: number, atLeast = false, during = false): QueryTooComplexError {
  const found = atLeast ? `more than ${max}` : String(measured);
  return new QueryTooComplexError(`The request has ${found} ${LIMIT_WORDS[limit]}; the limit for your role is ${max}.`, {
    details: { limit, max, measured, ...(atLeast ? { measuredAtLeast: true } : {}), ...(during ? {} : { http: { status: 400 } }) },
  });
}
