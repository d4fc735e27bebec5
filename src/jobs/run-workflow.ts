// Job: run one task's workflow for a run (the `workflows` stage). Every attempt is a tms.workflow_runs
// row of the run:
// - attempts left 'running' by a worker that died are marked 'abandoned' first (recorded, not lost);
// - cache: a succeeded attempt with the same definition hash (any workflow, any run) by a runner that may
//   stand in for this one (resultsServing) is reused — a 'cached' row, nothing executed — unless the run
//   was started with --no-cache or the Dagger config disables the cache;
// - otherwise a 'running' row, the runner, and the row updated with the result. A step that exits
//   non-zero (or times out) is a final 'failed' result, not retried. A transient runner error marks the
//   attempt 'abandoned' and the job throws, so the queue retries it with backoff; the last attempt's
//   error is a final 'failed' row, so the stage always ends.
// The workflow's latest attempt in the run decides what a delivery does: succeeded or cached — nothing,
// the job repeats that outcome (a stalled or duplicate delivery changes nothing); failed — a retry (an
// operator's, on Bull Board) runs a new attempt; running — a takeover (see ABANDONED_BY_TAKEOVER).
import { notifyProgress, runStatusOf, shareRunLock } from '../ledger/runs.js';
import type { WorkflowRunStatus } from '../ledger/workflow-runs.js';
import { inTransaction, type Pool, type PoolClient } from '../store/pool.js';
import { advisoryKey } from '../store/session-lock.js';
import { loadWorkflow, type StoredWorkflow } from '../store/workflow-definitions.js';
import type { DaggerConfig } from '../workflows/dagger-config.js';
import type { RunResult, WorkflowRunner } from '../workflows/types.js';
import type { JobContext } from './context.js';
import { PermanentJobError } from './errors.js';
import type { WorkflowJobPayload } from './payload.js';

export interface WorkflowJobContext extends JobContext {
  /** The process's runner for these settings: created on first use, reused by every job. */
  runnerFor(config: DaggerConfig): Promise<WorkflowRunner>;
  /** Waits for one of `limit` execution slots of this process; call the result to free it. */
  slot(limit: number): Promise<() => void>;
}

export interface WorkflowJobInfo {
  jobId: string;
  /** This delivery's attempt (1-based) and the job's attempts in all. */
  attempt: number;
  attempts: number;
}

export type WorkflowJobOutcome = 'succeeded' | 'failed' | 'cached' | 'dropped';

export interface WorkflowJobResult {
  outcome: WorkflowJobOutcome;
  /** The workflow_runs row holding the outcome (null: dropped). */
  runRowId: number | null;
  /** Why the workflow failed (outcome 'failed'): the job's return value, so Bull Board shows it too. */
  error?: string;
  /** True when the workflow had already succeeded (or was cached) for the run: this delivery ran nothing and repeats that outcome. */
  alreadyDone?: true;
}

// The job's lock expired while this attempt ran: another delivery took the job over. Its worker may have
// died, or only frozen or lost Redis for a while: nobody can tell from here, so the wording claims neither.
const ABANDONED_BY_TAKEOVER = 'abandoned: the job was taken over by another delivery (its lock expired: the worker died, froze or lost its queue connection) before this attempt finished';

/**
 * The job's signal fired because its worker could not renew the job's lock: the queue has handed (or will
 * hand) the job to another delivery, so this attempt stops at once — its running step is killed — and
 * records nothing as the workflow's result.
 */
export class LockLostError extends Error {
  override name = 'LockLostError';
  constructor(jobId: string) {
    super(`The worker lost job ${jobId}'s lock (it could not renew it in time: frozen, overloaded or cut off from the queue); another delivery takes the job over`);
  }
}

/** The abort reason the worker gives a job whose lock it lost (BullMQ's cancelJob takes a string). */
export const LOCK_LOST = 'lock-lost';

/**
 * Which runners' results may stand in (as cache hits) for a run on `kind`. A local result never serves a
 * Dagger run: the local runner ignores the step's image, so its result says nothing about the step in
 * that image (and `runner: auto` falling back to local while the engine is away would otherwise fill the
 * cache with results Dagger never recomputes). A Dagger result does serve a local run: it is the step
 * run as the template asks, in its image — the local runner is only a stand-in for it.
 */
export function resultsServing(kind: WorkflowRunner['name']): Array<WorkflowRunner['name']> {
  return kind === 'dagger' ? ['dagger'] : ['dagger', 'local'];
}

/** Serialises everything done for one workflow (a stalled job re-delivered while the first delivery still runs). */
async function lockWorkflow(client: PoolClient, workflowId: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(${advisoryKey('workflow', '$1')})`, [workflowId]);
}

interface LatestAttempt {
  id: number;
  status: WorkflowRunStatus;
}

/** The workflow's latest attempt in the run: it decides what a delivery does (see runWorkflowJob). */
async function latestAttempt(client: PoolClient, runId: string, workflowId: string): Promise<LatestAttempt | null> {
  const { rows: [row] } = await client.query<{ id: string; status: WorkflowRunStatus }>(
    `SELECT r.id::text AS id, r.status FROM tms.workflow_runs r WHERE r.workflow_id = $1 AND r.run_id = $2 ORDER BY r.id DESC LIMIT 1`, [workflowId, runId]);
  return row ? { id: Number(row.id), status: row.status } : null;
}

/** A result that ends the workflow for the run: a later delivery repeats it instead of running again. */
const isDone = (a: LatestAttempt | null): a is LatestAttempt & { status: 'succeeded' | 'cached' } => a?.status === 'succeeded' || a?.status === 'cached';

/** Attempts are numbered per workflow within the run: 1, 2, … (takeovers and operator retries count). */
async function nextAttempt(client: PoolClient, runId: string, workflowId: string): Promise<number> {
  const { rows: [row] } = await client.query<{ next: number }>(
    'SELECT COALESCE(max(attempt), 0)::int + 1 AS next FROM tms.workflow_runs WHERE workflow_id = $1 AND run_id = $2', [workflowId, runId]);
  return row?.next ?? 1;
}

type Start =
  | { kind: 'done'; attempt: LatestAttempt & { status: 'succeeded' | 'cached' } }
  | { kind: 'dropped' }
  | { kind: 'cached'; rowId: number }
  | { kind: 'execute'; rowId: number; workflow: StoredWorkflow };

export async function runWorkflowJob(ctx: WorkflowJobContext, payload: WorkflowJobPayload, job: WorkflowJobInfo): Promise<WorkflowJobResult> {
  const { runId, workflowId } = payload;
  const run = await ctx.runs.get(runId);
  const settings = run.workflows;
  if (!settings) throw new PermanentJobError(`Run ${runId} creates no workflows (it was planned without workflow templates)`);
  const useCache = !settings.noCache && settings.config.cache.enabled;
  const started = performance.now();
  // The runner is known before the cache is consulted: a cached result may only stand in for a run of its
  // kind (resultsServing). One that cannot be created (runner: dagger, no engine) fails the attempt below.
  const runner = await ctx.runnerFor(settings.config).then((r) => ({ ok: r }), (err: unknown) => ({ error: err }));
  const runnerKind: WorkflowRunner['name'] = 'ok' in runner ? runner.ok.name : settings.config.runner === 'local' ? 'local' : 'dagger';

  const start = await inTransaction(ctx.db, async (client): Promise<Start> => {
    await lockWorkflow(client, workflowId);
    // The run's jobs left in the queue after its rollback are dropped (shareRunLock says why the lock).
    await shareRunLock(client, runId);
    if (await runStatusOf(client, runId) === 'rolled_back') return { kind: 'dropped' };
    let workflow: StoredWorkflow | null;
    try {
      workflow = await loadWorkflow(client, workflowId);
    } catch (err) {
      throw new PermanentJobError(`Workflow ${workflowId} of run ${runId} cannot be rendered: ${(err as Error).message}`);
    }
    if (!workflow) throw new PermanentJobError(`Workflow ${workflowId} of run ${runId} is not in tms.workflows`);
    if (workflow.hash !== workflow.storedHash) {
      ctx.logger.info({ workflowId, legacyId: workflow.legacyId }, 'Task changed since it was migrated: its workflow runs with the task as it is now');
    }
    // The latest attempt decides: succeeded or cached — done, this delivery repeats that outcome; failed —
    // this delivery is a retry (an operator's, from Bull Board: a failed step completes its job, so only a
    // retry delivers it again) and runs a new attempt; running — its delivery lost the job (its lock
    // expired and the queue handed it to us): that attempt is abandoned and we run a new one.
    const latest = await latestAttempt(client, runId, workflowId);
    if (isDone(latest)) return { kind: 'done', attempt: latest };
    if (latest?.status === 'running') {
      await client.query(
        `UPDATE tms.workflow_runs SET status = 'abandoned', finished_at = now(), error = COALESCE(error, $3)
          WHERE workflow_id = $1 AND run_id = $2 AND status = 'running'`, [workflowId, runId, ABANDONED_BY_TAKEOVER]);
    }
    const attempt = await nextAttempt(client, runId, workflowId);
    if (useCache) {
      const { rows: [hit] } = await client.query<{ id: string; exit_code: number | null; output_digest: string | null; output_tail: string | null; runner: string | null }>(
        // Ordered by the bigint (an `id` here would be the text output column: '99' > '1000'); a Dagger result first.
        `SELECT r.id::text AS id, exit_code, output_digest, output_tail, runner FROM tms.workflow_runs r
          WHERE definition_hash = $1 AND status = 'succeeded' AND runner = ANY($2::text[])
          ORDER BY (runner = 'dagger') DESC, r.id DESC LIMIT 1`,
        [workflow.hash, resultsServing(runnerKind)]);
      if (hit) {
        const { rows: [row] } = await client.query<{ id: string }>(
          `INSERT INTO tms.workflow_runs (workflow_id, attempt, status, exit_code, duration_ms, output_digest, output_tail, cache_hit, runner,
             worker, run_id, job_id, definition_hash, cached_from, finished_at)
           VALUES ($1, $2, 'cached', $3, $4, $5, $6, true, $7, $8, $9, $10, $11, $12, now()) RETURNING id`,
          [workflowId, attempt, hit.exit_code, Math.round(performance.now() - started), hit.output_digest, hit.output_tail, hit.runner,
            ctx.workerName, runId, job.jobId, workflow.hash, hit.id]);
        await notifyProgress(client, runId);
        return { kind: 'cached', rowId: Number(row!.id) };
      }
    }
    const { rows: [row] } = await client.query<{ id: string }>(
      `INSERT INTO tms.workflow_runs (workflow_id, attempt, status, worker, run_id, job_id, definition_hash)
       VALUES ($1, $2, 'running', $3, $4, $5, $6) RETURNING id`,
      [workflowId, attempt, ctx.workerName, runId, job.jobId, workflow.hash]);
    return { kind: 'execute', rowId: Number(row!.id), workflow };
  });
  if (start.kind === 'done') {
    ctx.logger.info({ row: start.attempt.id, outcome: start.attempt.status },
      `Workflow already ${start.attempt.status} for run ${runId} (tms.workflow_runs row ${start.attempt.id}): nothing run again`);
    return { outcome: start.attempt.status, runRowId: start.attempt.id, alreadyDone: true };
  }
  if (start.kind === 'dropped') {
    ctx.logger.info({ runId, workflowId }, `Run ${runId} was rolled back: its workflow job is dropped, nothing is run`);
    return { outcome: 'dropped', runRowId: null };
  }
  if (start.kind === 'cached') {
    ctx.logger.debug({ workflowId }, 'Workflow result reused from the cache');
    return { outcome: 'cached', runRowId: start.rowId };
  }

  let result: RunResult;
  try {
    if ('error' in runner) throw runner.error;
    const release = await ctx.slot(settings.config.concurrency);
    try {
      result = await runner.ok.run(start.workflow.definition, { signal: ctx.signal });
    } finally {
      release();
    }
  } catch (err) {
    if (ctx.signal.aborted && ctx.signal.reason === LOCK_LOST) {
      // Not a result: the delivery that took the job over runs the workflow (or has abandoned this row already).
      await finishAttempt(ctx.db, runId, start.rowId, { status: 'abandoned', error: ABANDONED_BY_TAKEOVER, durationMs: performance.now() - started });
      throw new LockLostError(job.jobId);
    }
    // Engine trouble (or a runner bug): this attempt is abandoned and the queue retries the job; the
    // last attempt's error is the workflow's final result.
    const last = job.attempt >= job.attempts;
    const message = (err as Error).message;
    await finishAttempt(ctx.db, runId, start.rowId, {
      status: last ? 'failed' : 'abandoned',
      error: last ? `after ${job.attempts} attempts: ${message}` : message,
      durationMs: performance.now() - started,
    });
    if (last) {
      const error = `the runner failed ${job.attempts} times: ${message}`;
      ctx.logger.error({ workflowId, legacyId: start.workflow.legacyId, err: message }, `Workflow of task ${start.workflow.legacyId} failed: ${error}`);
      return { outcome: 'failed', runRowId: start.rowId, error };
    }
    throw err;
  }
  const updated = await finishAttempt(ctx.db, runId, start.rowId, {
    status: result.status, exitCode: result.exitCode, durationMs: result.durationMs, outputDigest: result.outputDigest,
    outputTail: result.outputTail, runner: result.runner,
    // Why it failed, kept with the row (taskfleet workflows lists it; the job's return value is only a tail on the board).
    error: result.status === 'failed' ? failureOf(result) : null,
  });
  // Another delivery of this job took over (this one was presumed dead): its row holds the result.
  if (!updated) ctx.logger.warn({ workflowId, row: start.rowId }, 'Workflow attempt was taken over by another delivery; its result is not recorded');
  if (result.status === 'failed') {
    // A failed step is a result, not a job error: the job completes, so its reason goes to the log and
    // the return value (tms.workflow_runs keeps the whole tail of its output).
    const error = failureOf(result);
    ctx.logger.warn({ workflowId, legacyId: start.workflow.legacyId, row: start.rowId, exitCode: result.exitCode },
      `Workflow of task ${start.workflow.legacyId} failed: ${error} (output: tms.workflow_runs row ${start.rowId})`);
    return { outcome: 'failed', runRowId: start.rowId, error };
  }
  return { outcome: result.status, runRowId: start.rowId };
}

/**
 * The failing step and how it failed, with the workflow's last line of output (the steps' output is one
 * stream: the line is the failing step's unless it printed nothing).
 */
export function failureOf(result: RunResult): string {
  const step = result.steps.find((s) => s.timedOut || s.exitCode !== 0);
  const how = !step ? `exit code ${result.exitCode ?? '?'}`
    : step.timedOut ? `step ${step.name} ran past its timeout and was aborted` : `step ${step.name} exited ${step.exitCode ?? '?'}`;
  const lastLine = result.outputTail.trimEnd().split('\n').at(-1)?.slice(-200);
  return lastLine ? `${how}; last output: ${lastLine}` : how;
}

interface AttemptEnd {
  status: 'succeeded' | 'failed' | 'abandoned';
  exitCode?: number | null;
  durationMs: number;
  outputDigest?: string;
  outputTail?: string;
  runner?: string;
  error: string | null;
}

/** Closes a 'running' attempt (false when it is no longer running: another delivery abandoned it). */
async function finishAttempt(db: Pool, runId: string, rowId: number, end: AttemptEnd): Promise<boolean> {
  return inTransaction(db, async (client) => {
    const { rows: [attempt] } = await client.query<{ workflow_id: string }>('SELECT workflow_id::text FROM tms.workflow_runs WHERE id = $1', [rowId]);
    // Under the workflow's lock, like a delivery's start: a re-delivery either sees this result or abandons this attempt.
    if (attempt) await lockWorkflow(client, attempt.workflow_id);
    const { rowCount } = await client.query(
      `UPDATE tms.workflow_runs SET status = $2, exit_code = $3, duration_ms = $4, output_digest = $5, output_tail = $6,
         runner = COALESCE($7, runner), error = $8, finished_at = now()
       WHERE id = $1 AND status = 'running'`,
      [rowId, end.status, end.exitCode ?? null, Math.round(end.durationMs), end.outputDigest ?? null, end.outputTail ?? null, end.runner ?? null, end.error]);
    await notifyProgress(client, runId);
    return (rowCount ?? 0) > 0;
  });
}

/**
 * The job failed for good before or outside a runner attempt (a permanent error, or its last attempt
 * failed on the database): records a final 'failed' row for the run, so the stage can end.
 */
export async function recordWorkflowFailure(db: Pool, payload: WorkflowJobPayload, job: WorkflowJobInfo, workerName: string, error: string): Promise<void> {
  const { runId, workflowId } = payload;
  await inTransaction(db, async (client) => {
    await lockWorkflow(client, workflowId);
    const latest = await latestAttempt(client, runId, workflowId);
    if (isDone(latest)) return;
    const { rowCount } = await client.query(
      `UPDATE tms.workflow_runs SET status = 'failed', error = $3, finished_at = now()
        WHERE id = (SELECT max(id) FROM tms.workflow_runs WHERE workflow_id = $1 AND run_id = $2 AND status = 'running')`,
      [workflowId, runId, error]);
    if ((rowCount ?? 0) === 0) {
      await client.query(
        `INSERT INTO tms.workflow_runs (workflow_id, attempt, status, worker, run_id, job_id, definition_hash, error, finished_at)
         VALUES ($1, $2, 'failed', $3, $4, $5, COALESCE((SELECT definition_hash FROM tms.workflows WHERE id = $1), ''), $6, now())`,
        [workflowId, await nextAttempt(client, runId, workflowId), workerName, runId, job.jobId, error]);
    }
    await notifyProgress(client, runId);
  });
}
