/**
 * A child process holding its own copy of the sample database. Queries run here so that a runaway
 * statement (SQLite loops in native code, where no thread can be interrupted) blocks only this
 * process, which the executor kills at the statement's deadline.
 */
import Database from 'better-sqlite3';

export interface ExecuteRequest { readonly id: number; readonly sql: string; readonly params: unknown[]; readonly limit: number }
export type ExecuteReply =
  | { readonly id: number; readonly ok: true; readonly rows: unknown[][]; readonly columns: { name: string; column: string | null; table: string | null; type: string | null }[] }
  | { readonly id: number; readonly ok: false; readonly message: string; /** Set when the statement was refused before SQLite ran it. */ readonly notAQuery?: true };

/** `js-int-to-string?`: integers outside ±(2^53 − 1) travel as strings. */
const jsSafe = (v: unknown): unknown =>
  typeof v !== 'bigint' ? v : v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();

function execute(db: Database.Database, req: ExecuteRequest): ExecuteReply {
  try {
    const stmt = db.prepare(req.sql);
    // Only statements that read and change nothing: `INSERT … RETURNING` and PRAGMA setters read too.
    if (!stmt.reader || !stmt.readonly) return { id: req.id, ok: false, message: 'Select statement did not produce a ResultSet.', notAQuery: true };
    stmt.raw(true).safeIntegers(true);
    const rows: unknown[][] = [];
    for (const row of stmt.iterate(...req.params) as IterableIterator<unknown[]>) {
      rows.push(row.map(jsSafe));
      if (rows.length >= req.limit) break;
    }
    return { id: req.id, ok: true, rows, columns: stmt.columns().map((c) => ({ name: c.name, column: c.column, table: c.table, type: c.type })) };
  } catch (err) {
    return { id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

let db: Database.Database | undefined;
process.on('message', (msg: { image?: Uint8Array } | ExecuteRequest) => {
  if ('image' in msg && msg.image) {
    db = new Database(Buffer.from(msg.image));
    db.pragma('query_only = ON');
    process.send!({ ready: true });
    return;
  }
  process.send!(execute(db!, msg as ExecuteRequest));
});
// The emulator going away takes its query processes with it.
process.on('disconnect', () => process.exit(0));
