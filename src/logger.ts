// One pino logger per process, writing JSON lines to stderr (stdout is kept for command output).
// Secrets never reach the logs: known secret fields are redacted and URLs lose their passwords.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_REDACT_PATHS = [
  'password', '*.password', 'databaseUrl', '*.databaseUrl', 'redisUrl', '*.redisUrl',
  'connection', '*.connection', 'token', '*.token', 'authorization', '*.authorization',
];

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
