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

export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino({
    level: options.level ?? 'info',
    base: { service: 'metabase-gateway' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  }, options.destination ?? pino.destination({ dest: 1, sync: false }));
}
