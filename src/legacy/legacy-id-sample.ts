// Reads the legacy id out of one record's bytes, to give chunk jobs readable names (id ranges).
import { parse as parseCsv } from 'csv-parse/sync';
import type { LegacyFormat } from './kinds.js';

export function sampleLegacyId(bytes: Buffer | null, format: LegacyFormat, header: string[] | null, idField: string): string | null {
  if (!bytes) return null;
  try {
    let value: unknown;
    if (format === 'csv') {
      const row = parseCsv(bytes, { relax_column_count: true })[0];
      const column = header?.indexOf(idField) ?? -1;
      value = column >= 0 ? row?.[column] : undefined;
    } else {
      value = (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>)[idField];
    }
    return typeof value === 'string' || typeof value === 'number' ? String(value).slice(0, 64) : null;
  } catch {
    return null; // a malformed record simply gives the chunk no id label
  }
}
