// Ledger totals for the operations server's /metrics, read at scrape time: the server does no
// migration work itself, so every count comes from Postgres and a restarted server exports the same.
import type { Pool } from '../store/pool.js';
import type { RunStatus } from './runs.js';

export interface LedgerTotals {
  /** Per legacy kind, summed over every run's chunks (the deltas runSummary adds up). */
  kinds: { kind: string; migrated: number; rejected: number }[];
  chunksByStatus: { status: string; chunks: number }[];
  runsByStatus: { status: RunStatus; runs: number }[];
  /** tms.workflow_runs rows (attempts) by status. */
  workflowRunsByStatus: { status: string; runs: number }[];
  /** Attempts that reused an earlier succeeded result (status cached). */
  workflowCacheHits: number;
  /** Unix seconds of the last chunk or workflow attempt that finished; null before any. */
  lastProgressAt: number | null;
}

export async function ledgerTotals(db: Pool): Promise<LedgerTotals> {
  const [kinds, chunks, runs, workflowRuns, last] = await Promise.all([
    db.query<{ kind: string; migrated: number; rejected: number }>(
      `SELECT kind, COALESCE(sum(migrated), 0)::float8 AS migrated, COALESCE(sum(rejected), 0)::float8 AS rejected
         FROM ledger.chunks GROUP BY kind`),
    db.query<{ status: string; chunks: number }>('SELECT status, count(*)::float8 AS chunks FROM ledger.chunks GROUP BY status'),
    db.query<{ status: RunStatus; runs: number }>('SELECT status, count(*)::float8 AS runs FROM ledger.runs GROUP BY status'),
    db.query<{ status: string; runs: number }>('SELECT status, count(*)::float8 AS runs FROM tms.workflow_runs GROUP BY status'),
    db.query<{ at: number | null }>(
      `SELECT extract(epoch FROM GREATEST((SELECT max(done_at) FROM ledger.chunks), (SELECT max(finished_at) FROM tms.workflow_runs)))::float8 AS at`),
  ]);
  return {
    kinds: kinds.rows,
    chunksByStatus: chunks.rows,
    runsByStatus: runs.rows,
    workflowRunsByStatus: workflowRuns.rows,
    workflowCacheHits: workflowRuns.rows.find((r) => r.status === 'cached')?.runs ?? 0,
    lastProgressAt: last.rows[0]?.at ?? null,
  };
}

/** Done chunks' durations, grouped (one row per stage and duration): the chunk duration histogram. */
export async function chunkDurations(db: Pool): Promise<{ stage: string; ms: number; chunks: number }[]> {
  const { rows } = await db.query<{ stage: string; ms: number; chunks: number }>(
    `SELECT stage, duration_ms AS ms, count(*)::int AS chunks FROM ledger.chunks
      WHERE status = 'done' AND duration_ms IS NOT NULL GROUP BY stage, duration_ms`);
  return rows;
}
