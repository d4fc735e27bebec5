// The `workflows` stage of a run: one job per on-migrate workflow the run migrated, on the `workflows`
// queue. Like the chunk stages, the ledger is the truth (a workflow is pending until the run holds a
// final tms.workflow_runs row for it), the queue only transport: the producer walks the run's pending
// workflows once in id order (keyset cursor), keeps at most `maxWaitingJobs` of them in the queue, and
// re-adds the jobs that vanished (Redis flushed, producer restarted: `resume` is this same loop).
import { workflowJobId, type WorkflowJobPayload } from '../jobs/payload.js';
import { nextPendingWorkflows, settledWorkflowIds, workflowStageCounts, type PendingWorkflow, type WorkflowStageCounts } from '../ledger/workflow-runs.js';
import type { Logger } from '../logger.js';
import type { TransportQueue } from '../queue/index.js';
import type { Pool } from '../store/pool.js';
import { stopIfRolledBack } from './rolled-back.js';

export interface WorkflowStageOptions {
  maxWaitingJobs: number;
  attempts: number;
  backoffMs: number;
  queueToken: string;
  reconcileEveryMs: number;
  /** Resolves on the run's next progress notification, or after the timeout. */
  wake(timeoutMs: number): Promise<void>;
  onProgress?: (counts: WorkflowStageCounts) => Promise<void> | void;
  signal?: AbortSignal;
}

const IDLE_WAKE_MS = 1000;
const PROGRESS_EVERY_MS = 1000;
const TITLE_IN_NAME = 60;

/** The job's name on Bull Board: the run, the task's legacy id and its title. */
export function workflowJobName(runId: string, w: PendingWorkflow): string {
  const title = w.title.length > TITLE_IN_NAME ? `${w.title.slice(0, TITLE_IN_NAME - 1)}…` : w.title;
  return `${runId} · workflow ${w.legacyId} · ${title}`;
}

function jobOf(runId: string, w: PendingWorkflow, opts: WorkflowStageOptions) {
  const data: WorkflowJobPayload = { runId, workflowId: w.id };
  return {
    name: workflowJobName(runId, w),
    data,
    opts: {
      jobId: workflowJobId(data, opts.queueToken),
      attempts: opts.attempts,
      backoff: { type: 'exponential', delay: opts.backoffMs, jitter: 0.5 },
      // Results live in tms.workflow_runs; the queue keeps a bounded tail for Bull Board.
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 5000 },
    },
  };
}

/** Drives the run's workflows stage until every on-migrate workflow of the run has a final result. */
export async function driveWorkflowsStage(db: Pool, queue: TransportQueue<WorkflowJobPayload>, runId: string, logger: Logger, opts: WorkflowStageOptions): Promise<WorkflowStageCounts> {
  const inFlight = new Map<string, PendingWorkflow>();
  let cursor: string | null = null;
  let walked = false;
  let lastReconcile = Date.now();
  let lastProgress = 0;
  let endCheckedAtOnce = false;
  for (;;) {
    if (opts.signal?.aborted) throw new Error('Interrupted');
    // Its rollback deletes the run's workflows: none would ever settle.
    await stopIfRolledBack(db, runId);
    if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = Date.now();
      await opts.onProgress?.(await workflowStageCounts(db, runId));
    }
    for (const id of await settledWorkflowIds(db, runId, [...inFlight.keys()])) inFlight.delete(id);
    if (walked && inFlight.size === 0) {
      const counts = await workflowStageCounts(db, runId);
      if (counts.done >= counts.total) {
        await opts.onProgress?.(counts);
        return counts;
      }
      // Something became pending behind the cursor (a result was lost): walk the run again.
      walked = false;
      cursor = null;
    }
    if (!walked) {
      const room = opts.maxWaitingJobs - inFlight.size;
      const next = await nextPendingWorkflows(db, runId, cursor, room);
      if (room > 0 && next.length < room) walked = true;
      const fresh = next.filter((w) => !inFlight.has(w.id));
      if (fresh.length > 0) await queue.addBulk(fresh.map((w) => jobOf(runId, w, opts)));
      for (const w of next) inFlight.set(w.id, w);
      if (next.length > 0) cursor = next[next.length - 1]!.id;
    }
    if (Date.now() - lastReconcile >= opts.reconcileEveryMs) {
      lastReconcile = Date.now();
      const restored = await restoreMissingWorkflowJobs(db, queue, runId, [...inFlight.values()], opts);
      if (restored > 0) logger.warn({ runId, stage: 'workflows', restored }, `Re-added ${restored} workflow jobs that were missing from the queue (rebuilt from the ledger)`);
    }
    // A walk that leaves nothing in flight (no on-migrate workflow, or all settled) goes straight to the
    // end check, once: waiting for a notification no job will send cost every such run a second.
    if (walked && inFlight.size === 0 && !endCheckedAtOnce) {
      endCheckedAtOnce = true;
      continue;
    }
    // Settled jobs wake the loop (each job notifies); nothing to add means waiting for them.
    if (walked || inFlight.size >= opts.maxWaitingJobs) await opts.wake(IDLE_WAKE_MS);
  }
}

/** Re-adds the jobs of pending workflows that the queue no longer holds (or holds as finished); returns how many. */
async function restoreMissingWorkflowJobs(db: Pool, queue: TransportQueue<WorkflowJobPayload>, runId: string, workflows: readonly PendingWorkflow[], opts: WorkflowStageOptions): Promise<number> {
  const suspects: PendingWorkflow[] = [];
  for (const w of workflows) {
    const job = await queue.getJob(workflowJobId({ runId, workflowId: w.id }, opts.queueToken));
    if (!job) { suspects.push(w); continue; }
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') suspects.push(w);
  }
  // The ledger decides: a workflow that got its result meanwhile is not missing.
  const settled = new Set(await settledWorkflowIds(db, runId, suspects.map((w) => w.id)));
  const missing = suspects.filter((w) => !settled.has(w.id));
  for (const w of missing) {
    await (await queue.getJob(workflowJobId({ runId, workflowId: w.id }, opts.queueToken)))?.remove().catch(() => undefined);
  }
  if (missing.length > 0) await queue.addBulk(missing.map((w) => jobOf(runId, w, opts)));
  return missing.length;
}
