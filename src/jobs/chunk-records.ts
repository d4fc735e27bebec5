// Reads a chunk's records back from its legacy file, exactly as planned (hash-checked).
import type { Chunk } from '../ledger/chunks.js';
import { LegacyDataError } from '../legacy/errors.js';
import { parseChunk, readChunkBytes, splitChunk, type RawRecord } from '../legacy/read-chunk.js';
import type { RunFile } from '../ledger/runs.js';
import { PermanentJobError } from './errors.js';
import type { RunContext } from './run-context.js';

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
