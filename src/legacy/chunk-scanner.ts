// Plans a legacy file into chunks: streams it once, splitting records (record-splitter) and closing a
// chunk every `chunkSize` records or `chunkMaxBytes` bytes. It hashes the whole file, and each chunk's
// record bytes (separators excluded), so a worker can prove it reads exactly what was planned.
// Memory stays flat whatever the file size.
import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { parse as parseCsv } from 'csv-parse/sync';
import { LegacyDataError } from './errors.js';
import type { LegacyFile } from './files.js';
import { RecordSplitter, type RecordSpan } from './record-splitter.js';

export interface ChunkSpan {
  byteStart: number;
  byteEnd: number;
  lineStart: number;
  lineEnd: number;
  records: number;
  sha256: string;
  /** The chunk's first and last record bytes (null when a record straddles read buffers). */
  firstRecord: Buffer | null;
  lastRecord: Buffer | null;
}

export interface FileScan {
  records: number;
  sha256: string;
  /** CSV only: the header row's column names. */
  header: string[] | null;
}

export interface ChunkLimits {
  chunkSize: number;
  chunkMaxBytes: number;
}

const ID_SAMPLE_BYTES = 64 * 1024;
const CR_BYTE = Buffer.from([0x0d]);
const READ_BYTES = 1024 * 1024;

interface OpenChunk {
  start: number;
  lineStart: number;
  records: number;
  hash: Hash;
  first: Buffer | null;
}

/** The hash both sides compute for a chunk: sha256 over its records' bytes, in order. */
export function hashRecords(buf: Buffer, spans: readonly RecordSpan[], bufOffset: number): string {
  const hash = createHash('sha256');
  for (const span of spans) hash.update(buf.subarray(span.start - bufOffset, span.end - bufOffset));
  return hash.digest('hex');
}

export async function scanLegacyFile(
  file: LegacyFile,
  limits: ChunkLimits,
  onChunk: (chunk: ChunkSpan, header: string[] | null) => Promise<void> | void,
): Promise<FileScan> {
  const splitter = new RecordSplitter(file.format, file.fileName, { offset: 0, line: 1, wholeFile: true });
  const fileHash = createHash('sha256');
  const expectHeader = file.format === 'csv';
  let header: string[] | null = null;
  const headerParts: Buffer[] = [];
  let total = 0;
  let cur: OpenChunk | null = null;
  const ready: ChunkSpan[] = [];
  let buf: Buffer = Buffer.alloc(0);
  let bufOffset = 0;

  const sample = (span: RecordSpan): Buffer | null =>
    span.start >= bufOffset && span.end - span.start <= ID_SAMPLE_BYTES
      ? Buffer.from(buf.subarray(span.start - bufOffset, span.end - bufOffset))
      : null;
  // The part of [from, to) that lies in the current buffer.
  const inBuffer = (from: number, to: number): Buffer => buf.subarray(Math.max(from, bufOffset) - bufOffset, Math.max(to - bufOffset, 0));
  // A CR ending a buffer inside a pending record is held back: if an LF follows, it is not part of
  // the record (CRLF); otherwise it is, and is hashed in front of the record's next bytes.
  let heldCr = -1;
  const hashPart = (hash: Hash, from: number, to: number): void => {
    if (heldCr >= 0 && heldCr >= from && heldCr < to) hash.update(CR_BYTE);
    hash.update(inBuffer(from, to));
  };

  const onRecord = (span: RecordSpan): void => {
    if (expectHeader && header === null) {
      headerParts.push(Buffer.from(inBuffer(span.start, span.end)));
      header = parseCsvHeader(Buffer.concat(headerParts), file.fileName);
      return;
    }
    cur ??= { start: span.start, lineStart: span.line, records: 0, hash: createHash('sha256'), first: null };
    hashPart(cur.hash, span.start, span.end);
    if (cur.records === 0) {
      cur.lineStart = span.line;
      cur.first = sample(span);
    }
    cur.records++;
    total++;
    if (cur.records >= limits.chunkSize || span.end - cur.start >= limits.chunkMaxBytes) closeChunk(span, sample(span));
  };
  // The latest record and the buffer holding it (a reference, no copy), to sample a final chunk's last record.
  const latest: { span: RecordSpan | null; buf: Buffer; bufOffset: number } = { span: null, buf, bufOffset: 0 };
  const track = (span: RecordSpan): void => {
    onRecord(span);
    latest.span = span;
    latest.buf = buf;
    latest.bufOffset = bufOffset;
  };
  const closeChunk = (last: RecordSpan, lastRecord: Buffer | null): void => {
    if (!cur) return;
    ready.push({
      byteStart: cur.start, byteEnd: last.end, lineStart: cur.lineStart, lineEnd: last.line, records: cur.records,
      sha256: cur.hash.digest('hex'), firstRecord: cur.first, lastRecord,
    });
    cur = null;
  };

  let callerFailed = false;
  let handle: FileHandle | null = null;
  try {
    // One read buffer for the whole file, not a fresh 1 MB Buffer per read: dead Buffers are memory
    // outside V8's heap, and tens of MB of them piled up between collections in the producer's RSS.
    // Nothing keeps a view of it across reads (samples are copies; `latest` is read only after the
    // last non-empty read, which a final empty read does not overwrite).
    handle = await openFile(file.path, 'r');
    const block = Buffer.allocUnsafe(READ_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(block, 0, block.length, null);
      if (bytesRead === 0) break;
      buf = block.subarray(0, bytesRead);
      fileHash.update(buf);
      splitter.push(buf, track);
      // A record still open at the end of this buffer: keep the bytes it has so far.
      const pending = splitter.pendingStart;
      let nextHeldCr = -1;
      if (pending >= 0) {
        const bufEnd = bufOffset + buf.length;
        if (expectHeader && header === null) headerParts.push(Buffer.from(inBuffer(pending, bufEnd)));
        else {
          cur ??= { start: pending, lineStart: 0, records: 0, hash: createHash('sha256'), first: null };
          const endsWithCr = buf[buf.length - 1] === 0x0d && bufEnd - 1 >= pending;
          hashPart(cur.hash, pending, endsWithCr ? bufEnd - 1 : bufEnd);
          if (endsWithCr) nextHeldCr = bufEnd - 1;
        }
      }
      heldCr = nextHeldCr;
      bufOffset += buf.length;
      callerFailed = true; // an error from here on is the caller's, not a read error
      for (const chunk of ready.splice(0)) await onChunk(chunk, header);
      callerFailed = false;
    }
  } catch (err) {
    if (err instanceof LegacyDataError || callerFailed) throw err;
    throw new LegacyDataError(`Cannot read legacy file ${file.path}: ${(err as Error).message}`, { cause: err });
  } finally {
    await handle?.close();
  }
  buf = Buffer.alloc(0);
  splitter.end(track);
  // TypeScript narrows the closure-assigned `cur` to its initial null; read it as declared.
  const open: OpenChunk | null = cur;
  const last = latest.span;
  const within = last !== null && last.start >= latest.bufOffset && last.end - latest.bufOffset <= latest.buf.length;
  const lastSample = last && within && last.end - last.start <= ID_SAMPLE_BYTES
    ? Buffer.from(latest.buf.subarray(last.start - latest.bufOffset, last.end - latest.bufOffset))
    : null;
  if (last && open?.records) closeChunk(last, lastSample);
  for (const chunk of ready.splice(0)) await onChunk(chunk, header);
  if (expectHeader && header === null) throw missingCsvHeader(file);
  return { records: total, sha256: fileHash.digest('hex'), header };
}

/** A CSV file in which no header row was found: empty (what a failed export leaves), or blank lines only. */
export function missingCsvHeader(file: Pick<LegacyFile, 'fileName' | 'bytes'>): LegacyDataError {
  return new LegacyDataError(file.bytes === 0
    ? `${file.fileName}:1: the file is empty: is the export incomplete? A CSV file with no records holds its header row`
    : `${file.fileName}:1: the file holds no CSV header row (only blank lines or a byte-order mark): is the export incomplete? A CSV file with no records holds its header row`);
}

/** `asPlanned`: verify's reading of a planned run, which skips the refusals added since (see SplitterStart). */
export function parseCsvHeader(bytes: Buffer, fileName: string, opts: { asPlanned?: boolean } = {}): string[] {
  // The header is stored with the run and names every field: an encoding the records would only be
  // rejected for (one by one) is refused here, once, with what to do about it.
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff) || bytes.includes(0)) {
    throw new LegacyDataError(`${fileName}:1: the CSV header holds NUL bytes: the file looks UTF-16 encoded (a "Unicode text" export); save it as UTF-8`);
  }
  if (!isUtf8(bytes)) {
    throw new LegacyDataError(`${fileName}:1: the CSV header is not valid UTF-8 (Latin-1 or Windows-1252?); convert the file to UTF-8`);
  }
  const cr = bytes.indexOf(0x0d);
  if (cr >= 0 && bytes[cr + 1] !== 0x0a && cr !== bytes.length - 1) {
    throw new LegacyDataError(`${fileName}:1: the file ends its lines with CR alone (classic Mac OS): convert it to LF or CRLF line ends`);
  }
  let rows: string[][];
  try {
    rows = parseCsv(bytes, { relax_column_count: true, bom: true });
  } catch (err) {
    // "id";"name": quoted names with semicolons between them read as a quote closed too early.
    const quotedSemicolons = /^"[^"\n]*";"/.test(bytes.toString('utf8', 0, 200).replace(/^\uFEFF/, ''));
    const hint = quotedSemicolons && !opts.asPlanned ? ': the file looks separated by semicolons (a European Excel export); taskfleet reads comma-separated CSV (RFC 4180): export it with commas' : '';
    throw new LegacyDataError(`${fileName}:1: the CSV header row cannot be parsed${hint || `: ${(err as Error).message}`}`, { cause: err });
  }
  const names = rows[0]?.map((name) => name.trim()) ?? [];
  if (names.length === 0 || names.some((name) => name === '')) {
    // pandas' to_csv writes its index as a first column with no name, unless told index=False.
    const index = names.length > 1 && names[0] === '' ? ' (the first column has no name: a pandas index? export with index=False)' : '';
    throw new LegacyDataError(`${fileName}:1: the CSV header row has an empty column name${index}`);
  }
  const separator = names.length === 1 && !opts.asPlanned ? [';', '\t', '|'].find((s) => names[0]!.includes(s)) : undefined;
  if (separator) {
    // Every record would be rejected as one field each: refuse the file once, saying why.
    const what = separator === ';' ? 'semicolons (a European Excel export)' : separator === '\t' ? 'tabs' : 'vertical bars';
    throw new LegacyDataError(`${fileName}:1: the header is one column, "${names[0]!.slice(0, 60)}": the file looks separated by ${what}; taskfleet reads comma-separated CSV (RFC 4180): export it with commas`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new LegacyDataError(`${fileName}:1: the CSV header names column "${name}" twice`);
    seen.add(name);
  }
  return names;
}
