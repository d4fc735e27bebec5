// One pino logger per process, writing JSON lines to stderr (stdout is kept for command output).
// Secrets never reach the logs: known secret fields are redacted and URLs lose their passwords.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_REDACT_PATHS = [
  'password', '*.password', 'databaseUrl', '*.databaseUrl', 'redisUrl', '*.redisUrl',
  'connection', '*.connection', 'token', '*.token', 'authorization', '*.authorization',
];

const stderrLines = pino.destination({ fd: 2, sync: true });
let divertedTo: ((line: string) => void) | null = null;
/** Every logger of the process writes here: stderr, or wherever divertLogLines() sends the lines meanwhile. */
const logLines = { write: (line: string): void => { if (divertedTo) divertedTo(line); else stderrLines.write(line); } };

/** Sends this process's log lines to `to` until called with null: progress bars print them above themselves (a raw write would tear the bars). */
export function divertLogLines(to: ((line: string) => void) | null): void {
  divertedTo = to;
}

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    logLines,
  );
}

/** `level`, or warn if `level` would also show info or finer lines. */
export function atLeastWarn<L extends string>(level: L): L | 'warn' {
  const values = pino.levels.values;
  return (values[level] ?? values.info!) < values.warn! ? 'warn' : level;
}
