// Reads one planned chunk back from its legacy file and parses its records, each with its line.
// The chunk's bytes must hash to what the planner saw: a file changed since planning is refused.
import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import { parse as parseCsv } from 'csv-parse/sync';
import { hashRecords } from './chunk-scanner.js';
import { duplicateTopLevelKeys } from './duplicate-keys.js';
import { LegacyDataError } from './errors.js';
import type { LegacyFormat } from './kinds.js';
import { setOwn } from './normalize.js';
import { RecordSplitter, type RecordSpan } from './record-splitter.js';
import { exactMembers, type ExactValue } from './exact-numbers.js';

export interface ChunkLocation {
  path: string;
  fileName: string;
  format: LegacyFormat;
  byteStart: number;
  byteEnd: number;
  lineStart: number;
  records: number;
  sha256: string;
  header: string[] | null;
}

/** How records are read (the mapping's settings: a LegacyMapping is one). */
export interface RecordReading {
  maxRecordBytes: number;
  /** CSV field texts that mean no value, besides the empty field (the mapping's nullText). */
  nullText?: readonly string[];
  /** JSON: name the members a record holds twice (prepare's warning; JSON.parse keeps the last). */
  findDuplicateKeys?: boolean;
}

/** A parsed legacy record: its fields as found in the file, or why it could not be parsed. */
export type RawRecord =
  | {
    line: number; fields: Record<string, unknown>; error: null; duplicateKeys?: string[];
    /** JSON: the members holding a number a double changes, re-read as written (exact-numbers.ts); normalize reads these. */
    exactNumbers?: ReadonlyMap<string, ExactValue>;
  }
  | { line: number; fields: null; error: string };

export async function readChunkBytes(loc: ChunkLocation): Promise<Buffer> {
  const handle = await open(loc.path, 'r').catch((err: unknown) => {
    throw new LegacyDataError(`Cannot open legacy file ${loc.path}: ${(err as Error).message}`, { cause: err });
  });
  try {
    const length = loc.byteEnd - loc.byteStart;
    const buf = Buffer.allocUnsafe(length);
    let read = 0;
    while (read < length) {
      const { bytesRead } = await handle.read(buf, read, length - read, loc.byteStart + read);
      if (bytesRead === 0) throw new LegacyDataError(`Legacy file ${loc.path} is shorter than when the run was planned`);
      read += bytesRead;
    }
    return buf;
  } finally {
    await handle.close();
  }
}

export function splitChunk(buf: Buffer, loc: ChunkLocation): RecordSpan[] {
  const spans: RecordSpan[] = [];
  const splitter = new RecordSplitter(loc.format, loc.fileName, { offset: loc.byteStart, line: loc.lineStart, insideArray: true });
  const emit = (span: RecordSpan): void => {
    spans.push(span);
  };
  splitter.push(buf, emit);
  splitter.end(emit);
  if (spans.length !== loc.records || hashRecords(buf, spans, loc.byteStart) !== loc.sha256) {
    throw new LegacyDataError(
      `${loc.fileName}:${loc.lineStart}: the file changed since the run was planned (chunk hash or record count differs); plan a new run`,
    );
  }
  return spans;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** Only records with accents fail, so say what the file likely is (Excel's plain "CSV" is Windows-1252). */
export const NOT_UTF8 = 'record is not valid UTF-8 (a Latin-1 or Windows-1252 export? convert the file, e.g. iconv -f windows-1252 -t utf-8)';

/**
 * Parses the records of a chunk. Records that cannot be parsed come back with an error, not thrown.
 * One string and one JSON.parse per record: on a chunk of 5000 task records (3 MB, non-ASCII text) that
 * is half the CPU of joining them into one array and parsing it once (28 ms against 60 ms here): V8
 * decodes and parses many small strings faster than one large two-byte string.
 */
export function parseChunk(buf: Buffer, spans: readonly RecordSpan[], loc: ChunkLocation, reading: RecordReading): RawRecord[] {
  const { maxRecordBytes } = reading;
  const allUtf8 = isUtf8(buf);
  const texts: (string | RawRecord)[] = spans.map((span) => {
    let start = span.start - loc.byteStart;
    const end = span.end - loc.byteStart;
    if (span.start === 0 && buf.subarray(0, 3).equals(BOM)) start += 3;
    if (end - start > maxRecordBytes) {
      return { line: span.line, fields: null, error: `record is ${end - start} bytes, more than the ${maxRecordBytes}-byte limit (maxRecordBytes)` };
    }
    if (!allUtf8 && !isUtf8(buf.subarray(start, end))) return { line: span.line, fields: null, error: NOT_UTF8 };
    return buf.toString('utf8', start, end);
  });
  if (loc.format === 'csv') return parseCsvRecords(texts, spans, loc, reading.nullText);
  const records = texts.map((text, i) => (typeof text === 'string' ? parseJsonRecord(text, spans[i]!.line) : text));
  if (reading.findDuplicateKeys) {
    records.forEach((record, i) => {
      const text = texts[i];
      if (record.error !== null || typeof text !== 'string') return;
      const twice = duplicateTopLevelKeys(text, Object.keys(record.fields).length);
      if (twice.length > 0) record.duplicateKeys = twice;
    });
  }
  return records;
}

function parseJsonRecord(text: string, line: number): RawRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { line, fields: null, error: `not valid JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { line, fields: null, error: 'record is not a JSON object' };
  }
  const exactNumbers = exactMembers(text);
  return exactNumbers ? { line, fields: value as Record<string, unknown>, error: null, exactNumbers } : { line, fields: value as Record<string, unknown>, error: null };
}

/** One record's text as csv-parse reads it (a row of another length is its own reject, not a parse error). */
const CSV_RECORD = { relax_column_count: true, relax_quotes: false } as const;

/** The error csv-parse gives for `text`, if any. */
function csvError(text: string): unknown {
  try {
    parseCsv(text, CSV_RECORD);
    return undefined;
  } catch (err) {
    return err;
  }
}

function parseCsvRecords(texts: readonly (string | RawRecord)[], spans: readonly RecordSpan[], loc: ChunkLocation, nullText?: readonly string[]): RawRecord[] {
  const header = loc.header;
  const nulls = nullText && nullText.length > 0 ? new Set(nullText) : null;
  if (!header) throw new LegacyDataError(`${loc.fileName}: a CSV chunk was planned without its header`);
  return texts.map((text, i) => {
    const line = spans[i]!.line;
    if (typeof text !== 'string') return text;
    let rows: string[][];
    try {
      rows = parseCsv(text, CSV_RECORD);
    } catch (thrown) {
      // csv-parse counts a CRLF inside quotes as two lines: the same text with LF line ends locates it.
      const err = text.includes('\r\n') ? csvError(text.replaceAll('\r\n', '\n')) ?? thrown : thrown;
      // csv-parse counts lines from the record's first; the file's line numbers are what a person opens.
      const message = (err as Error).message.replace(/\bat line (\d+)/g, (_m, n: string) => `at line ${line + Number(n) - 1}`);
      // A quote never closed makes the rest of the file one record: say so, or the lines after it seem lost.
      const lines = text.replace(/\r?\n$/, '').split('\n').length;
      const hint = (err as { code?: string }).code === 'CSV_QUOTE_NOT_CLOSED' && lines > 1
        ? ` (a quote opened on line ${line} is never closed, so lines ${line}-${line + lines - 1} were read as this one record)` : '';
      return { line, fields: null, error: `not a valid CSV record: ${message}${hint}` };
    }
    const row = rows[0];
    if (rows.length !== 1 || !row) return { line, fields: null, error: 'not a single CSV record' };
    if (row.every((value) => value.trim() === '')) {
      return { line, fields: null, error: 'the row is empty (only separators: a spreadsheet leaves such rows after its data; delete them)' };
    }
    if (row.length !== header.length) {
      return { line, fields: null, error: `has ${row.length} fields, the header has ${header.length}` };
    }
    const fields: Record<string, unknown> = {};
    for (let c = 0; c < header.length; c++) {
      const value = row[c]!;
      setOwn(fields, header[c]!, value === '' || nulls?.has(value) ? null : value);
    }
    return { line, fields, error: null };
  });
}
