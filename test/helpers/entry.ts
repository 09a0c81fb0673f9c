/** The real entry point (`src/main.ts`) in a child process, as an operator starts it, with its output captured. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface EntryPoint {
  readonly child: ChildProcess;
  /** The GraphQL URL it printed. */
  readonly url: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** The demo user's token it printed (demo mode only). */
  token(user: string): string;
  /** Sends the signal and resolves with the exit code and signal. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: string | null }>;
  kill(): void;
}

/** Starts `src/main.ts` with this environment and waits until it serves (demo: until it printed every token). */
export async function startEntryPoint(env: Record<string, string>, args: string[] = []): Promise<EntryPoint> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const ready = (): string | undefined => /contractor:\n\s+\S+/.test(out) ? /Gateway:\s+(\S+)/.exec(out)?.[1] : /Gateway listening on (\S+)/.exec(out)?.[1];
  const end = Date.now() + 30_000;
  while (!ready()) {
    if (Date.now() > end || child.exitCode !== null) {
      child.kill('SIGKILL');
      assert.fail(`the gateway did not start:\n${out.split('\n').filter((l) => !l.includes('eyJ')).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child, url: ready()!,
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
