// A run's reject limit (migrate --max-rejects, stored with the run). A run over it has every record
// accounted for, so its status stays 'completed'; what the limit fails is the command (exit 3), and
// status, the API and follow say so next to the status.
import { counted } from '../counted.js';
import type { Run } from './runs.js';
import type { KindSummary } from './summary.js';

export interface RejectLimitBreach {
  rejected: number;
  limit: number;
}

/** The breach, when more records were rejected than `limit` allows (null/undefined: no limit). */
export function rejectLimitBreach(summary: readonly KindSummary[], limit: number | null | undefined): RejectLimitBreach | null {
  const rejected = summary.reduce((n, k) => n + k.rejected, 0);
  return limit !== null && limit !== undefined && rejected > limit ? { rejected, limit } : null;
}

/** A completed run's breach of its own limit (what status and the API report); null for any other run. */
export function runOverRejectLimit(run: Pick<Run, 'status' | 'options'>, summary: readonly KindSummary[]): RejectLimitBreach | null {
  return run.status === 'completed' ? rejectLimitBreach(summary, run.options.maxRejects) : null;
}

export function describeBreach(runId: string, breach: RejectLimitBreach): string {
  return `${counted(breach.rejected, 'record was', 'records were')} rejected, more than --max-rejects ${breach.limit}: see \`taskfleet rejects ${runId}\``;
}
