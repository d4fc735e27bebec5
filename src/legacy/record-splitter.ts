// Finds record boundaries in a legacy file without parsing the records: line ends for JSONL, unquoted
// line ends for CSV (RFC 4180 quoting, so a quoted newline stays inside its field), and top-level array
// elements for JSON. It is fed buffers incrementally, so a file of any size streams through it.
import type { LegacyFormat } from './kinds.js';
import { LegacyDataError } from './errors.js';

/**
 * One record: absolute byte offsets [start, end) and its 1-based line number, the name it goes by in
 * rejects, claims and verification. That is the line it starts on, except in a .json file whose records
 * share lines (a minified array): there each further record starting on a line takes the next number,
 * as though it began a line of its own, so every record keeps a name of its own and the names keep file
 * order. In a one-line array, record N is named N.
 */
export interface RecordSpan {
  start: number;
  end: number;
  line: number;
}

/** Records renumbered because they share a line with the record before them (.json only). */
export interface SharedLines {
  records: number;
  /** The first such record: the file's real line, and the number it goes by. */
  firstLine: number;
  firstNumber: number;
}

const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** A UTF-16 byte-order mark, or ASCII text with a NUL after (LE) or before (BE) each character. */
function looksUtf16(buf: Uint8Array): boolean {
  if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) return true;
  return buf.length >= 4 && ((buf[0] !== 0 && buf[1] === 0 && buf[3] === 0) || (buf[0] === 0 && buf[2] === 0 && buf[1] !== 0));
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === NL || b === CR;
}

// CSV quoting states.
const UNQUOTED = 0;
const QUOTED = 1;
const QUOTE_IN_QUOTED = 2; // saw '"' inside a quoted field: either an escaped quote or the field's end

export interface SplitterStart {
  /** Absolute offset of the first byte that will be pushed. */
  offset: number;
  /** Line number of that byte. */
  line: number;
  /** JSON only: the opening '[' has already been consumed (a chunk starts inside the array). */
  insideArray?: boolean;
  /**
   * JSON only: this reads a whole file, as planning, prepare and verify do (not one chunk of a file they
   * passed). So it must hold an array, and the array must end in it: a truncated file would lose every
   * record after the cut, and an empty one is what a failed export leaves.
   */
  wholeFile?: boolean;
  /**
   * Verify's reading of a run already planned: only the truncation check. The shapes refused since
   * 2026-11-24 (empty, UTF-16, a record without its comma) were planned by earlier versions, and a file
   * changed since planning is caught by its hash anyway.
   */
  asPlanned?: boolean;
}

export class RecordSplitter {
  private offset: number;
  /** The number the next record starting here would go by (the line, plus the records renumbered so far). */
  private line: number;
  /** The file's real line, for messages about the file's structure. */
  private fileLine: number;
  private recStart = -1;
  private recLine = 0;
  // CSV
  private quoteState = UNQUOTED;
  private atFieldStart = true;
  /** Absolute offset of an unquoted CR just seen (a CRLF may straddle two buffers), or -1. */
  private crAt = -1;
  // JSON
  private depth: number;
  private inString = false;
  private escaped = false;
  private arrayClosed = false;
  /** The number of the previous JSON element (0: none yet). */
  private lastRecLine = 0;
  private readonly wholeFile: boolean;
  /** Whole-file shapes refused (planning, prepare); not for a run already planned (see asPlanned). */
  private readonly strict: boolean;
  private shared: SharedLines | null = null;
  /** A JSON element ended and no comma has followed it yet. */
  private wantComma = false;
  /** JSONL: the previous buffer ended in a CR (is an LF next?). */
  private crPending = false;

  constructor(private readonly format: LegacyFormat, private readonly source: string, start: SplitterStart = { offset: 0, line: 1 }) {
    this.offset = start.offset;
    this.line = start.line;
    this.fileLine = start.line;
    this.depth = start.insideArray ? 1 : 0;
    this.wholeFile = start.wholeFile ?? false;
    this.strict = this.wholeFile && !start.asPlanned;
  }

  push(buf: Uint8Array, emit: (span: RecordSpan) => void): void {
    // A UTF-8 byte-order mark at the very start of a file is not part of any record.
    let from = 0;
    if (this.offset === 0 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) from = 3;
    if (this.offset === 0 && this.strict && this.format !== 'csv' && looksUtf16(buf)) {
      // Read as UTF-8 every record would be rejected for its NUL bytes (CSV headers are checked the same way).
      throw new LegacyDataError(`${this.source}:1: the file looks UTF-16 encoded (NUL bytes between its characters: PowerShell's Out-File, a "Unicode" export); save it as UTF-8`);
    }
    const part = from > 0 ? buf.subarray(from) : buf;
    this.offset += from;
    if (this.format === 'jsonl') {
      if (this.strict) this.refuseLoneCr(part);
      this.pushJsonl(part, emit);
    }
    else if (this.format === 'csv') this.pushCsv(part, emit);
    else this.pushJson(part, emit);
    this.offset += part.length;
  }

  /** Absolute start of a record begun but not yet ended, or -1. */
  get pendingStart(): number {
    return this.recStart;
  }

  /**
   * Where the file's structure breaks: file:line, as records are named; once records share lines (and
   * so are numbered, see RecordSpan), "line N of the file", which cannot be taken for a record's name.
   */
  private at(): string {
    return this.shared ? `${this.source} (line ${this.fileLine} of the file)` : `${this.source}:${this.fileLine}`;
  }

  /** The records so far that share a line with the one before them, or null (always null but for .json). */
  get sharedLines(): SharedLines | null {
    return this.shared;
  }

  /** Flushes a last record that has no line end. */
  end(emit: (span: RecordSpan) => void): void {
    if (this.format === 'json' && this.wholeFile && !this.arrayClosed) {
      if (this.depth > 0 || this.recStart >= 0) {
        throw new LegacyDataError(`${this.at()}: the file ends inside its JSON array (no closing ']'): is it truncated? Export it again`);
      }
      // Empty, or only whitespace: not an array, and what a failed export leaves behind.
      if (this.strict) throw new LegacyDataError(`${this.source}:1: the file holds no JSON array (it is empty or blank): is the export incomplete? A .json file with no records holds []`);
    }
    if (this.recStart >= 0) {
      emit({ start: this.recStart, end: this.offset, line: this.recLine });
      this.recStart = -1;
    }
  }

  /**
   * JSONL whose lines end in CR alone (classic Mac OS) would be one record: refused, as for CSV. A CR is
   * fine before an LF (CRLF), also when a buffer ends between the two.
   */
  private refuseLoneCr(buf: Uint8Array): void {
    if (this.crPending && buf.length > 0) {
      this.crPending = false;
      if (buf[0] !== NL) throw this.loneCr(buf, 0);
    }
    for (let i = buf.indexOf(CR); i >= 0; i = buf.indexOf(CR, i + 1)) {
      if (i === buf.length - 1) this.crPending = true;
      else if (buf[i + 1] !== NL) throw this.loneCr(buf, i);
    }
  }

  /** The refusal, at the line of buf[at] (this runs before pushJsonl has counted this buffer's lines). */
  private loneCr(buf: Uint8Array, at: number): LegacyDataError {
    let line = this.line;
    for (let i = buf.indexOf(NL); i >= 0 && i < at; i = buf.indexOf(NL, i + 1)) line++;
    return new LegacyDataError(`${this.source}:${line}: the file ends its lines with CR alone (classic Mac OS): convert it to LF or CRLF line ends`);
  }

  private pushJsonl(buf: Uint8Array, emit: (span: RecordSpan) => void): void {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      if (this.recStart < 0) {
        const b = buf[i]!;
        if (b === NL) { this.line++; i++; continue; }
        if (isSpace(b)) { i++; continue; }
        this.recStart = this.offset + i;
        this.recLine = this.line;
      }
      const nl = buf.indexOf(NL, i);
      if (nl < 0) return; // the record continues in the next buffer
      emit({ start: this.recStart, end: this.offset + nl, line: this.recLine });
      this.recStart = -1;
      this.line++;
      i = nl + 1;
    }
  }

  private pushCsv(buf: Uint8Array, emit: (span: RecordSpan) => void): void {
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      if (this.recStart < 0) {
        if (b === NL) { this.line++; continue; }
        if (b === CR) continue;
        this.recStart = this.offset + i;
        this.recLine = this.line;
        this.quoteState = UNQUOTED;
        this.atFieldStart = true;
      }
      if (this.quoteState === QUOTED) {
        if (b === QUOTE) this.quoteState = QUOTE_IN_QUOTED;
        else if (b === NL) this.line++;
        continue;
      }
      if (this.quoteState === QUOTE_IN_QUOTED) {
        if (b === QUOTE) { this.quoteState = QUOTED; continue; } // an escaped quote ("")
        this.quoteState = UNQUOTED; // the quoted field ended; read b as an unquoted byte
      }
      const at = this.offset + i;
      if (b === NL) {
        // The record ends before a CRLF's CR, wherever the buffers were cut.
        const end = this.crAt === at - 1 ? this.crAt : at;
        emit({ start: this.recStart, end, line: this.recLine });
        this.recStart = -1;
        this.line++;
      } else if (b === CR) {
        this.crAt = at;
      } else if (b === COMMA) {
        this.atFieldStart = true;
      } else if (b === QUOTE && this.atFieldStart) {
        this.quoteState = QUOTED;
        this.atFieldStart = false;
      } else {
        this.atFieldStart = false;
      }
    }
  }

  private pushJson(buf: Uint8Array, emit: (span: RecordSpan) => void): void {
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      if (b === NL) { this.line++; this.fileLine++; }
      if (this.recStart >= 0) {
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (b === BACKSLASH) this.escaped = true;
          else if (b === QUOTE) this.inString = false;
          continue;
        }
        if (this.depth > 1) {
          if (b === QUOTE) this.inString = true;
          else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth++;
          else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
            this.depth--;
            if (this.depth === 1) {
              emit({ start: this.recStart, end: this.offset + i + 1, line: this.recLine });
              this.recStart = -1;
              this.wantComma = true;
            }
          }
          continue;
        }
        // A primitive element at depth 1 (not an object): it ends at a separator.
        if (b === COMMA || b === CLOSE_BRACKET || isSpace(b)) {
          emit({ start: this.recStart, end: this.offset + i, line: this.recLine });
          this.recStart = -1;
          this.wantComma = b !== COMMA;
          if (b === CLOSE_BRACKET) { this.depth = 0; this.arrayClosed = true; }
        } else if (b === QUOTE) {
          this.inString = true;
        }
        continue;
      }
      if (isSpace(b)) continue;
      if (this.depth === 0) {
        if (this.arrayClosed) {
          throw new LegacyDataError(`${this.at()}: unexpected data after the end of the JSON array`);
        }
        if (b !== OPEN_BRACKET) {
          throw new LegacyDataError(`${this.at()}: a .json legacy file must hold one JSON array of records`);
        }
        this.depth = 1;
        continue;
      }
      if (b === COMMA) {
        if (!this.wantComma && this.strict) {
          // Not JSON (JSON.parse refuses it), and an exporter that wrote ",," may have dropped a record there.
          throw new LegacyDataError(`${this.at()}: an empty element in the JSON array (a comma ${this.lastRecLine > 0 ? 'right after another' : 'right after ['}): is a record missing? JSON arrays have none`);
        }
        this.wantComma = false;
        continue;
      }
      if (b === CLOSE_BRACKET) { this.depth = 0; this.arrayClosed = true; continue; }
      if (this.wantComma && this.strict) {
        // Not JSON: a record would be read that no JSON reader sees (the old check for this, two records
        // on one line, went with minified files; a chunk reader starts at a record, so it never wants one).
        throw new LegacyDataError(`${this.at()}: a record starts without a comma after the one before it (${this.source}:${this.lastRecLine}; bytes between records that are not JSON, or two arrays run together)`);
      }
      if (this.line === this.lastRecLine) {
        // A second record on this line: it takes the next number (see RecordSpan). A chunk reader,
        // started at its first record's number, counts the same way from there.
        this.line++;
        if (this.shared) this.shared.records++;
        else this.shared = { records: 1, firstLine: this.fileLine, firstNumber: this.line };
      }
      this.lastRecLine = this.line;
      this.recStart = this.offset + i;
      this.recLine = this.line;
      if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth = 2;
      else if (b === QUOTE) this.inString = true;
    }
  }
}
