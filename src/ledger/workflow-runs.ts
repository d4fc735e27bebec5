// The ledger of a run's `workflows` stage, read from the new system's own tables: a run's on-migrate
// workflows are the tms.workflows rows it last migrated (last_run_id); one is done for the run once a
// final tms.workflow_runs row of that run exists (succeeded, failed or cached). Every attempt is a
// row: 'running' while it executes, 'abandoned' when its worker died or the engine failed transiently.
// A later run over the same tasks takes their last_run_id over, so a run records its counts as it
// completes (ledger.runs.workflow_summary): its report reads those from then on.
import type { Pool, PoolClient } from '../store/pool.js';

type Db = Pool | PoolClient;

export const FINAL_STATUSES = ['succeeded', 'failed', 'cached'] as const;
export type WorkflowRunStatus = 'running' | 'abandoned' | (typeof FINAL_STATUSES)[number];

/** SQL: a workflow_runs row that is a final result (alias the table's columns as needed). */
export const IS_FINAL = `status IN ('succeeded', 'failed', 'cached')`;

export interface WorkflowStageCounts {
  /** On-migrate workflows of the run. */
  total: number;
  /** Of those, with a final result for the run. */
  done: number;
  succeeded: number;
  failed: number;
  cached: number;
}

/** The stage's progress: on-migrate workflows of the run, and how each ended (its latest final attempt). */
export async function workflowStageCounts(db: Db, runId: string): Promise<WorkflowStageCounts> {
  const { rows: [row] } = await db.query<WorkflowStageCounts>(
    `SELECT count(*)::int AS total,
            count(f.status)::int AS done,
            count(*) FILTER (WHERE f.status = 'succeeded')::int AS succeeded,
            count(*) FILTER (WHERE f.status = 'failed')::int AS failed,
            count(*) FILTER (WHERE f.status = 'cached')::int AS cached
       FROM tms.workflows w
       LEFT JOIN LATERAL (SELECT r.status FROM tms.workflow_runs r
                           WHERE r.run_id = $1 AND r.workflow_id = w.id AND r.${IS_FINAL}
                           ORDER BY r.id DESC LIMIT 1) f ON true
      WHERE w.last_run_id = $1 AND w.run_mode = 'on-migrate'`,
    [runId]);
  return row ?? { total: 0, done: 0, succeeded: 0, failed: 0, cached: 0 };
}

export interface PendingWorkflow {
  id: string;
  legacyId: string;
  title: string;
}

/**
 * Up to `limit` on-migrate workflows of the run after `afterId` (keyset order by id) that have no
 * final result for the run yet: the workflows stage walks the run once with this cursor.
 */
export async function nextPendingWorkflows(db: Db, runId: string, afterId: string | null, limit: number): Promise<PendingWorkflow[]> {
  if (limit <= 0) return [];
  const { rows } = await db.query<PendingWorkflow>(
    `SELECT w.id::text AS id, w.legacy_id AS "legacyId", COALESCE(t.title, '') AS title
       FROM tms.workflows w LEFT JOIN tms.tasks t ON t.id = w.task_id
      WHERE w.last_run_id = $1 AND w.run_mode = 'on-migrate' AND ($2::uuid IS NULL OR w.id > $2::uuid)
        AND NOT EXISTS (SELECT 1 FROM tms.workflow_runs r WHERE r.run_id = $1 AND r.workflow_id = w.id AND r.${IS_FINAL})
      ORDER BY w.id LIMIT $3`,
    [runId, afterId, limit]);
  return rows;
}

/** Of these workflows, the ones with a final result for the run. */
export async function settledWorkflowIds(db: Db, runId: string, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `SELECT DISTINCT workflow_id::text AS id FROM tms.workflow_runs WHERE run_id = $1 AND workflow_id = ANY($2::uuid[]) AND ${IS_FINAL}`,
    [runId, ids]);
  return rows.map((r) => r.id);
}

export interface WorkflowRunSummary extends WorkflowStageCounts {
  /** Workflows of the run: every task it migrated has one (last_run_id). */
  workflows: number;
  /** Of those, created by this run (the others existed from an earlier run). */
  created: number;
  onMigrate: number;
  /** Attempts recorded as abandoned (a worker died, or a transient engine error was retried). */
  abandoned: number;
}

/** The counts the run recorded as it completed (null: it has not completed, or completed before they were recorded). */
async function recordedSummary(db: Db, runId: string): Promise<WorkflowRunSummary | null> {
  const { rows: [row] } = await db.query<{ summary: WorkflowRunSummary | null }>('SELECT workflow_summary AS summary FROM ledger.runs WHERE id = $1', [runId]);
  return row?.summary ?? null;
}

/** The workflows stage's counts for a report: as recorded at completion, else as they stand (workflowStageCounts). */
export async function reportedWorkflowCounts(db: Db, runId: string): Promise<WorkflowStageCounts> {
  const recorded = await recordedSummary(db, runId);
  if (!recorded) return workflowStageCounts(db, runId);
  const { total, done, succeeded, failed, cached } = recorded;
  return { total, done, succeeded, failed, cached };
}

/** What the migrate summary and status report on the run's workflows: as recorded at completion, else as they stand. */
export async function workflowRunSummary(db: Db, runId: string): Promise<WorkflowRunSummary> {
  return (await recordedSummary(db, runId)) ?? liveWorkflowRunSummary(db, runId);
}

/** The run's workflow counts as they stand: what a run records as it completes. */
export async function liveWorkflowRunSummary(db: Db, runId: string): Promise<WorkflowRunSummary> {
  const { rows: [rows] } = await db.query<{ workflows: number; created: number }>(
    `SELECT count(*)::int AS workflows, count(*) FILTER (WHERE run_id = $1)::int AS created FROM tms.workflows WHERE last_run_id = $1`, [runId]);
  const { rows: [attempts] } = await db.query<{ abandoned: number }>(
    `SELECT count(*)::int AS abandoned FROM tms.workflow_runs WHERE run_id = $1 AND status = 'abandoned'`, [runId]);
  const counts = await workflowStageCounts(db, runId);
  return { workflows: rows?.workflows ?? 0, created: rows?.created ?? 0, onMigrate: counts.total, ...counts, abandoned: attempts?.abandoned ?? 0 };
}
