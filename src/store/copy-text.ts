// Encodes rows in Postgres COPY text format (tab-separated, \N for NULL, backslash escapes), the
// fastest way into Postgres. Arrays become array literals and objects JSON, then both are escaped.

export type CopyValue = string | number | boolean | null | readonly string[] | Record<string, unknown>;

function escapeCopy(text: string): string {
  // Fast path: most values need no escaping.
  if (!/[\\\t\n\r]/.test(text)) return text;
  return text.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

function arrayLiteral(items: readonly string[]): string {
  return `{${items.map((item) => `"${item.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

export function encodeCopyValue(value: CopyValue): string {
  if (value === null) return '\\N';
  if (typeof value === 'string') return escapeCopy(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return escapeCopy(arrayLiteral(value as readonly string[]));
  return escapeCopy(JSON.stringify(value));
}

export function encodeCopyRows(rows: readonly (readonly CopyValue[])[]): string {
  let out = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      if (i > 0) out += '\t';
      out += encodeCopyValue(row[i]!);
    }
    out += '\n';
  }
  return out;
}
