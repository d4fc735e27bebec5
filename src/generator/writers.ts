// Format writers: legacy records as .json, .jsonl or .csv, each tracking the line every record starts
// on (the "where" of every reject), buffered and honouring stream backpressure.

import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { join } from 'node:path';
import { COLUMNS, type FieldValue, type Format, type Kind, type LegacyRecord } from './records.js';

/** Flush to the stream once this many UTF-16 units are buffered. */
const FLUSH_AT = 64 * 1024;

/** Buffered text output to one file; awaits 'drain' so memory stays flat however much is written. */
export class TextFile {
  private buffer = '';
  private readonly stream: WriteStream;
  private failure: Error | undefined;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path);
    // Kept until the next flush or close, which rethrow it: an unhandled 'error' would crash the process.
    this.stream.on('error', (error) => {
      this.failure = error;
    });
  }

  append(text: string): void {
    this.buffer += text;
  }

  get full(): boolean {
    return this.buffer.length >= FLUSH_AT;
  }

  async flush(): Promise<void> {
    this.throwIfFailed();
    if (this.buffer === '') return;
    const chunk = this.buffer;
    this.buffer = '';
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await finished(this.stream);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw new Error(`Could not write ${this.path}.`, { cause: this.failure });
  }
}

function countNewlines(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) count++;
  return count;
}

const NEEDS_QUOTES = /[",\n\r]|^\s|\s$/;

/** One RFC 4180 field; null and absent values are empty, lists are `;`-separated. */
export function csvField(value: FieldValue): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? value.join(';') : String(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const columnSets = new WeakMap<readonly string[], ReadonlySet<string>>();

/** One CSV row (without its terminator) of `record` in the order of `columns`. */
export function csvRow(columns: readonly string[], record: LegacyRecord): string {
  let known = columnSets.get(columns);
  if (!known) {
    known = new Set(columns);
    columnSets.set(columns, known);
  }
  // A field without a column would silently vanish from the CSV.
  for (const key in record) {
    if (!known.has(key)) throw new Error(`Field ${key} has no CSV column; add it to COLUMNS.`);
  }
  return columns.map((column) => csvField(record[column])).join(',');
}

export function fileName(kind: Kind, format: Format): string {
  return `${kind}.${format}`;
}

/**
 * Writes one legacy file. `.json` is an array with one element a line (`[`, then `{...},` lines, then
 * `]`), so an element's line is its line number; `.csv` starts with the header on line 1.
 */
export class LegacyFileWriter {
  readonly fileName: string;
  readonly file: TextFile;
  private readonly columns: readonly string[];
  private line: number;
  private written = 0;

  constructor(
    dir: string,
    kind: Kind,
    private readonly format: Format,
  ) {
    this.fileName = fileName(kind, format);
    this.file = new TextFile(join(dir, this.fileName));
    this.columns = COLUMNS[kind];
    if (format === 'csv') {
      this.file.append(`${this.columns.join(',')}\n`);
      this.line = 2;
    } else if (format === 'json') {
      this.file.append('[');
      this.line = 2;
    } else {
      this.line = 1;
    }
  }

  /** Records written so far, good or bad. */
  get count(): number {
    return this.written;
  }

  /** Writes a record and returns the line it starts on. */
  write(record: LegacyRecord): number {
    return this.writeRaw(this.format === 'csv' ? csvRow(this.columns, record) : JSON.stringify(record));
  }

  /** Writes text already in this file's format (used for malformed records); returns its line. */
  writeRaw(text: string): number {
    const line = this.line;
    if (this.format === 'json') {
      // Elements must stay on one line or the next element's line would be wrong.
      if (text.includes('\n')) throw new Error('A .json element must not span lines.');
      this.file.append(this.written === 0 ? `\n${text}` : `,\n${text}`);
      this.line += 1;
    } else if (this.format === 'jsonl') {
      if (text.includes('\n')) throw new Error('A .jsonl record must not span lines.');
      this.file.append(`${text}\n`);
      this.line += 1;
    } else {
      this.file.append(`${text}\n`);
      this.line += 1 + countNewlines(text);
    }
    this.written++;
    return line;
  }

  async close(): Promise<void> {
    if (this.format === 'json') this.file.append('\n]\n');
    await this.file.close();
  }
}
