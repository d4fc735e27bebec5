// A run's progress as the operations server reports it: per stage the units to do and done, rejects,
// failures, a rate and an ETA, plus each lifecycle phase's status. Everything is computed from the
// ledger (chunks' done_at, workflow_runs' finished_at), so a restarted server reports the same numbers.
import { RUN_STAGES, type RunStage } from '../legacy/kinds.js';
import { PHASES, phaseEvents, type PhaseEvent, type RecordedPhase } from '../lifecycle/phase-events.js';
import { producerAttachedTo } from '../producers/producer-presence.js';
import type { Pool } from '../store/pool.js';
import { stageProgress, type StageProgress } from './chunks.js';
import { workflowsStageProgress } from './progress.js';
import type { Run, RunStatus } from './runs.js';
import { runOverRejectLimit, type RejectLimitBreach } from './reject-limit.js';
import { runSummary, type KindSummary } from './summary.js';
import { reportedWorkflowCounts } from './workflow-runs.js';

/** The rate of an unfinished stage is measured over this recent window of the ledger. */
export const RATE_WINDOW_SECONDS = 60;

/** What a stage counts: records for chunk stages, the one job of dependency_cycles, workflow runs. */
export type StageUnit = 'records' | 'jobs' | 'workflows';

export interface StageReport {
  stage: RunStage;
  unit: StageUnit;
  total: number;
  done: number;
  /** Records rejected so far (chunk stages; 0 for workflows). */
  rejected: number;
  /** Chunks that failed (chunk stages), or workflows whose final attempt failed. */
  failed: number;
  /** Units per second: over the last RATE_WINDOW_SECONDS while the stage runs, over the whole stage once done. */
  rate: number;
  /** Seconds left at that rate: 0 when done, null when nothing moves. */
  etaSeconds: number | null;
  /** The ledger's own counters for the stage (what `taskfleet migrate --json` prints). */
  ledger: StageProgress;
}

export type PhaseStatus = 'not started' | PhaseEvent['outcome'];

export interface PhaseReport {
  phase: RecordedPhase;
  status: PhaseStatus;
  startedAt: Date | null;
  finishedAt: Date | null;
  error: string | null;
}

export interface ProgressReport {
  runId: string;
  status: RunStatus;
  /** A running run: whether its producer is alive (false: killed or its host lost; `taskfleet resume`). null otherwise. */
  producerAttached: boolean | null;
  stage: RunStage | null;
  error: string | null;
  legacyDir: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  stages: StageReport[];
  /** Per kind: legacy = migrated + rejected once the run completed. */
  summary: KindSummary[];
  /** More records rejected than the run's --max-rejects: its migrate failed (exit 3) though the run completed. */
  overRejectLimit: RejectLimitBreach | null;
  phases: PhaseReport[];
  at: Date;
}

/** Statuses after which a run's counts no longer change (until a resume or rollback). */
export const FINAL_RUN_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'rolled_back'];

interface StageTiming {
  stage: RunStage;
  firstDoneAt: number | null;
  lastDoneAt: number | null;
  /** Units finished within the rate window. */
  recent: number;
}

/** When each stage's units finished: chunks' done_at, and the run's final workflow attempts' finished_at. */
async function stageTimings(db: Pool, runId: string, windowSeconds: number): Promise<{ now: number; timings: Map<RunStage, StageTiming> }> {
  const { rows } = await db.query<{ stage: RunStage; first: number | null; last: number | null; recent: number; now: number }>(
    `SELECT stage,
            extract(epoch FROM min(done_at))::float8 AS first,
            extract(epoch FROM max(done_at))::float8 AS last,
            COALESCE(sum(CASE WHEN stage = 'dependency_cycles' THEN 1 ELSE records END)
              FILTER (WHERE done_at >= now() - make_interval(secs => $2)), 0)::int AS recent,
            extract(epoch FROM now())::float8 AS now
       FROM ledger.chunks WHERE run_id = $1 AND status = 'done' GROUP BY stage
     UNION ALL
     SELECT 'workflows',
            extract(epoch FROM min(finished_at))::float8, extract(epoch FROM max(finished_at))::float8,
            count(*) FILTER (WHERE finished_at >= now() - make_interval(secs => $2))::int,
            extract(epoch FROM now())::float8
       FROM tms.workflow_runs WHERE run_id = $1 AND status IN ('succeeded', 'failed', 'cached')
     UNION ALL
     SELECT NULL, NULL, NULL, 0, extract(epoch FROM now())::float8`,
    [runId, windowSeconds]);
  const timings = new Map<RunStage, StageTiming>();
  let now = Date.now() / 1000;
  for (const r of rows) {
    now = r.now;
    if (r.stage === null) continue;
    timings.set(r.stage, { stage: r.stage, firstDoneAt: r.first, lastDoneAt: r.last, recent: r.recent });
  }
  return { now, timings };
}

function unitOf(stage: RunStage): StageUnit {
  return stage === 'dependency_cycles' ? 'jobs' : stage === 'workflows' ? 'workflows' : 'records';
}

/**
 * Rate and ETA of a stage. Stages run one after another, so a stage starts when the one before it
 * finished (the run's start for the first). A finished stage's rate is its average; a running one's
 * counts only the units finished in the recent window, so a slowdown shows at once.
 */
export function stageRate(p: { total: number; done: number }, timing: StageTiming | undefined, stageStart: number | null, now: number,
  windowSeconds = RATE_WINDOW_SECONDS): { rate: number; etaSeconds: number | null } {
  const left = p.total - p.done;
  if (p.total > 0 && left <= 0) {
    const start = stageStart ?? timing?.firstDoneAt ?? null;
    const end = timing?.lastDoneAt ?? null;
    const seconds = start !== null && end !== null ? Math.max(end - start, 1) : null;
    return { rate: seconds === null ? 0 : round(p.done / seconds), etaSeconds: 0 };
  }
  if (!timing || timing.recent === 0) return { rate: 0, etaSeconds: null };
  const windowStart = Math.max(now - windowSeconds, stageStart ?? now - windowSeconds);
  const rate = timing.recent / Math.max(now - windowStart, 1);
  return { rate: round(rate), etaSeconds: Math.ceil(left / rate) };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Each phase's latest event (rollback only once it happened). */
export function phaseReports(events: readonly PhaseEvent[]): PhaseReport[] {
  const latest = new Map<RecordedPhase, PhaseEvent>();
  for (const e of events) latest.set(e.phase, e);
  const phases: RecordedPhase[] = [...PHASES, ...(latest.has('rollback') ? ['rollback' as const] : [])];
  return phases.map((phase) => {
    const e = latest.get(phase);
    return { phase, status: e?.outcome ?? 'not started', startedAt: e?.startedAt ?? null, finishedAt: e?.finishedAt ?? null, error: e?.error ?? null };
  });
}

export async function progressReport(db: Pool, run: Run, windowSeconds = RATE_WINDOW_SECONDS): Promise<ProgressReport> {
  const withWorkflows = run.options.workflows !== undefined;
  const [chunkStages, { now, timings }, summary, events, workflowCounts, producerAttached] = await Promise.all([
    stageProgress(db, run.id),
    stageTimings(db, run.id, windowSeconds),
    runSummary(db, run.id),
    phaseEvents(db, run.id),
    withWorkflows ? reportedWorkflowCounts(db, run.id) : Promise.resolve(null),
    producerAttachedTo(db, run),
  ]);
  const progress = workflowCounts ? [...chunkStages, workflowsStageProgress(workflowCounts)] : chunkStages;
  let stageStart = run.startedAt ? run.startedAt.getTime() / 1000 : null;
  const stages: StageReport[] = [];
  for (const stage of RUN_STAGES) {
    const p = progress.find((s) => s.stage === stage);
    if (!p) continue;
    const unit = unitOf(stage);
    const total = unit === 'records' ? p.records : p.chunks;
    const done = unit === 'records' ? p.doneRecords : p.done;
    const timing = timings.get(stage);
    // A run that stopped (failed, rolled back) moves no more: its unfinished stages have no rate.
    const { rate, etaSeconds } = run.status === 'running' || done >= total
      ? stageRate({ total, done }, timing, stageStart, now, windowSeconds) : { rate: 0, etaSeconds: null };
    stages.push({
      stage, unit, total, done, rejected: p.rejected,
      failed: stage === 'workflows' ? workflowCounts?.failed ?? 0 : p.failed,
      rate, etaSeconds, ledger: p,
    });
    if (timing?.lastDoneAt != null && total > 0 && done >= total) stageStart = Math.max(stageStart ?? 0, timing.lastDoneAt);
  }
  return {
    runId: run.id, status: run.status, producerAttached, stage: run.stage, error: run.error, legacyDir: run.legacyDir,
    createdAt: run.createdAt, startedAt: run.startedAt, finishedAt: run.finishedAt,
    stages, summary, overRejectLimit: runOverRejectLimit(run, summary), phases: phaseReports(events), at: new Date(now * 1000),
  };
}
