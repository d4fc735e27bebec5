// Streams the records of one legacy file, parsed exactly as the workers parse them: the same record
// splitter and the same parseChunk, fed one read buffer at a time instead of one planned chunk. Only
// the bytes of a record still open at the end of a buffer are carried over, so memory stays flat;
// a record already past maxRecordBytes is not carried at all (it is rejected as oversized anyway).
import { createReadStream } from 'node:fs';
import { missingCsvHeader, parseCsvHeader } from '../legacy/chunk-scanner.js';
import { LegacyDataError } from '../legacy/errors.js';
import type { LegacyFile } from '../legacy/files.js';
import { parseChunk, type ChunkLocation, type RawRecord, type RecordReading } from '../legacy/read-chunk.js';
import { RecordSplitter, type RecordSpan, type SharedLines } from '../legacy/record-splitter.js';

const READ_BYTES = 1024 * 1024;

/**
 * The file's records, a read buffer's worth at a time, in file order. Throws LegacyDataError when the
 * file's structure is unreadable. `onSharedLines` hears, once the file is read, of records renumbered
 * because they share a line (a minified .json: see RecordSpan).
 */
export async function* streamLegacyRecords(
  file: LegacyFile, reading: RecordReading, readBytes = READ_BYTES, onSharedLines?: (shared: SharedLines) => void,
): AsyncGenerator<RawRecord[]> {
  const { maxRecordBytes } = reading;
  const splitter = new RecordSplitter(file.format, file.fileName, { offset: 0, line: 1, wholeFile: true });
  let header: string[] | null = null;
  let headerPending = file.format === 'csv';
  // Bytes from `windowStart` on that are still needed: the carried open record, then the new buffer.
  let carry: Buffer = Buffer.alloc(0);
  let carryStart = 0;
  let offset = 0;
  /** Start of an open record already too big to keep in memory (its bytes are dropped), or -1. */
  let droppedStart = -1;

  const parseSpans = (window: Buffer, windowStart: number, spans: RecordSpan[]): RawRecord[] => {
    const out: RawRecord[] = [];
    let kept: RecordSpan[] = [];
    const flush = (): void => {
      if (kept.length === 0) return;
      const loc: ChunkLocation = {
        path: file.path, fileName: file.fileName, format: file.format, byteStart: windowStart, byteEnd: windowStart + window.length,
        lineStart: kept[0]!.line, records: kept.length, sha256: '', header,
      };
      for (const record of parseChunk(window, kept, loc, reading)) out.push(record);
      kept = [];
    };
    for (const span of spans) {
      if (headerPending) {
        header = parseCsvHeader(window.subarray(span.start - windowStart, span.end - windowStart), file.fileName);
        headerPending = false;
        continue;
      }
      if (span.start < windowStart) {
        // A record whose bytes were dropped: it is oversized, said the way parseChunk says it.
        flush();
        out.push({ line: span.line, fields: null, error: `record is ${span.end - span.start} bytes, more than the ${maxRecordBytes}-byte limit (maxRecordBytes)` });
        continue;
      }
      kept.push(span);
    }
    flush();
    return out;
  };

  try {
    for await (const piece of createReadStream(file.path, { highWaterMark: readBytes }) as AsyncIterable<Buffer>) {
      const window = carry.length > 0 ? Buffer.concat([carry, piece]) : piece;
      const windowStart = carry.length > 0 ? carryStart : offset;
      const spans: RecordSpan[] = [];
      try {
        splitter.push(piece, (span) => spans.push(span));
      } catch (err) {
        // The file's structure breaks here: the records before the break still count.
        const before = parseSpans(window, windowStart, spans);
        if (before.length > 0) yield before;
        throw err;
      }
      offset += piece.length;
      const records = parseSpans(window, windowStart, spans);
      const pending = splitter.pendingStart;
      if (pending < 0) {
        carry = Buffer.alloc(0);
        droppedStart = -1;
      } else if (offset - pending > maxRecordBytes + 64 && !headerPending) {
        // Far past the limit: keep nothing of it; its end still comes from the splitter.
        carry = Buffer.alloc(0);
        droppedStart = pending;
      } else if (droppedStart !== pending) {
        carry = Buffer.from(window.subarray(pending - windowStart));
        carryStart = pending;
      }
      if (records.length > 0) yield records;
    }
    const spans: RecordSpan[] = [];
    splitter.end((span) => spans.push(span));
    const tail = parseSpans(carry, carry.length > 0 ? carryStart : offset, spans);
    if (tail.length > 0) yield tail;
  } catch (err) {
    if (err instanceof LegacyDataError) throw err;
    throw new LegacyDataError(`Cannot read legacy file ${file.path}: ${(err as Error).message}`, { cause: err });
  }
  if (headerPending) throw missingCsvHeader(file);
  const shared = splitter.sharedLines;
  if (shared) onSharedLines?.(shared);
}
