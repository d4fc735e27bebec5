// The `workflows` queue of a worker process: a BullMQ Worker taking workflow jobs `workflowConcurrency`
// at a time. The process keeps one WorkflowRunner per runner setting (one Dagger engine connection per
// process, not per job), created on first use and closed when the worker stops; executions are further
// capped by the run's dagger.yaml `concurrency`.
import { UnrecoverableError, type Job } from 'bullmq';
import type { Settings } from '../config/settings.js';
import { PermanentJobError } from '../jobs/errors.js';
import { workflowJobPayload, type WorkflowJobPayload } from '../jobs/payload.js';
import type { RunContextCache } from '../jobs/run-context.js';
import { LOCK_LOST, LockLostError, recordWorkflowFailure, runWorkflowJob, type WorkflowJobContext, type WorkflowJobInfo, type WorkflowJobResult } from '../jobs/run-workflow.js';
import type { Logger } from '../logger.js';
import { queueProblemLog } from '../queue/problem-log.js';
import { createWorker, type QueueTransport, type TransportWorker } from '../queue/index.js';
import { WORKFLOWS_QUEUE } from '../queue/queue-names.js';
import type { Pool } from '../store/pool.js';
import type { DaggerConfig } from '../workflows/dagger-config.js';
import { createRunner } from '../workflows/runner-factory.js';
import type { WorkflowRunner } from '../workflows/types.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** One runner per runner setting, shared by every job of the process. */
export class ProcessRunners {
  private readonly runners = new Map<string, Promise<WorkflowRunner>>();

  constructor(private readonly logger: Logger) {}

  get(config: DaggerConfig): Promise<WorkflowRunner> {
    const key = JSON.stringify([config.runner, config.retry.attempts, config.retry.backoffMs]);
    let runner = this.runners.get(key);
    if (!runner) {
      runner = createRunner(config, { logger: this.logger });
      // A failed creation (no engine for runner: dagger) is tried again by the next job.
      runner.catch(() => this.runners.delete(key));
      this.runners.set(key, runner);
    }
    return runner;
  }

  async close(): Promise<void> {
    const all = [...this.runners.values()];
    this.runners.clear();
    await Promise.all(all.map(async (r) => (await r.catch(() => null))?.close()));
  }
}

/** At most `limit` holders at once (the limit is the caller's: the run's dagger.yaml concurrency). */
export class ExecutionSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  async acquire(limit: number): Promise<() => void> {
    while (this.active >= Math.max(1, limit)) await new Promise<void>((wake) => this.waiting.push(wake));
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiting.shift()?.();
    };
  }
}

export interface WorkflowWorkerDeps {
  db: Pool;
  logger: Logger;
  workerName: string;
  runs: RunContextCache;
  transport: QueueTransport;
  metrics?: WorkerMetrics;
}

export interface WorkflowWorker {
  worker: TransportWorker<WorkflowJobPayload>;
  close(): Promise<void>;
}

export function startWorkflowWorker(settings: Settings, deps: WorkflowWorkerDeps): WorkflowWorker {
  const { db, logger, workerName } = deps;
  const runners = new ProcessRunners(logger);
  const slots = new ExecutionSlots();

  const processor = async (job: Job<WorkflowJobPayload>, _token?: string, signal?: AbortSignal): Promise<WorkflowJobResult> => {
    const parsed = workflowJobPayload.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`Job ${job.id ?? '?'} has an invalid payload: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const payload = parsed.data;
    const info: WorkflowJobInfo = { jobId: job.id ?? '?', attempt: job.attemptsMade + 1, attempts: job.opts.attempts ?? 1 };
    const jobLogger = logger.child({ runId: payload.runId, workflowId: payload.workflowId, jobId: job.id, attempt: info.attempt });
    const ctx: WorkflowJobContext = {
      db, workerName, runs: deps.runs, logger: jobLogger, signal: signal ?? new AbortController().signal,
      runnerFor: (config) => runners.get(config),
      slot: (limit) => slots.acquire(limit),
    };
    const started = performance.now();
    const ended = deps.metrics?.jobStarted(WORKFLOWS_QUEUE);
    try {
      const result = await runWorkflowJob(ctx, payload, info);
      jobLogger.debug({ ...result, ms: Math.round(performance.now() - started) }, 'Workflow job done');
      ended?.('completed');
      return result;
    } catch (err) {
      const error = err as Error;
      if (err instanceof LockLostError) {
        jobLogger.warn({ err: error.message }, `Workflow attempt ${info.attempt} stopped, its step killed: ${error.message}`);
        ended?.('retried');
        throw error;
      }
      if (err instanceof PermanentJobError) {
        jobLogger.error({ err: error.message }, `Workflow job failed permanently: ${error.message}`);
        await recordWorkflowFailure(db, payload, info, workerName, error.message).catch(() => undefined);
        ended?.('failed');
        throw new UnrecoverableError(error.message);
      }
      if (info.attempt >= info.attempts) {
        await recordWorkflowFailure(db, payload, info, workerName, `after ${info.attempts} attempts: ${error.message}`).catch(() => undefined);
      }
      jobLogger.warn({ err: error.message }, `Workflow attempt ${info.attempt} of ${info.attempts} failed: ${error.message}`);
      ended?.(info.attempt >= info.attempts ? 'failed' : 'retried');
      throw error;
    }
  };

  const worker = createWorker<WorkflowJobPayload>(WORKFLOWS_QUEUE, processor, deps.transport, {
    concurrency: settings.workflowConcurrency,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.stalledIntervalMs,
    maxStalledCount: 3,
    onError: queueProblemLog(logger),
  });
  // A lock this worker could not renew (it was frozen, overloaded or cut off from the queue past the lock
  // duration) means the job is, or is about to be, another delivery's: abort this one at once, which kills
  // its running step, rather than let the step run on next to the other delivery's.
  worker.on('lockRenewalFailed', (jobIds: string[]) => {
    for (const jobId of jobIds) worker.cancelJob(jobId, LOCK_LOST);
  });
  return {
    worker,
    async close() {
      // Active workflow runs finish (their rows are closed), then the runners' engine connections end.
      await worker.close();
      await runners.close();
    },
  };
}
