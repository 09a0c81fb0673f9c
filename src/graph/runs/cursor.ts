/** Cursors into a run's rows. */
import { BadUserInputError } from '../../errors/index.js';

/** A cursor names one row of one run: `r:<run id>:<row index>`, encoded so clients treat it as opaque. */
export const encodeCursor = (runId: string, row: number): string => Buffer.from(`r:${runId}:${row}`).toString('base64url');

/** The row a cursor names, checked to be a row of this run. */
export function decodeCursor(cursor: string, run: { readonly id: string; readonly rowCount: number }): number {
  const m = cursor.length <= 128 ? /^r:([0-9a-f-]{36}):(\d{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  if (!m || m[1] !== run.id || Number(m[2]) >= run.rowCount) {
    throw new BadUserInputError('Expected `after` to be an `endCursor` from a page of this run.', { details: { argument: 'after' } });
  }
  return Number(m[2]);
}
