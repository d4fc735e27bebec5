// JSON.parse keeps the last of two members with one name ({"title":"a","title":"b"} reads as "b"), so
// the first value would vanish without a word. Prepare looks for them (a warning; the workers do not
// pay for the scan): this finds the top-level member names of one record's text that occur twice.

import { jsonStringEnd } from './json-string-end.js';

const QUOTE = 0x22;

/**
 * The top-level names that occur more than once in `text`, a JSON object already parsed into an object
 * with `keyCount` own keys (so the common case, no duplicate, is one pass and a count).
 */
export function duplicateTopLevelKeys(text: string, keyCount: number): string[] {
  const names: string[] = [];
  let depth = 0;
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      const end = jsonStringEnd(text, start);
      i = end < 0 ? text.length : end;
      if (depth === 1 && expectName) names.push(text.slice(start, i + 1));
      expectName = false;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      expectName = depth === 1 && c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c && depth === 1) {
      expectName = true;
    }
  }
  if (names.length === keyCount) return [];
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const raw of names) {
    const name = JSON.parse(raw) as string;
    if (seen.has(name)) twice.add(name);
    else seen.add(name);
  }
  return [...twice];
}
