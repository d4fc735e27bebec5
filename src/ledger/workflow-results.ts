// The workflow results of a run, one per workflow: its latest final attempt in the run (succeeded,
// failed or cached), for `taskfleet workflows RUN`: the way to find which tasks' workflows failed and
// why without SQL (Bull Board keeps only a tail of finished jobs).
import type { Pool, PoolClient } from '../store/pool.js';
import { IS_FINAL, type FINAL_STATUSES } from './workflow-runs.js';

type Db = Pool | PoolClient;

export type FinalWorkflowStatus = (typeof FINAL_STATUSES)[number];

export interface WorkflowResult {
  legacyId: string;
  template: string;
  status: FinalWorkflowStatus;
  exitCode: number | null;
  error: string | null;
  outputTail: string | null;
  attempt: number;
  runner: string | null;
  finishedAt: Date | null;
}

const LATEST_FINAL = `(SELECT DISTINCT ON (workflow_id) * FROM tms.workflow_runs
                        WHERE run_id = $1 AND ${IS_FINAL} ORDER BY workflow_id, id DESC)`;

/** A page of the run's workflow results with `status` (all when null), in legacy id order. */
export async function listWorkflowResults(db: Db, runId: string, opts: { status: FinalWorkflowStatus | null; limit: number; offset: number }): Promise<WorkflowResult[]> {
  const { rows } = await db.query<WorkflowResult>(
    `SELECT w.legacy_id AS "legacyId", w.template, r.status, r.exit_code AS "exitCode", r.error, r.output_tail AS "outputTail",
            r.attempt, r.runner, r.finished_at AS "finishedAt"
       FROM ${LATEST_FINAL} r JOIN tms.workflows w ON w.id = r.workflow_id
      WHERE $2::text IS NULL OR r.status = $2
      ORDER BY w.legacy_id LIMIT $3 OFFSET $4`,
    [runId, opts.status, opts.limit, opts.offset]);
  return rows;
}

/** How many of the run's workflows ended with `status` (all when null): the total behind a page. */
export async function countWorkflowResults(db: Db, runId: string, status: FinalWorkflowStatus | null): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${LATEST_FINAL} r WHERE $2::text IS NULL OR r.status = $2`, [runId, status]);
  return rows[0]?.n ?? 0;
}
