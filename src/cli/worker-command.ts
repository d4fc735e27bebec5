// `taskfleet worker`: a worker process. Run any number, on any number of machines; SIGTERM drains.
import { type Command, InvalidArgumentError } from 'commander';
import { createLogger } from '../logger.js';
import { prepareDatabase } from '../store/database.js';
import { WORKER_QUEUES, type WorkerQueue } from '../queue/queue-names.js';
import { positiveInt, settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';

interface WorkerFlags extends ConnectionFlags {
  concurrency?: number;
  workflowConcurrency?: number;
  queues?: WorkerQueue[];
  healthPort?: number;
  lockDuration?: number;
  stalledInterval?: number;
}

function queueList(value: string): WorkerQueue[] {
  const names = value.split(',').map((q) => q.trim()).filter(Boolean);
  const unknown = names.filter((q) => !(WORKER_QUEUES as readonly string[]).includes(q));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown queue ${unknown.join(', ')} (known: ${WORKER_QUEUES.join(', ')})`);
  return names as WorkerQueue[];
}

export function registerWorkerCommand(program: Command): void {
  withConnectionOptions(program.command('worker'))
    .description('Run a worker process that takes chunk jobs and workflow jobs from the queues (start as many as you like, anywhere)')
    .option('--concurrency <n>', 'jobs processed at once by this process (default 4)', positiveInt)
    .option('--workflow-concurrency <n>', 'workflow jobs taken at once by this process (default 8; each run\'s dagger.yaml concurrency caps executions)', positiveInt)
    .option('--queues <names>', `comma-separated queues to work on (default: all: ${WORKER_QUEUES.join(',')})`, queueList)
    .option('--health-port <port>', 'serve /healthz and /readyz on this port (default: off; $TASKFLEET_HEALTH_PORT)', positiveInt)
    .option('--lock-duration <ms>', 'job lock time; a worker silent this long is presumed dead and its job is retried (default 30000)', positiveInt)
    .option('--stalled-interval <ms>', 'how often to look for stalled jobs (default 30000)', positiveInt)
    .action(async (flags: WorkerFlags) => {
      // A worker `migrate --workers N` started holds a channel to it (spawn-workers.ts): when that migrate
      // is gone, however it went (SIGKILL, a second Ctrl-C), the worker drains and stops instead of living
      // on unattended. Listened for from the start: a migrate gone while this worker starts up counts too.
      // The channel alone must not keep the process alive.
      let onParentGone: (() => void) | null = null;
      let parentGone = false;
      if (process.channel) {
        process.channel.unref();
        process.once('disconnect', () => { parentGone = true; onParentGone?.(); });
      }
      const settings = settingsFrom(flags, {
        concurrency: flags.concurrency, workflowConcurrency: flags.workflowConcurrency, healthPort: flags.healthPort, lockDurationMs: flags.lockDuration, stalledIntervalMs: flags.stalledInterval,
      });
      const logger = createLogger(settings.logLevel, { role: 'worker' });
      await prepareDatabase(settings.databaseUrl);
      // Loaded here, not at start-up: BullMQ is half the modules the CLI would load (migrate-command.ts).
      const { startChunkWorker } = await import('../workers/chunk-worker.js');
      const worker = await startChunkWorker(settings, logger, { healthPort: flags.healthPort ?? (settings.healthPort || null), queues: flags.queues });
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string, why: string) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, `${why}: finishing active jobs, taking no new ones`);
          worker.close().then(resolve, (err: unknown) => {
            logger.error({ err: (err as Error).message }, 'Worker did not close cleanly');
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM', 'Received SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT', 'Received SIGINT'));
        onParentGone = () => stop('disconnect', 'The migrate that started this worker is gone');
        if (parentGone) onParentGone();
      });
    });
}
