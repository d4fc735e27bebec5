// A worker process: one BullMQ Worker on the migrate queue, dispatching each chunk job to its handler
// in src/jobs with an explicit context, and one on the workflows queue (src/workers/workflow-worker.ts). Permanent failures become UnrecoverableError (no retry) and
// are written on the chunk; the last failed attempt of a transient error is written there too.
// close() drains: active jobs finish, nothing new is taken.
import { hostname } from 'node:os';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Settings } from '../config/settings.js';
import type { ChunkJobResult, JobContext } from '../jobs/context.js';
import { PermanentJobError } from '../jobs/errors.js';
import { chunkJobPayload, type ChunkJobPayload } from '../jobs/payload.js';
import { CHUNK_HANDLERS } from '../jobs/registry.js';
import { queueProblemLog } from '../queue/problem-log.js';
import { MIGRATE_QUEUE, transportOf, WORKER_QUEUES, WORKFLOWS_QUEUE, type WorkerQueue } from '../queue/queue-names.js';
import { RunContextCache } from '../jobs/run-context.js';
import { markChunkFailed } from '../ledger/chunks.js';
import type { Logger } from '../logger.js';
import { createWorker, ensureTransportReady, type TransportWorker } from '../queue/index.js';
import { createPool } from '../store/pool.js';
import { startHealthServer, type HealthServer } from './health-server.js';
import { createWorkerMetrics, type WorkerMetrics } from './worker-metrics.js';
import { startWorkflowWorker, type WorkflowWorker } from './workflow-worker.js';

export interface ChunkWorker {
  workerName: string;
  health: HealthServer | null;
  metrics: WorkerMetrics;
  close(): Promise<void>;
}


export async function startChunkWorker(settings: Settings, logger: Logger, opts: { healthPort?: number | null; queues?: readonly WorkerQueue[] } = {}): Promise<ChunkWorker> {
  const transport = transportOf(settings);
  await ensureTransportReady(transport);
  const queues = opts.queues && opts.queues.length > 0 ? opts.queues : WORKER_QUEUES;
  // Workflow jobs hold a connection only around their short transactions, not while a step runs.
  const db = createPool(settings.databaseUrl, settings.concurrency + Math.min(settings.workflowConcurrency, 8) + 2,
    { deadClientMs: settings.pgDeadClientMs, idleInTransactionMs: settings.pgIdleInTransactionMs });
  const workerName = `${hostname()}:${process.pid}`;
  const base = { db, logger, workerName, runs: new RunContextCache(db) };
  const metrics = createWorkerMetrics();

  const processor = async (job: Job<ChunkJobPayload>, _token?: string, signal?: AbortSignal): Promise<ChunkJobResult> => {
    const parsed = chunkJobPayload.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`Job ${job.id ?? '?'} has an invalid payload: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const payload = parsed.data;
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const jobLogger = logger.child({ runId: payload.runId, stage: payload.stage, chunk: payload.chunkNo, jobId: job.id, attempt });
    const ctx: JobContext = { ...base, logger: jobLogger, signal: signal ?? new AbortController().signal };
    const started = performance.now();
    const ended = metrics.jobStarted(MIGRATE_QUEUE, payload.stage);
    try {
      const result = await CHUNK_HANDLERS[payload.stage](ctx, payload);
      jobLogger.debug({ ...result, ms: Math.round(performance.now() - started) }, 'Chunk done');
      ended('completed');
      return result;
    } catch (err) {
      const error = err as Error;
      const ms = Math.round(performance.now() - started);
      if (err instanceof PermanentJobError) {
        jobLogger.error({ ms, err: error.message }, `Chunk failed permanently: ${error.message}`);
        await markChunkFailed(db, payload.runId, payload.stage, payload.chunkNo, error.message).catch(() => undefined);
        ended('failed');
        throw new UnrecoverableError(error.message);
      }
      if (attempt >= attempts) {
        await markChunkFailed(db, payload.runId, payload.stage, payload.chunkNo, `after ${attempts} attempts: ${error.message}`).catch(() => undefined);
      }
      jobLogger.warn({ ms, err: error.message }, `Chunk attempt ${attempt} of ${attempts} failed: ${error.message}`);
      ended(attempt >= attempts ? 'failed' : 'retried');
      throw error;
    }
  };

  // Before any job is taken: a port already in use stops the worker here, with nothing half started.
  const health = opts.healthPort != null
    ? await startHealthServer(opts.healthPort, async () => {
      await db.query('SELECT 1');
      await ensureTransportReady(transport, 2000);
    }, undefined, metrics.registry)
    : null;
  const workers: TransportWorker<ChunkJobPayload>[] = queues.includes(MIGRATE_QUEUE)
    ? [createWorker<ChunkJobPayload>(MIGRATE_QUEUE, processor, transport, {
      concurrency: settings.concurrency,
      lockDuration: settings.lockDurationMs,
      stalledInterval: settings.stalledIntervalMs,
      maxStalledCount: 3,
      onError: queueProblemLog(logger),
    })]
    : [];
  const workflows: WorkflowWorker | null = queues.includes(WORKFLOWS_QUEUE) ? startWorkflowWorker(settings, { ...base, transport, metrics }) : null;

  logger.info({ workerName, concurrency: settings.concurrency, workflowConcurrency: settings.workflowConcurrency, queues, healthPort: health?.port }, 'Worker started');

  return {
    workerName,
    health,
    metrics,
    async close() {
      // Stop taking jobs and let the active ones finish; their transactions commit or roll back whole.
      await Promise.all([...workers.map((w) => w.close()), workflows?.close()]);
      await health?.close();
      await db.end();
      logger.info({ workerName }, 'Worker stopped');
    },
  };
}
