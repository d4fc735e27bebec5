// The reject rules of projects, phases and tasks, as the workers apply them (src/jobs/migrate-entities.ts,
// src/store/claim-rows.ts), replayed over the files in line order without a database:
// - a record that cannot be read or normalized is rejected;
// - a phase needs a migrated project; a task needs a migrated project and, if it names one, a migrated
//   phase of that same project (a missing parent that was itself rejected is a "rejected parent");
// - of several records with one id the earliest that passes every other check wins, later ones are
//   duplicates (docs/legacy-format.md: "a record rejected for another reason holds no id").
// Memory: per kind, the ids seen are interned, with one integer column for the winning line and one
// for the parent; the ids of rejected records are kept only for the "rejected parent" wording.
import type { RawRecord } from '../legacy/read-chunk.js';
import type { KindValues, Normalizer } from '../legacy/normalize.js';
import { IdInterner, IntColumn } from './compact-arrays.js';
import { classOfInvalidField, classOfUnreadableRecord, recordRef, type ErrorClass, type ErrorFinding } from './findings.js';

type EntityKind = 'projects' | 'phases' | 'tasks';

/** The migrated records of one kind: id -> winning line (0: none) and parent index. */
export class EntityRegistry {
  readonly ids = new IdInterner();
  readonly line = new IntColumn(0);
  /** Projects: unused. Phases and tasks: the index of their project in the projects registry. */
  readonly parent = new IntColumn(-1);
  /** Where each rejected legacy id was first rejected (line), to name a child's rejected parent. */
  readonly rejectedAt = new Map<string, number>();

  constructor(readonly fileName: string) {}

  /** Index of the migrated record with this id, or -1. */
  indexOf(id: string): number {
    const i = this.ids.find(id);
    return i !== undefined && this.line.get(i) > 0 ? i : -1;
  }

  noteRejected(id: string | null, line: number): void {
    if (id !== null && !this.rejectedAt.has(id)) this.rejectedAt.set(id, line);
  }
}

export interface EntityRegistries {
  projects: EntityRegistry;
  phases: EntityRegistry | null;
  tasks: EntityRegistry | null;
}

/** The outcome of one record: migrated (with its normalized values and registry index), or rejected. */
export type EntityOutcome<K extends EntityKind> =
  | { migrated: true; index: number; values: KindValues[K] }
  | { migrated: false; error: ErrorFinding };

export function checkEntityRecord<K extends EntityKind>(
  kind: K,
  record: RawRecord,
  normalize: Normalizer<K>,
  registries: EntityRegistries,
): EntityOutcome<K> {
  const own = registries[kind]!;
  const file = own.fileName;
  const reject = (legacyId: string | null, field: string | null, cls: ErrorClass, reason: string): EntityOutcome<K> => {
    own.noteRejected(legacyId, record.line);
    return { migrated: false, error: { severity: 'error', kind, class: cls, ref: recordRef(file, record.line), file, line: record.line, legacyId, field, reason } };
  };
  if (record.error !== null) return reject(null, null, classOfUnreadableRecord(record.error), record.error);
  const result = normalize(record.fields, record.exactNumbers);
  if (!result.ok) return reject(result.legacyId, result.field, classOfInvalidField(result.reason), result.reason);
  const values = result.value;
  const legacyId = values.legacyId;

  let parent = -1;
  if (kind !== 'projects') {
    const { projectLegacyId } = values as KindValues['phases'] | KindValues['tasks'];
    parent = registries.projects.indexOf(projectLegacyId);
    if (parent < 0) {
      const where = registries.projects.rejectedAt.get(projectLegacyId);
      return where !== undefined
        ? reject(legacyId, 'project_id', 'rejected_parent', `project ${projectLegacyId} was rejected (${recordRef(registries.projects.fileName, where)})`)
        : reject(legacyId, 'project_id', 'dangling_reference', `project_id ${projectLegacyId} names no migrated project`);
    }
  }
  if (kind === 'tasks') {
    const { phaseLegacyId, projectLegacyId } = values as KindValues['tasks'];
    const phases = registries.phases!;
    if (phaseLegacyId !== null) {
      const phase = phases.indexOf(phaseLegacyId);
      if (phase < 0) {
        const where = phases.rejectedAt.get(phaseLegacyId);
        return where !== undefined
          ? reject(legacyId, 'phase_id', 'rejected_parent', `phase ${phaseLegacyId} was rejected (${recordRef(phases.fileName, where)})`)
          : reject(legacyId, 'phase_id', 'dangling_reference', `phase_id ${phaseLegacyId} names no migrated phase`);
      }
      if (phases.parent.get(phase) !== parent) {
        return reject(legacyId, 'phase_id', 'phase_of_another_project', `phase ${phaseLegacyId} belongs to another project than ${projectLegacyId}`);
      }
    }
  }
  const index = own.ids.intern(legacyId);
  const first = own.line.get(index);
  if (first > 0) return reject(legacyId, 'id', 'duplicate_id', `duplicate id ${legacyId} (first at ${recordRef(file, first)})`);
  own.line.set(index, record.line);
  own.parent.set(index, parent);
  return { migrated: true, index, values };
}
