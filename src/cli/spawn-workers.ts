// `migrate --workers N`: starts N worker processes on this machine for the run, with the same settings,
// and stops them (SIGTERM: drain) when the run ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../config/package-root.js';
import { inheritedEnvironment, type Settings } from '../config/settings.js';

/** Node flags for worker processes: a larger young generation, less GC per record (see bin/taskfleet.js). */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=64'];

export interface SpawnedWorkers {
  processes: ChildProcess[];
  stop(): Promise<void>;
}

export function settingsEnv(settings: Settings): Record<string, string> {
  return {
    DATABASE_URL: settings.databaseUrl,
    TASKFLEET_QUEUE_BACKEND: settings.queueBackend,
    TASKFLEET_PREFIX: settings.prefix,
    TASKFLEET_CONCURRENCY: String(settings.concurrency),
    TASKFLEET_WORKFLOW_CONCURRENCY: String(settings.workflowConcurrency),
    TASKFLEET_LOCK_DURATION_MS: String(settings.lockDurationMs),
    TASKFLEET_STALLED_INTERVAL_MS: String(settings.stalledIntervalMs),
    TASKFLEET_PG_DEAD_CLIENT_MS: String(settings.pgDeadClientMs),
    TASKFLEET_PG_IDLE_IN_TRANSACTION_MS: String(settings.pgIdleInTransactionMs),
    LOG_LEVEL: settings.logLevel,
    REDIS_URL: settings.redisUrl,
  };
}

export function spawnWorkers(count: number, settings: Settings): SpawnedWorkers {
  const processes = Array.from({ length: count }, () =>
    spawn(process.execPath, [...WORKER_NODE_FLAGS, join(PACKAGE_ROOT, 'bin', 'taskfleet.js'), 'worker'], {
      env: { ...inheritedEnvironment(), ...settingsEnv(settings) },
      stdio: ['ignore', 'ignore', 'inherit'],
    }));
  return {
    processes,
    async stop() {
      await Promise.all(processes.map((child) => new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      })));
    },
  };
}
