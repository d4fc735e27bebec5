// Scanning a record's JSON text without parsing it (duplicate-keys.ts, exact-numbers.ts): where a string ends.

const BACKSLASH = 0x5c;

/** The index of the quote closing the JSON string opened at `open` (an odd run of backslashes escapes a quote); -1 if none. */
export function jsonStringEnd(text: string, open: number): number {
  let i = open;
  for (;;) {
    i = text.indexOf('"', i + 1);
    if (i < 0) return -1;
    let slashes = 0;
    while (text.charCodeAt(i - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return i;
  }
}
