// Drives a planned run to its end, stage by stage: keeps a bounded window of chunk jobs in the queue
// (backpressure: Redis holds at most `maxWaitingJobs` jobs of this run, whatever the data size), waits
// for the ledger to show the stage done, then opens the next stage. The ledger is the truth: a job that
// vanished from the queue (Redis flushed, producer restarted) is simply added again — `resume` is this
// same loop.
import type pg from 'pg';
import { listChunks, nextPendingChunks, settledChunkNumbers, stageProgress, type Chunk, type StageProgress } from '../ledger/chunks.js';
import { runProgress, workflowsStageProgress } from '../ledger/progress.js';
import { updateRun } from '../ledger/runs.js';
import { liveWorkflowRunSummary } from '../ledger/workflow-runs.js';
import { RUN_STAGES, type RunStage } from '../legacy/kinds.js';
import type { Logger } from '../logger.js';
import { chunkJobId, type ChunkJobPayload, type WorkflowJobPayload } from '../jobs/payload.js';
import type { TransportQueue } from '../queue/index.js';
// From its own module, not queue/index.js: that one loads BullMQ, which the CLI loads only to queue.
import { queueDepth, type CountsJobs } from '../queue/depth.js';
import { lostDatabaseConnection, type Pool } from '../store/pool.js';
import { driveWorkflowsStage } from './drive-workflows.js';
import { RunRolledBack, stopIfRolledBack } from './rolled-back.js';
import { NOT_IN_LEDGER } from '../jobs/errors.js';

export interface DriveOptions {
  maxWaitingJobs: number;
  attempts: number;
  backoffMs: number;
  /** How often to check that in-flight jobs still exist in the queue. */
  reconcileEveryMs?: number;
  onProgress?: (progress: StageProgress[]) => void;
  signal?: AbortSignal;
}

export type DriveOutcome = { status: 'completed' } | { status: 'failed'; stage: RunStage; error: string } | { status: 'rolled_back' };

/** The queues a run's jobs go to: chunk jobs, and the workflows stage's jobs. */
export interface RunQueues {
  chunks: TransportQueue<ChunkJobPayload>;
  workflows: TransportQueue<WorkflowJobPayload>;
}

/** The run as the producer needs it; `withWorkflows`: its options hold workflow templates. */
export interface DrivenRun { id: string; queueToken: string; withWorkflows: boolean }

const IDLE_WAKE_MS = 1000;
/** Jobs waiting this long with none taken and none active: usually, no worker runs. */
const NO_WORKER_WARN_MS = 15_000;

export function chunkJobName(chunk: Chunk): string {
  if (chunk.stage === 'dependency_cycles') return `${chunk.runId} · dependency cycles`;
  const ids = chunk.firstLegacyId ? ` · ${chunk.firstLegacyId}…${chunk.lastLegacyId ?? '?'}` : '';
  return `${chunk.runId} · ${chunk.stage} #${chunk.chunkNo} · ${chunk.fileName ?? ''} lines ${chunk.lineStart}–${chunk.lineEnd}${ids}`;
}

/** Consecutive lost Postgres connections the producer rides out (about a second apart) before it gives up. */
const CONNECTION_LOSSES = 30;

export async function driveRun(db: Pool, queues: RunQueues, run: DrivenRun, logger: Logger, opts: DriveOptions): Promise<DriveOutcome> {
  const runId = run.id;
  const jobs = { ...opts, queueToken: run.queueToken };
  const wake = await listenForProgress(db, runId);
  const reconcileEveryMs = opts.reconcileEveryMs ?? 5000;
  // A stage driven again after a lost connection picks up where the ledger says (adds are by job id).
  const survive = <T>(step: () => Promise<T>) => survivingConnectionLoss(step, logger, runId);
  try {
    for (const stage of RUN_STAGES) {
      if (stage === 'workflows' && !run.withWorkflows) continue;
      const failed = await survive(async () => {
        // (A rollback under the producer is checked by each stage's loop; updateRun leaves it alone.)
        await updateRun(db, runId, { stage });
        if (stage !== 'workflows') return driveChunkStage(db, queues.chunks, run, stage, logger, { ...jobs, reconcileEveryMs, wake });
        const chunkStages = await stageProgress(db, runId);
        await driveWorkflowsStage(db, queues.workflows, runId, logger, {
          ...jobs, reconcileEveryMs, wake,
          onProgress: (counts) => opts.onProgress?.([...chunkStages, workflowsStageProgress(counts)]),
        });
        return null;
      });
      if (failed) return failed;
    }
    await survive(async () => {
      await stopIfRolledBack(db, runId);
      // Its report keeps these once a later run over the same tasks takes their workflows over.
      const workflowSummary = run.withWorkflows ? await liveWorkflowRunSummary(db, runId) : undefined;
      await updateRun(db, runId, { status: 'completed', stage: null, finished: true, workflowSummary });
    });
    opts.onProgress?.(await runProgress(db, runId, run.withWorkflows));
    return { status: 'completed' };
  } catch (err) {
    if (err instanceof RunRolledBack) return { status: 'rolled_back' };
    throw err;
  } finally {
    await wake.close();
  }
}

/** Runs `step` again while its Postgres connection is lost (a failover, a restart, pg_terminate_backend). */
async function survivingConnectionLoss<T>(step: () => Promise<T>, logger: Logger, runId: string): Promise<T> {
  for (let losses = 1; ; losses++) {
    try {
      return await step();
    } catch (err) {
      if (!lostDatabaseConnection(err) || losses > CONNECTION_LOSSES) throw err;
      logger.warn({ runId, err: (err as Error).message }, `Lost a Postgres connection (${(err as Error).message}): going on with a new one`);
      await new Promise((r) => setTimeout(r, IDLE_WAKE_MS));
    }
  }
}

/** Keeps a chunk stage's jobs flowing until the ledger has it done (null) or a chunk failed. */
async function driveChunkStage(db: Pool, queue: TransportQueue<ChunkJobPayload>, run: DrivenRun, stage: Exclude<RunStage, 'workflows'>, logger: Logger,
  opts: JobSettings & { reconcileEveryMs: number; wake: Wake }): Promise<DriveOutcome | null> {
  const runId = run.id;
  const inFlight = new Map<number, Chunk>();
  let lastReconcile = Date.now();
  const stalled = stallWatch(queue, NO_WORKER_WARN_MS);
  for (;;) {
    if (opts.signal?.aborted) throw new Error('Interrupted');
    await stopIfRolledBack(db, runId);
    const progress = await runProgress(db, runId, run.withWorkflows);
    opts.onProgress?.(progress);
    const current = progress.find((p) => p.stage === stage);
    if (!current || current.done === current.chunks) return null;
    if (current.failed > 0) {
      const [failed] = await listChunks(db, runId, stage, 'failed');
      const error = `chunk ${stage} #${failed?.chunkNo ?? '?'} failed: ${failed?.error ?? 'unknown error'}`;
      await updateRun(db, runId, { status: 'failed', error, finished: true });
      return { status: 'failed', stage, error };
    }
    // Forget chunks that are done; top the window up with pending ones (reads stay bounded by the window).
    for (const no of await settledChunkNumbers(db, runId, stage, [...inFlight.keys()])) inFlight.delete(no);
    const next = await nextPendingChunks(db, runId, stage, [...inFlight.keys()], opts.maxWaitingJobs - inFlight.size);
    if (next.length > 0) {
      await addChunkJobs(queue, next, opts);
      for (const c of next) inFlight.set(c.chunkNo, c);
    }
    const stall = await stalled(current.done);
    if (stall) logger.warn({ runId, stage, queue: queue.name, ...stall }, describeStall(queue.name, stall));
    if (Date.now() - lastReconcile >= opts.reconcileEveryMs) {
      lastReconcile = Date.now();
      const { restored, foreign } = await restoreMissingJobs(db, queue, [...inFlight.values()], opts);
      if (foreign > 0) {
        logger.error({ runId, stage, jobs: foreign, queue: queue.name }, `${foreign} chunk job(s) of run ${runId} failed on a worker whose database does not hold the run: `
          + `a worker of queue ${queue.name} is connected to another database. Every worker must use the run's DATABASE_URL: stop that worker. Re-adding the jobs`);
      }
      if (restored > foreign) logger.warn({ runId, stage, restored }, `Re-added ${restored - foreign} chunk jobs that were missing from the queue (rebuilt from the ledger)`);
    }
    await opts.wake(IDLE_WAKE_MS);
  }
}

type JobSettings = DriveOptions & { queueToken: string };

/** Why a stage's jobs sit untaken. */
export interface Stall { waiting: number; active: number; seconds: number; cause: 'paused' | 'no worker' | 'none active' }

/** What stallWatch reads of a queue (either backend). */
export interface WatchedQueue extends CountsJobs {
  isPaused(): Promise<boolean>;
  getWorkers(): Promise<Record<string, string | undefined>[]>;
}

/**
 * Workers connected to the queue; null when the server cannot tell. BullMQ counts them with CLIENT LIST;
 * where that command is disabled (some managed Redis) it answers one placeholder "client" instead.
 */
async function connectedWorkers(queue: WatchedQueue): Promise<number | null> {
  const workers = await queue.getWorkers().catch(() => null);
  if (workers === null || workers.some((w) => /does not support client list/i.test(w.name ?? ''))) return null;
  return workers.length;
}

/**
 * Reports, once per stall, when `done` has not moved for `afterMs` while jobs wait: a run that waits
 * for workers nobody started (or that all died, leaving their jobs active until a worker's stalled
 * check returns them), or on a paused queue, would otherwise sit still without a word. Connected
 * workers with jobs active are just slow: no report.
 */
export function stallWatch(queue: WatchedQueue, afterMs: number): (done: number) => Promise<Stall | null> {
  let lastDone = -1;
  let since = Date.now();
  let reported = false;
  return async (done) => {
    if (done !== lastDone) {
      lastDone = done;
      since = Date.now();
      reported = false;
      return null;
    }
    if (reported || Date.now() - since < afterMs) return null;
    const depth = await queueDepth(queue);
    const waiting = depth.waiting + depth.prioritized;
    if (waiting === 0 && depth.active === 0) return null;
    // Without a worker count, only "nothing active" tells.
    const workers = await connectedWorkers(queue);
    let cause: Stall['cause'];
    if (await queue.isPaused().catch(() => false)) cause = 'paused';
    else if (workers === 0) cause = 'no worker';
    else if (workers === null && depth.active === 0) cause = 'none active';
    else return null;
    reported = true;
    return { waiting, active: depth.active, seconds: Math.round((Date.now() - since) / 1000), cause };
  };
}

/** The warning for a stall: what is seen, and the way out. */
export function describeStall(queueName: string, stall: Stall): string {
  const jobs = `${stall.waiting} waiting, ${stall.active === 0 ? 'none' : stall.active} active`;
  const head = `No worker has taken a job from queue ${queueName} for ${stall.seconds} s (${jobs})`;
  const start = 'start workers on the same Redis, database and prefix (`taskfleet worker`), or pass --workers N to migrate';
  switch (stall.cause) {
    case 'paused': return `${head}: the queue is paused; resume it on Bull Board (\`taskfleet server\`, as an operator)`;
    case 'no worker': return `${head}: no worker is connected to it; ${start}`
      + (stall.active > 0 ? ' (the active jobs belong to workers that are gone: a new worker returns them to the queue)' : '');
    case 'none active': return `${head}: ${start}`;
  }
}

function jobOptions(chunk: Chunk, opts: JobSettings) {
  return {
    jobId: chunkJobId(chunk, opts.queueToken),
    attempts: opts.attempts,
    backoff: { type: 'exponential', delay: opts.backoffMs, jitter: 0.5 },
    // Done chunks live in the ledger; the queue only keeps a bounded tail for Bull Board.
    removeOnComplete: { count: 200 },
    removeOnFail: { count: 5000 },
  };
}

async function addChunkJobs(queue: TransportQueue<ChunkJobPayload>, chunks: readonly Chunk[], opts: JobSettings): Promise<void> {
  await queue.addBulk(chunks.map((c) => ({
    name: chunkJobName(c),
    data: { runId: c.runId, stage: c.stage, chunkNo: c.chunkNo },
    opts: jobOptions(c, opts),
  })));
}

/** Re-adds jobs of pending chunks that the queue no longer holds; returns how many. */
async function restoreMissingJobs(db: Pool, queue: TransportQueue<ChunkJobPayload>, chunks: readonly Chunk[], opts: JobSettings): Promise<{ restored: number; foreign: number }> {
  const suspects: Chunk[] = [];
  /** Chunks whose job failed on a worker that could not find the run in its database. */
  const foreign = new Set<number>();
  for (const chunk of chunks) {
    const job = await queue.getJob(chunkJobId(chunk, opts.queueToken));
    if (!job) { suspects.push(chunk); continue; }
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') suspects.push(chunk);
    if (state === 'failed' && job.failedReason?.includes(NOT_IN_LEDGER)) foreign.add(chunk.chunkNo);
  }
  // The ledger decides: a chunk that finished meanwhile is not missing.
  const settled = new Set(await settledChunkNumbers(db, chunks[0]?.runId ?? '', chunks[0]?.stage ?? 'projects', suspects.map((c) => c.chunkNo)));
  const missing = suspects.filter((c) => !settled.has(c.chunkNo));
  for (const chunk of missing) {
    // A finished job whose chunk is still pending (its result was lost) must go before it can be added again.
    await (await queue.getJob(chunkJobId(chunk, opts.queueToken)))?.remove().catch(() => undefined);
  }
  if (missing.length > 0) await addChunkJobs(queue, missing, opts);
  return { restored: missing.length, foreign: missing.filter((c) => foreign.has(c.chunkNo)).length };
}

interface Wake {
  (timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Resolves on the next progress notification for this run, or after the timeout. */
async function listenForProgress(db: Pool, runId: string): Promise<Wake> {
  const client: pg.PoolClient = await db.connect();
  let resolveWait: (() => void) | null = null;
  const onNotification = (msg: pg.Notification) => {
    if (msg.payload === runId) resolveWait?.();
  };
  client.on('notification', onNotification);
  await client.query('LISTEN taskfleet_progress');
  const wake = ((timeoutMs: number) => new Promise<void>((done) => {
    const timer = setTimeout(done, timeoutMs);
    resolveWait = () => { clearTimeout(timer); resolveWait = null; done(); };
  })) as Wake;
  wake.close = async () => {
    client.off('notification', onNotification);
    await client.query('UNLISTEN taskfleet_progress').catch(() => undefined);
    client.release();
  };
  return wake;
}
