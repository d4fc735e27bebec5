// Ledger: chunks, the unit of work. A chunk is a byte range of one legacy file; its row says whether
// it is done, with delta counters whose sum per kind is the run's total.
import { RUN_STAGES, type LegacyKind, type RunStage, type Stage } from '../legacy/kinds.js';
import type { Pool, PoolClient } from '../store/pool.js';
import { shareRunLock, type RunStatus } from './runs.js';
import { storableText } from './storable-text.js';

export type ChunkStatus = 'pending' | 'done' | 'failed';

export interface ChunkPlan {
  runId: string;
  stage: Stage;
  chunkNo: number;
  kind: LegacyKind;
  fileName: string | null;
  byteStart: number;
  byteEnd: number;
  lineStart: number;
  lineEnd: number;
  records: number;
  firstLegacyId: string | null;
  lastLegacyId: string | null;
  sha256: string | null;
}

export interface Chunk extends ChunkPlan {
  status: ChunkStatus;
  attempts: number;
  error: string | null;
}

export interface ChunkOutcome {
  legacyRecords: number;
  declaredEdges?: readonly unknown[];
  migrated: number;
  rejected: number;
  worker: string;
  durationMs: number;
}

type Db = Pool | PoolClient;

const CHUNK_COLUMNS = `run_id AS "runId", stage, chunk_no AS "chunkNo", kind, file_name AS "fileName",
  byte_start::float8 AS "byteStart", byte_end::float8 AS "byteEnd", line_start AS "lineStart", line_end AS "lineEnd",
  records, first_legacy_id AS "firstLegacyId", last_legacy_id AS "lastLegacyId", sha256, status, attempts, error`;

export async function insertChunks(db: Db, plans: readonly ChunkPlan[]): Promise<void> {
  if (plans.length === 0) return;
  const col = <K extends keyof ChunkPlan>(k: K) => plans.map((p) => p[k]);
  await db.query(
    `INSERT INTO ledger.chunks (run_id, stage, chunk_no, kind, file_name, byte_start, byte_end, line_start, line_end,
       records, first_legacy_id, last_legacy_id, sha256)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
       $8::int[], $9::int[], $10::int[], $11::text[], $12::text[], $13::text[])
     ON CONFLICT DO NOTHING`,
    [col('runId'), col('stage'), col('chunkNo'), col('kind'), col('fileName'), col('byteStart'), col('byteEnd'),
      col('lineStart'), col('lineEnd'), col('records'), plans.map((p) => storableText(p.firstLegacyId)), plans.map((p) => storableText(p.lastLegacyId)), col('sha256')],
  );
}

/** A chunk as planned, with its run's status (a job of a rolled-back run has nothing to do). */
export async function getChunk(db: Db, runId: string, stage: Stage, chunkNo: number): Promise<(Chunk & { runStatus: RunStatus }) | null> {
  const { rows } = await db.query<Chunk & { runStatus: RunStatus }>(
    `SELECT ${CHUNK_COLUMNS}, (SELECT r.status FROM ledger.runs r WHERE r.id = $1) AS "runStatus"
       FROM ledger.chunks WHERE run_id = $1 AND stage = $2 AND chunk_no = $3`,
    [runId, stage, chunkNo],
  );
  return rows[0] ?? null;
}

export interface ChunkLock {
  chunk: ChunkStatus;
  run: RunStatus;
}

/**
 * Shares the run's lock (shareRunLock says why) and locks the chunk for this transaction (concurrent
 * runs of the same chunk queue up here), before anything is written.
 */
export async function lockChunk(client: PoolClient, runId: string, stage: Stage, chunkNo: number): Promise<ChunkLock | null> {
  await shareRunLock(client, runId);
  // A statement of its own, after the lock: the run's status as of now.
  const { rows } = await client.query<ChunkLock>(
    `SELECT status AS chunk, (SELECT r.status FROM ledger.runs r WHERE r.id = $1) AS run
       FROM ledger.chunks WHERE run_id = $1 AND stage = $2 AND chunk_no = $3 FOR UPDATE`,
    [runId, stage, chunkNo],
  );
  return rows[0]?.run ? rows[0] : null;
}

export async function markChunkDone(client: PoolClient, runId: string, stage: Stage, chunkNo: number, outcome: ChunkOutcome): Promise<void> {
  await client.query(
    `UPDATE ledger.chunks SET status = 'done', legacy_records = $4, migrated = $5, rejected = $6, worker = $7,
       duration_ms = $8, declared_edges = $9, attempts = attempts + 1, error = NULL, done_at = now()
     WHERE run_id = $1 AND stage = $2 AND chunk_no = $3`,
    [runId, stage, chunkNo, outcome.legacyRecords, outcome.migrated, outcome.rejected, outcome.worker, Math.round(outcome.durationMs), outcome.declaredEdges ? JSON.stringify(outcome.declaredEdges) : null],
  );
}

export async function markChunkFailed(db: Db, runId: string, stage: Stage, chunkNo: number, error: string): Promise<void> {
  await db.query(
    `UPDATE ledger.chunks SET status = 'failed', error = $4, attempts = attempts + 1
     WHERE run_id = $1 AND stage = $2 AND chunk_no = $3 AND status <> 'done'`,
    [runId, stage, chunkNo, error],
  );
}

/** Puts failed chunks of a run back to pending (resume retries them). */
export async function resetFailedChunks(db: Db, runId: string): Promise<number> {
  const result = await db.query(`UPDATE ledger.chunks SET status = 'pending' WHERE run_id = $1 AND status = 'failed'`, [runId]);
  return result.rowCount ?? 0;
}

/** Of these chunks, the ones no longer pending (done or failed). */
export async function settledChunkNumbers(db: Db, runId: string, stage: Stage, chunkNos: readonly number[]): Promise<number[]> {
  if (chunkNos.length === 0) return [];
  const { rows } = await db.query<{ chunk_no: number }>(
    `SELECT chunk_no FROM ledger.chunks WHERE run_id = $1 AND stage = $2 AND chunk_no = ANY($3::int[]) AND status <> 'pending'`,
    [runId, stage, chunkNos],
  );
  return rows.map((r) => r.chunk_no);
}

/** Up to `limit` pending chunks, in order, leaving out those already handed to the queue. */
export async function nextPendingChunks(db: Db, runId: string, stage: Stage, exclude: readonly number[], limit: number): Promise<Chunk[]> {
  if (limit <= 0) return [];
  const { rows } = await db.query<Chunk>(
    `SELECT ${CHUNK_COLUMNS} FROM ledger.chunks
     WHERE run_id = $1 AND stage = $2 AND status = 'pending' AND NOT (chunk_no = ANY($3::int[]))
     ORDER BY chunk_no LIMIT $4`,
    [runId, stage, exclude, limit],
  );
  return rows;
}

export async function listChunks(db: Db, runId: string, stage: Stage, status: ChunkStatus): Promise<Chunk[]> {
  const { rows } = await db.query<Chunk>(
    `SELECT ${CHUNK_COLUMNS} FROM ledger.chunks WHERE run_id = $1 AND stage = $2 AND status = $3 ORDER BY chunk_no`,
    [runId, stage, status],
  );
  return rows;
}

/** The edges declared by the tasks chunk over the same bytes, once that chunk is done (else null). */
export async function declaredEdgesAt(db: Db, runId: string, fileName: string, byteStart: number): Promise<unknown[] | null> {
  const { rows } = await db.query<{ declared_edges: unknown[] | null }>(
    `SELECT declared_edges FROM ledger.chunks WHERE run_id = $1 AND stage = 'tasks' AND file_name = $2 AND byte_start = $3 AND status = 'done'`,
    [runId, fileName, byteStart],
  );
  return rows[0]?.declared_edges ?? null;
}

/** A stage's progress; for `workflows` (src/ledger/progress.ts) the units are workflow runs, not chunks/records. */
export interface StageProgress {
  stage: RunStage;
  chunks: number;
  done: number;
  failed: number;
  records: number;
  doneRecords: number;
  legacyRecords: number;
  migrated: number;
  rejected: number;
}

export async function stageProgress(db: Db, runId: string): Promise<StageProgress[]> {
  const { rows } = await db.query<StageProgress>(
    `SELECT stage,
       count(*)::int AS chunks,
       count(*) FILTER (WHERE status = 'done')::int AS done,
       count(*) FILTER (WHERE status = 'failed')::int AS failed,
       COALESCE(sum(records), 0)::int AS records,
       COALESCE(sum(records) FILTER (WHERE status = 'done'), 0)::int AS "doneRecords",
       COALESCE(sum(legacy_records), 0)::int AS "legacyRecords",
       COALESCE(sum(migrated), 0)::int AS migrated,
       COALESCE(sum(rejected), 0)::int AS rejected
     FROM ledger.chunks WHERE run_id = $1 GROUP BY stage`,
    [runId],
  );
  return rows.sort((a, b) => RUN_STAGES.indexOf(a.stage) - RUN_STAGES.indexOf(b.stage));
}
