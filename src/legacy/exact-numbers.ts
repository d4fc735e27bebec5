// JSON.parse reads every number as a double, so a number with more than 15 significant digits comes back
// changed (123456789.123456789 reads as 123456789.12345679), and a field such as estimate_hours would land
// rounded without a word. For the rare record whose text may hold such a number, this finds the exact
// text of each top-level number that a double changes; normalize reads it in place of the double in its
// numeric fields only (an id beyond 2^53 stays a reject; nested values go to legacy_extra as read).
import { canonicalDecimal } from './canonical-values.js';
import { jsonStringEnd } from './json-string-end.js';

/** A record that holds no member value of 16 digits (a dot among them) holds no number a double changes (about 1 µs a record). */
const MAY_HOLD_LONG_NUMBER = /:\s*-?\d[\d.]{15}/;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const QUOTE = 0x22;

/** The exact text of each top-level number of `text` (a JSON object) that JSON.parse changes; null if none. */
export function inexactTopLevelDecimals(text: string): Map<string, string> | null {
  if (!MAY_HOLD_LONG_NUMBER.test(text)) return null;
  let found: Map<string, string> | null = null;
  let depth = 0;
  let name: string | null = null;
  let expectName = false;
  let expectValue = false;
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
        if (name !== null && changedByDouble(token)) (found ??= new Map()).set(name, token);
        i += token.length - 1;
      }
      expectValue = false;
    } else if (c === 0x7b || c === 0x5b) { // '{' '['
      depth++;
      expectName = depth === 1 && c === 0x7b;
      expectValue = false;
    } else if (c === 0x7d || c === 0x5d) { // '}' ']'
      depth--;
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

/** A number whose double is finite and not the same number. */
function changedByDouble(token: string): boolean {
  const read = Number(token);
  if (!Number.isFinite(read)) return false; // beyond a double: its own reject
  return valueOf(token) !== valueOf(String(read));
}

/** The decimal's value as text, trailing fractional zeros dropped (2.50 is 2.5). */
function valueOf(text: string): string | null {
  const canonical = canonicalDecimal(text);
  return canonical === null ? null : canonical.includes('.') ? canonical.replace(/\.?0+$/, '') : canonical;
}
