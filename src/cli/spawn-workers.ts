// `migrate --workers N`: starts N worker processes on this machine for the run, with the same settings,
// and stops them (SIGTERM: drain) when the run ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../config/package-root.js';
import { inheritedEnvironment, settingsEnvironment, type Settings } from '../config/settings.js';

/** Node flags for worker processes: a larger young generation, less GC per record (see bin/taskfleet.js). */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=64'];

export interface SpawnedWorkers {
  processes: ChildProcess[];
  stop(): Promise<void>;
}

export function spawnWorkers(count: number, settings: Settings): SpawnedWorkers {
  const processes = Array.from({ length: count }, () =>
    spawn(process.execPath, [...WORKER_NODE_FLAGS, join(PACKAGE_ROOT, 'bin', 'taskfleet.js'), 'worker'], {
      // This process's settings, whole (no config file read again); no health port: N workers cannot share one.
      env: { ...inheritedEnvironment(), ...settingsEnvironment(settings), TASKFLEET_HEALTH_PORT: '0' },
      // The channel tells a worker when this process is gone, however it went (worker-command.ts).
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }));
  for (const child of processes) child.channel?.unref();
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
