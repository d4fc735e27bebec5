// A value printed inside a command for the operator to paste back: one shell word, as written.

/** `{pl}` → '{pl}', `it's` → 'it'\''s'; a plain word stays as it is. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:@,=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
