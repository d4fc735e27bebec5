// Ledger: migration runs and their planned files.
import { randomBytes } from 'node:crypto';
import type { LegacyMapping } from '../config/legacy-mapping.js';
import type { LegacyFormat, LegacyKind, RunStage } from '../legacy/kinds.js';
import type { Pool, PoolClient } from '../store/pool.js';
import { advisoryKey } from '../store/session-lock.js';
import type { DaggerConfig } from '../workflows/dagger-config.js';
import type { TemplateSetJson } from '../workflows/templates.js';
import type { RunQueue } from './run-queue.js';
import type { WorkflowRunSummary } from './workflow-runs.js';

export type RunStatus = 'planning' | 'running' | 'completed' | 'failed' | 'rolled_back';

/** Run ids appear in job ids and names: letters, digits, _ and - only (BullMQ forbids ':'). */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** What every worker needs to process a run's chunks identically, stored with the run. */
export interface RunOptions {
  mapping: LegacyMapping;
  chunkSize: number;
  chunkMaxBytes: number;
  maxRejects: number | null;
  /** Task workflows: the templates and runner settings loaded once at plan time (absent: the run creates none). */
  workflows?: WorkflowRunOptions;
}

export interface WorkflowRunOptions {
  templates: TemplateSetJson;
  config: DaggerConfig;
  /** --no-cache: execute every on-migrate workflow even when an earlier run with its definition hash succeeded. */
  noCache: boolean;
}

export interface Run {
  id: string;
  status: RunStatus;
  legacyDir: string;
  fingerprint: string;
  queueToken: string;
  options: RunOptions;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  stage: RunStage | null;
  error: string | null;
  /** The successful prepare the run started from; null when started with --skip-prepare. */
  preparationId: number | null;
  rolledBackAt: Date | null;
  decommissionedAt: Date | null;
  /** Where its jobs are queued, as planned (or last moved with resume --move-queue); null for runs from before 011. */
  queue: RunQueue | null;
}

export interface RunFile {
  kind: LegacyKind;
  fileName: string;
  format: LegacyFormat;
  bytes: number;
  sha256: string;
  records: number;
  header: string[] | null;
}

type Db = Pool | PoolClient;

const RUN_COLUMNS = `id, status, legacy_dir AS "legacyDir", fingerprint, queue_token AS "queueToken", options, created_at AS "createdAt",
  started_at AS "startedAt", finished_at AS "finishedAt", stage, error, preparation_id::int AS "preparationId",
  rolled_back_at AS "rolledBackAt", decommissioned_at AS "decommissionedAt",
  CASE WHEN queue_prefix IS NULL THEN NULL ELSE json_build_object('backend', queue_backend, 'prefix', queue_prefix, 'redis', queue_redis) END AS queue`;

export async function findRun(db: Db, id: string): Promise<Run | null> {
  const { rows } = await db.query<Run>(`SELECT ${RUN_COLUMNS} FROM ledger.runs WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** The run's status alone (no options): what a worker checks before each job. null: not in the ledger. */
export async function runStatusOf(db: Db, id: string): Promise<RunStatus | null> {
  const { rows } = await db.query<{ status: RunStatus }>('SELECT status FROM ledger.runs WHERE id = $1', [id]);
  return rows[0]?.status ?? null;
}

// A run's lock: jobs share it while they write, a rollback takes it alone. An advisory lock, not the
// run's row: its waiters queue in order, so a rollback is not starved by the jobs that keep coming.
const RUN_LOCK = advisoryKey('run', '$1');

/**
 * Shares the run's lock until the transaction ends. A job takes it before it writes anything and then
 * reads the run's status (in a statement of its own, whose snapshot comes after the lock): a rollback
 * waits for the jobs in flight, and a job that comes after the rollback sees the run rolled back.
 */
export async function shareRunLock(client: PoolClient, id: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock_shared(${RUN_LOCK})`, [id]);
}

/** Takes the run's lock alone until the transaction ends: the jobs in flight finish first, later ones wait. */
export async function lockRunAlone(client: PoolClient, id: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(${RUN_LOCK})`, [id]);
}

/** A run's reject limit as the last migrate or resume of it gave it: what status and the API judge it by. */
export async function setMaxRejects(db: Db, id: string, limit: number): Promise<void> {
  await db.query(`UPDATE ledger.runs SET options = jsonb_set(options, '{maxRejects}', to_jsonb($2::int)) WHERE id = $1`, [id, limit]);
}

export async function listRuns(db: Db): Promise<Run[]> {
  const { rows } = await db.query<Run>(`SELECT ${RUN_COLUMNS} FROM ledger.runs ORDER BY created_at DESC`);
  return rows;
}

export async function insertRun(db: Db, run: { id: string; legacyDir: string; fingerprint: string; options: RunOptions; preparationId?: number | null; queue?: RunQueue }): Promise<void> {
  await db.query(
    `INSERT INTO ledger.runs (id, status, legacy_dir, fingerprint, queue_token, options, preparation_id, queue_backend, queue_prefix, queue_redis)
     VALUES ($1, 'planning', $2, $3, $4, $5, $6, $7, $8, $9)`,
    [run.id, run.legacyDir, run.fingerprint, randomBytes(4).toString('hex'), JSON.stringify(run.options), run.preparationId ?? null,
      run.queue?.backend ?? null, run.queue?.prefix ?? null, run.queue?.redis ?? null],
  );
}

/** resume --move-queue: the run's jobs are queued somewhere else from now on. */
export async function setRunQueue(db: Db, id: string, queue: RunQueue): Promise<void> {
  await db.query('UPDATE ledger.runs SET queue_backend = $2, queue_prefix = $3, queue_redis = $4 WHERE id = $1', [id, queue.backend, queue.prefix, queue.redis]);
}

/** `workflowSummary`: the run's workflow counts as it completes (workflow-runs.ts); a run running again drops them. */
export async function updateRun(db: Db, id: string, change: {
  status?: RunStatus; stage?: RunStage | null; error?: string | null; started?: boolean; finished?: boolean; workflowSummary?: WorkflowRunSummary;
}): Promise<void> {
  await db.query(
    `UPDATE ledger.runs SET
       status = COALESCE($2, status),
       stage = CASE WHEN $3::boolean THEN $4 ELSE stage END,
       error = CASE WHEN $5::boolean THEN $6 ELSE error END,
       started_at = CASE WHEN $7::boolean THEN COALESCE(started_at, now()) ELSE started_at END,
       finished_at = CASE WHEN $8::boolean THEN now() WHEN $2 = 'running' THEN NULL ELSE finished_at END,
       -- the next transaction id at completion: a row of this run whose xmin is newer changed after the run
       completed_xid = CASE WHEN $2 = 'completed' THEN pg_snapshot_xmax(pg_current_snapshot()) ELSE completed_xid END,
       workflow_summary = CASE WHEN $9::jsonb IS NOT NULL THEN $9::jsonb WHEN $2 = 'running' THEN NULL ELSE workflow_summary END
     -- a rollback has the last word: a producer still driving the run cannot mark it running or completed again
     WHERE id = $1 AND status <> 'rolled_back'`,
    [id, change.status ?? null, change.stage !== undefined, change.stage ?? null, change.error !== undefined, change.error ?? null,
      change.started ?? false, change.finished ?? false, change.workflowSummary ? JSON.stringify(change.workflowSummary) : null],
  );
  // A new status or stage is progress too: followers (the progress stream) hear of the end at once.
  if (change.status !== undefined || change.stage !== undefined) await notifyProgress(db, id);
}

export async function insertRunFile(db: Db, runId: string, file: RunFile): Promise<void> {
  await db.query(
    `INSERT INTO ledger.run_files (run_id, kind, file_name, format, bytes, sha256, records, header)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [runId, file.kind, file.fileName, file.format, file.bytes, file.sha256, file.records, file.header ? JSON.stringify(file.header) : null],
  );
}

export async function getRunFiles(db: Db, runId: string): Promise<RunFile[]> {
  const { rows } = await db.query<RunFile & { bytes: string }>(
    `SELECT kind, file_name AS "fileName", format, bytes, sha256, records, header FROM ledger.run_files WHERE run_id = $1`,
    [runId],
  );
  return rows.map((r) => ({ ...r, bytes: Number(r.bytes) }));
}

/** Wakes whoever follows the run's progress (the producer, the progress bars) without polling. */
export async function notifyProgress(db: Db, runId: string): Promise<void> {
  await db.query(`SELECT pg_notify('taskfleet_progress', $1)`, [runId]);
}
