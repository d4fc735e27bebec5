// The one payload every chunk job carries: a reference into the ledger, never the records themselves
// (jobs stay tiny, so Redis memory does not grow with the data).
import { z } from 'zod';
import { STAGES } from '../legacy/kinds.js';
import { RUN_ID_PATTERN } from '../ledger/runs.js';

export const chunkJobPayload = z.object({
  runId: z.string().regex(RUN_ID_PATTERN),
  stage: z.enum(STAGES),
  chunkNo: z.number().int().min(0),
});

export type ChunkJobPayload = z.infer<typeof chunkJobPayload>;

/**
 * Deterministic BullMQ job id (no ':' and never all digits, as BullMQ requires). `queueToken` is the
 * run's token from the ledger, so the same chunk always gets the same id within one ledger.
 */
export function chunkJobId(p: ChunkJobPayload, queueToken: string): string {
  return `${p.runId}.${queueToken}.${p.stage}.${p.chunkNo}`;
}

/** A `workflows` stage job: run one task's workflow for a run (again, a reference into the ledger). */
export const workflowJobPayload = z.object({
  runId: z.string().regex(RUN_ID_PATTERN),
  workflowId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a workflow uuid'),
});

export type WorkflowJobPayload = z.infer<typeof workflowJobPayload>;

/** Deterministic job id of a workflow run within a run (same scheme as chunkJobId). */
export function workflowJobId(p: WorkflowJobPayload, queueToken: string): string {
  return `${p.runId}.${queueToken}.wf.${p.workflowId}`;
}
