// A job's chunk from the ledger, and its records read back from its legacy file, exactly as planned
// (hash-checked).
import { getChunk, type Chunk, type ChunkLock } from '../ledger/chunks.js';
import { LegacyDataError } from '../legacy/errors.js';
import { parseChunk, readChunkBytes, splitChunk, type RawRecord } from '../legacy/read-chunk.js';
import type { RunFile } from '../ledger/runs.js';
import type { ChunkJobResult, JobContext } from './context.js';
import { notInLedger, PermanentJobError } from './errors.js';
import type { ChunkJobPayload } from './payload.js';
import type { RunContext } from './run-context.js';

/** What a chunk job that has nothing to do returns. */
export const SKIPPED: ChunkJobResult = { skipped: true, migrated: 0, rejected: 0 };

/**
 * The job's chunk as planned, or null when the job has nothing to do: the chunk is done already, or the
 * run was rolled back (its jobs left in the queue are dropped, not run). A chunk this worker's ledger
 * lacks is a permanent failure (see notInLedger).
 */
export async function plannedChunk(ctx: JobContext, { runId, stage, chunkNo }: ChunkJobPayload): Promise<Chunk | null> {
  const chunk = await getChunk(ctx.db, runId, stage, chunkNo);
  if (!chunk) throw new PermanentJobError(notInLedger(`Chunk ${stage} #${chunkNo} of run ${runId}`));
  if (chunk.status === 'done') return null;
  if (chunk.runStatus === 'rolled_back') {
    logDropped(ctx, runId);
    return null;
  }
  return chunk;
}

/**
 * Whether the chunk transaction, having taken the chunk's lock (lockChunk), has nothing to do: another
 * delivery did the chunk meanwhile, or a rollback of the run committed meanwhile.
 */
export function nothingToDo(ctx: JobContext, runId: string, lock: ChunkLock | null): boolean {
  if (lock?.run === 'rolled_back') {
    logDropped(ctx, runId);
    return true;
  }
  return lock?.chunk === 'done';
}

function logDropped(ctx: JobContext, runId: string): void {
  ctx.logger.info({ runId }, `Run ${runId} was rolled back: its job is dropped, nothing is written`);
}

export async function readChunkRecords(run: RunContext, chunk: Chunk, file: RunFile): Promise<RawRecord[]> {
  const loc = {
    path: run.pathOf(file.fileName), fileName: file.fileName, format: file.format, byteStart: chunk.byteStart,
    byteEnd: chunk.byteEnd, lineStart: chunk.lineStart, records: chunk.records, sha256: chunk.sha256 ?? '', header: file.header,
  };
  try {
    const buf = await readChunkBytes(loc);
    return parseChunk(buf, splitChunk(buf, loc), loc, run.mapping);
  } catch (err) {
    // A missing or changed file will not fix itself by retrying.
    if (err instanceof LegacyDataError) throw new PermanentJobError(err.message, { cause: err });
    throw err;
  }
}
