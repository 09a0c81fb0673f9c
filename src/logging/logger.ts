/**
 * The root logger: pino, JSON lines. Headers and fields that can carry a secret are redacted by path,
 * as a second lock behind the rule that secrets are never passed to a log call.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export const REDACTED_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'req.headers["x-metabase-session"]',
  'headers.authorization', 'headers.cookie', 'headers["x-api-key"]', 'headers["x-metabase-session"]',
  '*.password', '*.apiKey', '*.token', '*.sessionId',
];

let stdout: ReturnType<typeof pino.destination> | undefined;

/** The one asynchronous writer of standard output, shared by the operational log and the audit trail. */
export function stdoutWriter(): ReturnType<typeof pino.destination> {
  stdout ??= pino.destination({ dest: 1, sync: false });
  return stdout;
}

/**
 * JSON lines on standard output; for humans (pino-pretty) when asked, or by default when standard
 * output is a terminal. A destination given by the caller (tests) always gets JSON.
 */
export function createLogger(options: { level?: string; destination?: DestinationStream; pretty?: boolean | null } = {}): Logger {
  const settings = { level: options.level ?? 'info', base: { service: 'metabase-gateway' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (options.destination) return pino(settings, options.destination);
  if (options.pretty ?? process.stdout.isTTY) {
    return pino({ ...settings, transport: { target: 'pino-pretty', options: { colorize: process.stdout.isTTY, ignore: 'pid,hostname,service' } } });
  }
  return pino(settings, stdoutWriter());
}
