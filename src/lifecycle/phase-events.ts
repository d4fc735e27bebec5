// Every lifecycle phase leaves a row in ledger.phase_events: started, then passed, failed or refused
// (a gate that was not met, or an input the operator must fix first: nothing was done); `taskfleet
// status RUN` reads them back. Starting one is also an audit event (ops.audit_log, next to the operations
// server's): which OS user on which host started which phase; its outcome follows the phase's.
import { hostname, userInfo } from 'node:os';
import { ConfigError } from '../config/errors.js';
import type { Pool } from '../store/pool.js';

export const PHASES = ['prepare', 'migrate', 'verify', 'optimize', 'decommission'] as const;
export type Phase = (typeof PHASES)[number];
export type RecordedPhase = Phase | 'rollback';
export type PhaseOutcome = 'passed' | 'failed' | 'refused';

export interface PhaseEvent {
  id: number;
  runId: string | null;
  preparationId: number | null;
  phase: RecordedPhase;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: PhaseOutcome | 'running';
  summary: Record<string, unknown> | null;
  error: string | null;
}

/** A phase that did not start because its gate is not met: the message says what to do. */
export class GateError extends Error {
  override name = 'GateError';
}

/** Who runs this process, for the audit log (a container may have no passwd entry for its uid). */
function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

export async function startPhase(db: Pool, phase: RecordedPhase, ids: { runId?: string | null; preparationId?: number | null }): Promise<number> {
  // One statement: the phase event and its audit row exist together or not at all.
  const { rows: [row] } = await db.query<{ id: string }>(
    `WITH event AS (INSERT INTO ledger.phase_events (run_id, preparation_id, phase) VALUES ($1, $2, $3) RETURNING id),
          audit AS (INSERT INTO ops.audit_log (username, role, action, method, path, ip, outcome, details)
                    SELECT $4, 'process', 'phase.' || $3, 'PHASE', 'taskfleet ' || $3, $5, 'success',
                           jsonb_build_object('runId', $1::text, 'preparationId', $2::bigint, 'phaseEventId', event.id, 'pid', $6::int)
                      FROM event)
     SELECT id FROM event`,
    [ids.runId ?? null, ids.preparationId ?? null, phase, osUser(), hostname(), process.pid]);
  return Number(row!.id);
}

/** A phase's outcome in the audit log's words. */
const AUDIT_OUTCOME: Record<PhaseOutcome, 'success' | 'failure' | 'denied'> = { passed: 'success', failed: 'failure', refused: 'denied' };

export async function finishPhase(db: Pool, eventId: number, outcome: PhaseOutcome,
  details: { summary?: Record<string, unknown>; error?: string | null; runId?: string | null; preparationId?: number | null } = {}): Promise<void> {
  // Its audit row (written at the start) takes the phase's outcome too, in the same statement.
  await db.query(
    `WITH event AS (
       UPDATE ledger.phase_events SET finished_at = now(), outcome = $2, summary = $3, error = $4,
         run_id = COALESCE($5, run_id), preparation_id = COALESCE($6, preparation_id) WHERE id = $1
       RETURNING id, phase)
     UPDATE ops.audit_log a SET outcome = $7, details = a.details || jsonb_build_object('phaseOutcome', $2::text)
       FROM event WHERE a.action = 'phase.' || event.phase AND a.details->>'phaseEventId' = event.id::text`,
    [eventId, outcome, details.summary ? JSON.stringify(details.summary) : null, details.error ?? null, details.runId ?? null, details.preparationId ?? null,
      AUDIT_OUTCOME[outcome]]);
}

/**
 * Marks a run's migrate events still 'running' as failed (interrupted): their producer stopped without
 * finishing them, and a new producer is taking the run over. Should that producer in fact still be
 * alive, its own finish overwrites this (by event id).
 */
export async function closeInterruptedPhases(db: Pool, runId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `WITH events AS (
       UPDATE ledger.phase_events SET finished_at = now(), outcome = 'failed',
         error = 'interrupted: its producer stopped before the run ended (a later migrate or resume took the run over)'
       WHERE run_id = $1 AND phase = 'migrate' AND outcome = 'running' RETURNING id),
     audit AS (
       UPDATE ops.audit_log a SET outcome = 'failure', details = a.details || jsonb_build_object('phaseOutcome', 'failed')
       FROM events WHERE a.action = 'phase.migrate' AND a.details->>'phaseEventId' = events.id::text)
     SELECT count(*)::int AS n FROM events`, [runId]);
  return rows[0]?.n ?? 0;
}

/** Records a refused phase (its gate was not met) in one row. */
export async function refusePhase(db: Pool, phase: RecordedPhase, ids: { runId?: string | null; preparationId?: number | null }, reason: string): Promise<void> {
  const id = await startPhase(db, phase, ids);
  await finishPhase(db, id, 'refused', { error: reason });
}

/**
 * Runs `body` as a recorded phase: passed when it returns { passed: true }; refused when it throws a
 * GateError or a ConfigError (exit 2: a usage error, such as an --archive that cannot be created, is not a
 * phase that ran and failed); failed when it throws anything else or returns false.
 */
export async function recordPhase<T extends { passed: boolean; summary?: Record<string, unknown> }>(
  db: Pool, phase: RecordedPhase, ids: { runId?: string | null; preparationId?: number | null }, body: () => Promise<T>): Promise<T> {
  const id = await startPhase(db, phase, ids);
  try {
    const result = await body();
    await finishPhase(db, id, result.passed ? 'passed' : 'failed', { summary: result.summary ?? {} });
    return result;
  } catch (err) {
    await finishPhase(db, id, err instanceof GateError || err instanceof ConfigError ? 'refused' : 'failed', { error: (err as Error).message }).catch(() => undefined);
    throw err;
  }
}

export async function phaseEvents(db: Pool, runId: string): Promise<PhaseEvent[]> {
  const { rows } = await db.query<{ id: string; run_id: string | null; preparation_id: string | null; phase: RecordedPhase; started_at: Date; finished_at: Date | null; outcome: PhaseEvent['outcome']; summary: Record<string, unknown> | null; error: string | null }>(
    `SELECT * FROM ledger.phase_events
      WHERE run_id = $1
         -- the prepare the run started from (and phases refused before any run); not the phases of
         -- another run planned from the same prepare (after a rollback, say)
         OR (run_id IS NULL AND preparation_id = (SELECT preparation_id FROM ledger.runs WHERE id = $1))
      ORDER BY id`, [runId]);
  return rows.map((r) => ({
    id: Number(r.id), runId: r.run_id, preparationId: r.preparation_id === null ? null : Number(r.preparation_id), phase: r.phase,
    startedAt: r.started_at, finishedAt: r.finished_at, outcome: r.outcome, summary: r.summary, error: r.error,
  }));
}
