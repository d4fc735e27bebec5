// Text from a bad legacy record (its id, a field name, a reason quoting it) is stored in the ledger to
// report it, and Postgres text holds neither NUL nor a lone UTF-16 surrogate: a reject that cannot be
// written would fail its whole chunk. Such characters are shown instead: NUL as "\u0000", a lone
// surrogate as U+FFFD.

export function storableText(text: string): string;
export function storableText(text: string | null): string | null;
export function storableText(text: string | null): string | null {
  if (text === null) return null;
  const shown = text.includes('\u0000') ? text.replaceAll('\u0000', '\\u0000') : text;
  return shown.isWellFormed() ? shown : shown.toWellFormed();
}
