// A run's progress, stage by stage: the chunk stages from ledger.chunks, then the workflows stage
// (on-migrate workflows of the run, and how many have a final result) when the run has workflows.
import type { Pool, PoolClient } from '../store/pool.js';
import { stageProgress, type StageProgress } from './chunks.js';
import { workflowStageCounts, type WorkflowStageCounts } from './workflow-runs.js';

export function workflowsStageProgress(counts: WorkflowStageCounts): StageProgress {
  return {
    stage: 'workflows', chunks: counts.total, done: counts.done, failed: 0, records: counts.total, doneRecords: counts.done,
    legacyRecords: 0, migrated: 0, rejected: 0,
  };
}

/**
 * Every stage's progress as the producer driving the run sees it (live workflow counts; a report of a
 * finished run reads the recorded ones: progress-report.ts); `withWorkflows`: the run creates workflows.
 */
export async function runProgress(db: Pool | PoolClient, runId: string, withWorkflows: boolean): Promise<StageProgress[]> {
  const stages = await stageProgress(db, runId);
  if (!withWorkflows) return stages;
  return [...stages, workflowsStageProgress(await workflowStageCounts(db, runId))];
}
