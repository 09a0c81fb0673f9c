/** The real entry point (`src/main.ts`) in a child process, as an operator starts it, with its output captured. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';

export interface EntryPoint {
  readonly child: ChildProcess;
  /** The GraphQL URL it printed. */
  readonly url: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** The demo user's token it printed (demo mode only). */
  token(user: string): string;
  /** Resolves once its output matches, checked as output arrives; fails if it exits or `timeoutMs` passes first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends the signal and resolves with the exit code and signal. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: string | null }>;
  kill(): void;
}

/** Starts `src/main.ts` with this environment and waits until it serves (demo: until it printed every token). */
export async function startEntryPoint(env: Record<string, string>, args: string[] = []): Promise<EntryPoint> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const output = new EventEmitter();
  const take = (d: Buffer): void => {
    out += d.toString();
    output.emit('data');
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  child.once('exit', () => output.emit('exit'));
  const waitForOutput = async (pattern: RegExp, timeoutMs = 30_000): Promise<void> => {
    const deadline = AbortSignal.timeout(timeoutMs);
    while (!pattern.test(out)) {
      if (child.exitCode !== null || child.signalCode !== null) assert.fail(`the gateway exited before printing ${pattern}:\n${printable(out)}`);
      try {
        await Promise.race([once(output, 'data', { signal: deadline }), once(output, 'exit', { signal: deadline })]);
      } catch {
        assert.fail(`the gateway did not print ${pattern} within ${timeoutMs} ms:\n${printable(out)}`);
      }
    }
  };
  const ready = (): string | undefined => /contractor:\n\s+\S+/.test(out) ? /Gateway:\s+(\S+)/.exec(out)?.[1] : /Gateway listening on (\S+)/.exec(out)?.[1];
  try {
    await waitForOutput(/contractor:\n\s+\S+|Gateway listening on \S+/);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    child, url: ready()!, waitForOutput,
    output: () => out,
    token: (user) => new RegExp(`\\n {2}${user}:\\n {2}(\\S+)`).exec(out)![1]!,
    async stop(signal = 'SIGTERM') {
      const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
      child.kill(signal);
      const [code, sig] = await exited;
      return { code, signal: sig };
    },
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Output without the demo's tokens, for failure messages. */
const printable = (out: string): string => out.split('\n').filter((l) => !l.includes('eyJ')).join('\n');
