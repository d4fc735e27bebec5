// What a lifecycle run leaves behind in its logs directory: three JSON-lines logs (pino) and a stats
// file rewritten after every phase, so an operator can read the whole story without the database.
//   migration_execution.log   the lifecycle: phases started/ended, gates, outcomes
//   task_migration.log        the migration itself: the producer's and the workers' log lines
//   migration_test.log        dry runs and verification: every check and its result
//   migration_execution_stats.json  per phase: start, end, duration, counts, throughput, rejects
import { createWriteStream, renameSync, writeFileSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { LOG_REDACT_PATHS } from '../logger.js';
import { makeDirectorySync } from '../make-directory.js';

export interface PhaseStats {
  phase: string;
  outcome: 'passed' | 'failed' | 'refused' | 'skipped';
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  counts?: Record<string, unknown>;
  /** Records (or rows) per second, where the phase moves records. */
  throughput?: number;
  rejects?: number;
  error?: string;
  note?: string;
}

export interface LifecycleRecords {
  dir: string;
  execution: Logger;
  test: Logger;
  /** Raw JSON log lines of the migration's processes (already pino lines) go here verbatim. */
  migrationStream: WriteStream;
  testStream: WriteStream;
  recordPhase(stats: PhaseStats): void;
  setRun(runId: string | null): void;
  close(): Promise<void>;
}

export const LOG_FILES = {
  execution: 'migration_execution.log',
  migration: 'task_migration.log',
  test: 'migration_test.log',
  stats: 'migration_execution_stats.json',
} as const;

function fileLogger(path: string, component: string, level: string): Logger {
  return pino({ level, base: { pid: process.pid, component }, redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' }, formatters: { level: (label) => ({ level: label }) } },
    pino.destination({ dest: path, append: true, sync: true, mkdir: true }));
}

export function openLifecycleRecords(logsDir: string, opts: { level: string; dryRun: boolean }): LifecycleRecords {
  const dir = resolve(logsDir);
  makeDirectorySync(dir);
  const execution = fileLogger(join(dir, LOG_FILES.execution), 'lifecycle', opts.level);
  const test = fileLogger(join(dir, LOG_FILES.test), 'verification', opts.level);
  const migrationStream = createWriteStream(join(dir, LOG_FILES.migration), { flags: 'a' });
  const testStream = createWriteStream(join(dir, LOG_FILES.test), { flags: 'a' });
  const statsPath = join(dir, LOG_FILES.stats);
  const stats = { runId: null as string | null, dryRun: opts.dryRun, startedAt: new Date().toISOString(), updatedAt: '', phases: [] as PhaseStats[] };
  const writeStats = () => {
    stats.updatedAt = new Date().toISOString();
    // Written whole and renamed: a reader never sees half a file.
    writeFileSync(`${statsPath}.tmp`, `${JSON.stringify(stats, null, 2)}\n`);
    renameSync(`${statsPath}.tmp`, statsPath);
  };
  writeStats();
  const end = (s: WriteStream) => new Promise<void>((r) => s.end(r));
  return {
    dir, execution, test, migrationStream, testStream,
    recordPhase(phaseStats) { stats.phases.push(phaseStats); writeStats(); },
    setRun(runId) { stats.runId = runId; writeStats(); },
    async close() { await Promise.all([end(migrationStream), end(testStream)]); },
  };
}
