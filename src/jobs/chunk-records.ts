// A job's chunk from the ledger, and its records read back from its legacy file, exactly as planned
// (hash-checked).
import { getChunk, type Chunk } from '../ledger/chunks.js';
import { LegacyDataError } from '../legacy/errors.js';
import { parseChunk, readChunkBytes, splitChunk, type RawRecord } from '../legacy/read-chunk.js';
import type { RunFile } from '../ledger/runs.js';
import type { JobContext } from './context.js';
import { notInLedger, PermanentJobError } from './errors.js';
import type { ChunkJobPayload } from './payload.js';
import type { RunContext } from './run-context.js';

/** The job's chunk as planned; a chunk this worker's ledger lacks is a permanent failure (see notInLedger). */
export async function plannedChunk(ctx: JobContext, { runId, stage, chunkNo }: ChunkJobPayload): Promise<Chunk> {
  const chunk = await getChunk(ctx.db, runId, stage, chunkNo);
  if (!chunk) throw new PermanentJobError(notInLedger(`Chunk ${stage} #${chunkNo} of run ${runId}`));
  return chunk;
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
