// The verify phase's own reading of a legacy file: streams it from the first byte to the last, splits
// its records (the same splitter and parser the migration uses, so "a record" means the same thing) and
// hands them over in batches, while hashing the file and counting its records. It uses nothing the
// migration wrote down (no chunk boundaries, hashes or headers from the ledger). Memory is bounded by
// one read buffer plus the longest record, whatever the file size.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parseCsvHeader } from '../legacy/chunk-scanner.js';
import type { LegacyFile } from '../legacy/files.js';
import { parseChunk, type ChunkLocation, type RawRecord, type RecordReading } from '../legacy/read-chunk.js';
import { RecordSplitter, type RecordSpan } from '../legacy/record-splitter.js';

const READ_BYTES = 1024 * 1024;

/** Filled in as the file is read; final once the batches are exhausted. */
export interface LegacyFileTotals {
  records: number;
  sha256: string;
}

export async function* readLegacyRecords(file: LegacyFile, reading: RecordReading, totals: LegacyFileTotals): AsyncGenerator<RawRecord[]> {
  const splitter = new RecordSplitter(file.format, file.fileName, { offset: 0, line: 1, wholeFile: true, asPlanned: true });
  const hash = createHash('sha256');
  let header: string[] | null = null;
  // Bytes from the start of a record not yet complete, and their offset in the file.
  let carry: Buffer = Buffer.alloc(0);
  let carryOffset = 0;

  const parse = (buf: Buffer, bufOffset: number, spans: RecordSpan[]): RawRecord[] => {
    if (file.format === 'csv' && header === null && spans.length > 0) {
      const first = spans.shift()!;
      header = parseCsvHeader(buf.subarray(first.start - bufOffset, first.end - bufOffset), file.fileName, { asPlanned: true });
    }
    if (spans.length === 0) return [];
    totals.records += spans.length;
    const loc: ChunkLocation = {
      path: file.path, fileName: file.fileName, format: file.format, byteStart: bufOffset, byteEnd: bufOffset + buf.length,
      lineStart: spans[0]!.line, records: spans.length, sha256: '', header,
    };
    return parseChunk(buf, spans, loc, reading);
  };

  for await (const piece of createReadStream(file.path, { highWaterMark: READ_BYTES }) as AsyncIterable<Buffer>) {
    hash.update(piece);
    const spans: RecordSpan[] = [];
    splitter.push(piece, (span) => spans.push(span));
    const buf = carry.length > 0 ? Buffer.concat([carry, piece]) : piece;
    const bufOffset = carryOffset;
    const records = parse(buf, bufOffset, spans);
    if (records.length > 0) yield records;
    const pending = splitter.pendingStart;
    const keepFrom = pending >= 0 ? pending : bufOffset + buf.length;
    carry = Buffer.from(buf.subarray(keepFrom - bufOffset));
    carryOffset = keepFrom;
  }
  const last: RecordSpan[] = [];
  splitter.end((span) => last.push(span));
  const records = parse(carry, carryOffset, last);
  if (records.length > 0) yield records;
  totals.sha256 = hash.digest('hex');
}
