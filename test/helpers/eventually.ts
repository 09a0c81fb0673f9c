/**
 * Waits for a condition outside the test's control (a server reconnecting, a key expiring, a process
 * reaching a state): tested again each turn of the event loop, or every `everyMs`, up to `withinMs`.
 */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, options: { withinMs?: number; everyMs?: number } = {}): Promise<void> {
  const withinMs = options.withinMs ?? 2_000;
  const until = performance.now() + withinMs;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`${what}: not within ${withinMs} ms`);
    await new Promise((r) => (options.everyMs ? setTimeout(r, options.everyMs) : setImmediate(r)));
  }
}
