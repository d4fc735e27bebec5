// JSON.parse reads every number as a double, so a number with more than 15 significant digits comes back
// changed (123456789.123456789 reads as 123456789.12345679, a 64-bit id 1234567890123456789 as
// 1234567890123456800), and it would land rounded without a word. For the rare record whose text may hold
// such a number, this re-reads each top-level member that holds one, keeping the number as written
// (an ExactDecimal): normalize reads it in numeric fields (estimate_hours, position) and in legacy_extra,
// which stores it as written (copy-text.ts). An id or another text field keeps JSON's reading (an id
// beyond 2^53 stays a reject).
import { canonicalDecimal } from './canonical-values.js';
import { jsonStringEnd } from './json-string-end.js';

/** A JSON number as written, where a double would change it. */
export class ExactDecimal {
  /** `text`: the number as written; `canonical`: as Postgres prints it (null: an exponent beyond ±1000). */
  constructor(readonly text: string, readonly canonical: string | null) {}
}

/** A member's value re-read: a number as written, or an array or object holding one somewhere. */
export type ExactValue = ExactDecimal | unknown[] | Record<string, unknown>;

/**
 * A record holding no value (after ':', '[' or ',') of 16 digits (a dot among them) or with a 3-digit
 * exponent holds no number a double changes (about 1 µs a record). Text in a string may match too: that
 * only costs the scan below.
 */
const MAY_HOLD_LONG_NUMBER = /[:,[]\s*-?\d(?:[\d.]{15}|[\d.]*[eE][+-]?\d{3})/;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const QUOTE = 0x22;
const OPEN_OBJECT = 0x7b, OPEN_ARRAY = 0x5b, CLOSE_OBJECT = 0x7d, CLOSE_ARRAY = 0x5d;

/** Each top-level member of `text` (a JSON object) whose value JSON.parse changes, re-read exactly; null if none. */
export function exactMembers(text: string): Map<string, ExactValue> | null {
  if (!MAY_HOLD_LONG_NUMBER.test(text)) return null;
  let found: Map<string, ExactValue> | null = null;
  let depth = 0;
  let name: string | null = null;
  let expectName = false;
  let expectValue = false;
  /** Where the current member's array or object value starts (-1: none). */
  let nestedStart = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      i = jsonStringEnd(text, start);
      if (i < 0) break;
      if (depth === 1 && expectName) name = JSON.parse(text.slice(start, i + 1)) as string;
      expectName = false;
      expectValue = false;
    } else if (c === 0x3a && depth === 1) { // ':'
      // A member's value starts: it replaces an earlier one of the same name, as in JSON.parse.
      if (name !== null) found?.delete(name);
      expectValue = name !== null;
    } else if (expectValue && (c === 0x2d || (c >= 0x30 && c <= 0x39))) { // '-' or a digit
      NUMBER.lastIndex = i;
      const token = NUMBER.exec(text)?.[0];
      if (token) {
        const exact = exactDecimal(token);
        if (name !== null && exact) (found ??= new Map()).set(name, exact);
        i += token.length - 1;
      }
      expectValue = false;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (expectValue && depth === 1) nestedStart = i;
      depth++;
      expectName = depth === 1 && c === OPEN_OBJECT;
      expectValue = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
      if (depth === 1 && nestedStart >= 0) {
        const nested = text.slice(nestedStart, i + 1);
        const value = name !== null && MAY_HOLD_LONG_NUMBER.test(nested) ? readExact(nested) : null;
        if (value !== null) (found ??= new Map()).set(name!, value);
        nestedStart = -1;
      }
    } else if (c === 0x2c && depth === 1) { // ','
      expectName = true;
      expectValue = false;
      name = null;
    } else if (c > 0x20 && expectValue) {
      expectValue = false; // true, false, null
    }
  }
  return found !== null && found.size > 0 ? found : null;
}

/** The number as written if a double changes it (a finite double: beyond one is its own reject); else null. */
function exactDecimal(token: string): ExactDecimal | null {
  const read = Number(token);
  if (!Number.isFinite(read)) return null;
  const canonical = canonicalDecimal(token);
  return valueOf(canonical) !== valueOf(canonicalDecimal(String(read))) ? new ExactDecimal(token, canonical) : null;
}

/** The decimal's value as text, trailing fractional zeros dropped (2.50 is 2.5). */
function valueOf(canonical: string | null): string | null {
  return canonical === null ? null : canonical.includes('.') ? canonical.replace(/\.?0+$/, '') : canonical;
}

/**
 * Deeper than normalize's MAX_NESTING, whose reject such a value gets anyway: the reader below recurses,
 * so it stops there rather than overflow its stack.
 */
const MAX_DEPTH = 128;

/** A valid JSON array or object read with its changed numbers as written; null if it holds none (or nests too deep). */
function readExact(json: string): ExactValue | null {
  let at = 0;
  let changed = false;
  const skipSpace = (): void => {
    while (at < json.length && json.charCodeAt(at) <= 0x20) at++;
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) throw TOO_DEEP;
    skipSpace();
    const c = json.charCodeAt(at);
    if (c === QUOTE) {
      const end = jsonStringEnd(json, at);
      const s = JSON.parse(json.slice(at, end + 1)) as string;
      at = end + 1;
      return s;
    }
    if (c === OPEN_ARRAY) {
      at++;
      const items: unknown[] = [];
      skipSpace();
      if (json.charCodeAt(at) === CLOSE_ARRAY) { at++; return items; }
      for (;;) {
        items.push(value(depth + 1));
        skipSpace();
        if (json.charCodeAt(at++) === CLOSE_ARRAY) return items; // else ','
      }
    }
    if (c === OPEN_OBJECT) {
      at++;
      const obj: Record<string, unknown> = {};
      skipSpace();
      if (json.charCodeAt(at) === CLOSE_OBJECT) { at++; return obj; }
      for (;;) {
        skipSpace();
        const key = value(depth + 1) as string;
        skipSpace();
        at++; // ':'
        // Own, even "__proto__"; a key given twice keeps its place and takes the last value, as in JSON.parse.
        Object.defineProperty(obj, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        skipSpace();
        if (json.charCodeAt(at++) === CLOSE_OBJECT) return obj; // else ','
      }
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = at;
      const token = NUMBER.exec(json)![0];
      at += token.length;
      const exact = exactDecimal(token);
      if (exact) changed = true;
      return exact ?? Number(token);
    }
    const literal = json.startsWith('true', at) ? true : json.startsWith('false', at) ? false : null;
    at += literal === null ? 4 : literal ? 4 : 5;
    return literal;
  };
  try {
    const read = value(1) as ExactValue;
    return changed ? read : null;
  } catch (err) {
    if (err === TOO_DEEP) return null;
    throw err;
  }
}

const TOO_DEEP = new Error('nested too deep to re-read');
