/** Starting the Metabase emulator on a free port, and small HTTP helpers for talking to it raw. */
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/server.js';
import type { DemoCredential } from '../../src/emulator/instance.js';

export type { Emulator };

export async function emulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({ port: 0, ...options });
}

/** The demo credential of one group (`Analysts`, `Sales`, …). */
export function credentialOf(e: Emulator, group: string): DemoCredential {
  const c = e.credentials.find((x) => x.group === group);
  if (!c) throw new TypeError(`no demo credential for group ${group}`);
  return c;
}

/** The API key of each demo group, by a short name. */
export function groupKeys(e: Emulator): Record<'admin' | 'analyst' | 'sales' | 'support' | 'agents' | 'allUsers', string> {
  const key = (group: string): string => credentialOf(e, group).apiKey;
  return { admin: key('Administrators'), analyst: key('Analysts'), sales: key('Sales'), support: key('Support'), agents: key('Agents'), allUsers: key('All Users') };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: unknown;
}

/** One raw HTTP call, as any Metabase client would make it. */
export async function raw(
  e: Emulator,
  method: string,
  path: string,
  init: { key?: string; session?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.key) headers['x-api-key'] = init.key;
  if (init.session) headers['x-metabase-session'] = init.session;
  let body: string | undefined = init.rawBody;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${e.url}${path}`, { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const asRecord = (v: unknown): Record<string, unknown> => v as Record<string, unknown>;
