// The dependency edges that task records declare in their depends_on, as the tasks stage sees them.
// They are stored with the tasks chunk in the ledger (same transaction), so the dependencies stage
// needs neither the legacy file nor a second parse. Whether the declaring task itself was migrated is
// decided later, from the tasks table (its row carries the declaring line).
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { parseList, rawFieldValue, sourceNames } from './normalize.js';
import type { RawRecord } from './read-chunk.js';

/** [task legacy id, depends-on legacy id, line, position in depends_on] */
export type DeclaredEdge = [string, string, number, number];

export function declaredEdges(records: readonly RawRecord[], mapping: LegacyMapping): DeclaredEdge[] {
  // Read as normalize reads them: a rename and a field of the target's own name are one source.
  const idFields = sourceNames(mapping, 'tasks', 'id');
  const dependsOnFields = sourceNames(mapping, 'tasks', 'depends_on');
  const edges: DeclaredEdge[] = [];
  for (const record of records) {
    if (record.error !== null) continue; // an unparseable task declares no countable edge
    const dependsOn = parseList(rawFieldValue(record.fields, dependsOnFields));
    if (!dependsOn || dependsOn.length === 0) continue;
    const rawId = rawFieldValue(record.fields, idFields);
    const legacyId = (typeof rawId === 'string' || typeof rawId === 'number') && String(rawId).trim() !== '' ? String(rawId).trim() : `?${record.line}`;
    dependsOn.forEach((dep, position) => edges.push([legacyId, dep, record.line, position]));
  }
  return edges;
}
