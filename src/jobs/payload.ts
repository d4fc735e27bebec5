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
