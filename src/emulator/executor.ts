/**
 * Runs SQL on the sample database in child processes, each with its own copy, with a deadline per
 * statement. A statement past its deadline is stopped by killing its process, which is replaced.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { h2ErrorMessage } from './internals.js';
import { QueryError } from './query-error.js';
import type { ExecuteReply, ExecuteRequest } from './sql-process.js';

export interface ExecuteResult {
  readonly rows: unknown[][];
  readonly columns: { name: string; column: string | null; table: string | null; type: string | null }[];
}

export interface ExecutorOptions {
  /** Statements running at once (one per process). Default 2. */
  readonly childs?: number;
  /** Longest a statement may run, in ms. Default 30,000. */
  readonly timeoutMs?: number;
}

interface Job {
  readonly request: Omit<ExecuteRequest, 'id'>;
  resolve(r: ExecuteResult): void;
  reject(e: Error): void;
}

// Tests and `npm start` run the TypeScript sources through tsx; a build runs the compiled .js.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const PROCESS_URL = new URL(`./sql-process${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

function newProcess(): ChildProcess {
  return fork(PROCESS_URL, [], {
    execArgv: FROM_SOURCE ? ['--import', import.meta.resolve('tsx')] : [],
    serialization: 'advanced', // keeps Buffers and typed values intact
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

export class SqlExecutor {
  private readonly idle: ChildProcess[] = [];
  private readonly queue: Job[] = [];
  private readonly all = new Set<ChildProcess>();
  private readonly started = new Set<ChildProcess>();
  private readonly busy = new Map<ChildProcess, { id: number; job: Job; timer: NodeJS.Timeout }>();
  private readonly timeoutMs: number;
  private nextId = 1;
  private closed = false;

  private constructor(private readonly image: Buffer, options: ExecutorOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  static async start(image: Buffer, options: ExecutorOptions = {}): Promise<SqlExecutor> {
    const executor = new SqlExecutor(image, options);
    await Promise.all(Array.from({ length: options.childs ?? 2 }, () => executor.spawn()));
    return executor;
  }

  execute(sql: string, params: unknown[], limit: number): Promise<ExecuteResult> {
    if (this.closed) return Promise.reject(new QueryError('server', 'The database is shutting down.'));
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { sql, params, limit }, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new QueryError('server', 'The database is shutting down.'));
    for (const child of this.all) child.kill('SIGKILL');
    this.all.clear();
  }

  private async spawn(): Promise<void> {
    const child = newProcess();
    this.all.add(child);
    child.on('error', () => this.retire(child, new QueryError('server', 'The query process failed.')));
    child.on('exit', () => this.retire(child, new QueryError('server', 'The query process stopped.')));
    // Ready once its database is open: the first query then pays no start-up cost.
    await new Promise<void>((resolve, reject) => {
      child.once('message', (m: { ready?: boolean }) => (m.ready ? resolve() : reject(new Error('query process did not start'))));
      child.once('exit', () => reject(new Error('query process exited while starting')));
      child.send({ image: this.image });
    });
    child.on('message', (reply: ExecuteReply) => this.settle(child, reply));
    this.started.add(child);
    this.idle.push(child);
    this.dispatch();
  }

  /** Stops a process (failed, or running past its deadline), fails its job, and starts a replacement. */
  private retire(child: ChildProcess, error: Error): void {
    if (!this.all.delete(child)) return;
    const running = this.busy.get(child);
    this.busy.delete(child);
    if (running) {
      clearTimeout(running.timer);
      running.job.reject(error);
    }
    const i = this.idle.indexOf(child);
    if (i >= 0) this.idle.splice(i, 1);
    child.kill('SIGKILL');
    // Replace only a process that had started: one that cannot start would otherwise be forked forever.
    if (!this.closed && this.started.delete(child)) void this.spawn().catch(() => undefined);
  }

  private settle(child: ChildProcess, reply: ExecuteReply): void {
    const running = this.busy.get(child);
    if (!running || running.id !== reply.id) return;
    clearTimeout(running.timer);
    this.busy.delete(child);
    if (reply.ok) running.job.resolve({ rows: reply.rows, columns: reply.columns });
    // SQLite's errors are reported as Metabase's H2 driver reports them, quoting the statement.
    else running.job.reject(new QueryError('invalid-query', reply.notAQuery ? reply.message : h2ErrorMessage(reply.message, running.job.request.sql), running.job.request.sql));
    this.idle.push(child);
    this.dispatch();
  }

  private dispatch(): void {
    while (this.idle.length && this.queue.length) {
      const child = this.idle.shift()!;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.retire(child, new QueryError('db', `The query ran longer than ${this.timeoutMs} ms and was stopped.`));
      }, this.timeoutMs);
      this.busy.set(child, { id, job, timer });
      child.send({ id, ...job.request } satisfies ExecuteRequest);
    }
  }
}
