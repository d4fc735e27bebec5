// Postgres COPY text format, written exactly as Postgres itself prints each type (text arrays, jsonb),
// so that a chunk read back with COPY TO equals, byte for byte, what was sent with COPY FROM: the
// per-chunk verification is a string comparison.

import { ExactDecimal } from '../legacy/exact-numbers.js';

export type CopyValue = string | number | boolean | null | readonly string[] | Record<string, unknown>;

// COPY TO escapes backslash and these control characters; COPY FROM accepts the same escapes.
const COPY_SPECIAL = /[\\\b\f\n\r\t\v]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };

// Only backslash among them is printable; the rest are rare (jsonb text, for one, never holds them raw).
const COPY_CONTROL = /[\b\f\n\r\t\v]/;

export function escapeCopy(text: string): string {
  if (!COPY_SPECIAL.test(text)) return text;
  if (!COPY_CONTROL.test(text)) return text.replaceAll('\\', '\\\\');
  return text.replace(/[\\\b\f\n\r\t\v]/g, (c) => COPY_ESCAPES[c]!);
}

// array_out quotes an element that is empty, reads NULL, or holds a delimiter, quote, brace, backslash or space.
// Only ASCII whitespace counts (array_isspace), not JavaScript's wider \s.
const NEEDS_QUOTES = /^$|^null$|["\\{}, \t\n\r\v\f]/i;

export function arrayLiteral(items: readonly string[]): string {
  return `{${items.map((item) => (NEEDS_QUOTES.test(item) ? `"${item.replace(/[\\"]/g, (c) => `\\${c}`)}"` : item)).join(',')}}`;
}

/**
 * A JSON string as Postgres prints it inside jsonb: `"`, `\\`, \b \f \n \r \t escaped by name, other
 * controls as \u00xx (lower-case hex), everything else as it is — which is exactly what JSON.stringify
 * writes for a well-formed string. A lone surrogate comes out as \udxxx, which jsonb refuses: the chunk
 * fails loudly (task values never carry one — the normalizer rejects them; a template string could).
 */
export function jsonbString(s: string): string {
  return JSON.stringify(s);
}

function jsonbNumber(n: number): string {
  const text = String(n);
  if (!/e/i.test(text)) return text;
  // Postgres prints numerics without exponents.
  const [mantissa = '', exp = '0'] = text.toLowerCase().split('e');
  const negative = mantissa.startsWith('-');
  const [whole = '', frac = ''] = mantissa.replace('-', '').split('.');
  const e = Number(exp);
  const digits = whole + frac;
  const point = whole.length + e;
  const out = point <= 0 ? `0.${'0'.repeat(-point)}${digits}` : point >= digits.length ? digits + '0'.repeat(point - digits.length) : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return `${negative ? '-' : ''}${out}`;
}

// jsonb keeps object keys sorted by UTF-8 length, then bytewise (for ASCII keys, code-unit order is byte order).
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;
function compareKeys(a: string, b: string): number {
  if (ASCII.test(a) && ASCII.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  const ba = Buffer.from(a), bb = Buffer.from(b);
  return ba.length - bb.length || Buffer.compare(ba, bb);
}

/** The text Postgres prints for a jsonb value. */
export function jsonbText(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return jsonbString(value);
  if (typeof value === 'number') return jsonbNumber(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // A number as written where a double would change it (normalize refuses one without a canonical text).
  if (value instanceof ExactDecimal) return value.canonical ?? value.text;
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj).sort(compareKeys).map((k) => `${jsonbString(k)}: ${jsonbText(obj[k])}`).join(', ')}}`;
}

export function encodeCopyValue(value: CopyValue): string {
  if (value === null) return '\\N';
  if (typeof value === 'string') return escapeCopy(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return escapeCopy(arrayLiteral(value as readonly string[]));
  return escapeCopy(jsonbText(value));
}

/** One COPY text line per row (no trailing newline). join() gives a flat string, cheap to compare later. */
export function encodeCopyLine(row: readonly CopyValue[]): string {
  const fields = new Array<string>(row.length);
  for (let i = 0; i < row.length; i++) fields[i] = encodeCopyValue(row[i]!);
  return fields.join('\t');
}
