// Builders of valid legacy records (docs/legacy-format.md), one per kind, plus the CSV column order.
//
// Builders take the structural fields (ids and references) from the caller and draw everything else
// from the record's own random stream. Optional fields are sometimes null and sometimes absent, and
// some records carry unknown extra fields that the fleet must keep in `legacy_extra`.

import * as fake from './fake-values.js';
import type { Random } from './random.js';

export type Format = 'json' | 'jsonl' | 'csv';
export type Kind = 'projects' | 'phases' | 'tasks' | 'task_dependencies';
export const KINDS: readonly Kind[] = ['projects', 'phases', 'tasks', 'task_dependencies'];

/** A field value; `undefined` leaves the field out (JSON) or empty (CSV), `null` writes null (JSON) or empty (CSV). */
export type FieldValue = string | number | readonly string[] | null | undefined;
export type LegacyRecord = Record<string, FieldValue>;

export const COLUMNS: Record<Kind, readonly string[]> = {
  projects: ['id', 'key', 'name', 'description', 'owner', 'status', 'created_at', 'updated_at', 'legacy_color', 'custom_7'],
  phases: [
    'id', 'project_id', 'name', 'position', 'status', 'starts_on', 'ends_on', 'created_at', 'updated_at',
    'legacy_color', 'custom_3',
  ],
  tasks: [
    'id', 'project_id', 'phase_id', 'title', 'description', 'status', 'priority', 'type', 'assignee', 'reporter',
    'estimate_hours', 'due_on', 'tags', 'depends_on', 'created_at', 'updated_at', 'legacy_color', 'custom_7',
  ],
  task_dependencies: ['task_id', 'depends_on_id', 'note'],
};

/** No value, written either as null or by leaving the field out. */
function nothing(r: Random): null | undefined {
  return r.chance(0.5) ? null : undefined;
}

function maybe<T>(r: Random, probability: number, value: () => T): T | null | undefined {
  return r.chance(probability) ? value() : nothing(r);
}

/** Adds one or two unknown fields to about one record in six. */
function addExtras(r: Random, record: LegacyRecord, customField: string): LegacyRecord {
  const roll = r.next();
  if (roll < 0.08) record.legacy_color = fake.color(r);
  else if (roll < 0.13) record[customField] = fake.customValue(r);
  else if (roll < 0.17) {
    record.legacy_color = fake.color(r);
    record[customField] = fake.customValue(r);
  }
  return record;
}

function timestamps(r: Random, record: LegacyRecord): void {
  const created = fake.instant(r);
  record.created_at = fake.isoTimestamp(r, created);
  record.updated_at = r.chance(0.9) ? fake.isoTimestamp(r, fake.later(r, created, 700)) : nothing(r);
}

export function buildProject(r: Random, ref: { id: string | undefined; key: string }): LegacyRecord {
  const record: LegacyRecord = {
    id: ref.id,
    key: ref.key,
    name: fake.projectName(r),
    description: fake.description(r) ?? nothing(r),
    owner: maybe(r, 0.85, () => fake.person(r)),
    status: r.chance(0.9) ? r.pick(['active', 'active', 'active', 'on_hold', 'archived']) : undefined,
  };
  timestamps(r, record);
  return addExtras(r, record, 'custom_7');
}

export function buildPhase(r: Random, ref: { id: string | undefined; projectId: string; position: number }): LegacyRecord {
  const start = fake.instant(r);
  const record: LegacyRecord = {
    id: ref.id,
    project_id: ref.projectId,
    name: fake.phaseName(r, ref.position),
    // JSON allows numeric strings; CSV writes both the same.
    position: r.chance(0.9) ? ref.position : String(ref.position),
    status: r.chance(0.9) ? r.pick(['planned', 'active', 'completed']) : undefined,
    starts_on: maybe(r, 0.8, () => fake.isoDate(start)),
    ends_on: maybe(r, 0.7, () => fake.isoDate(fake.later(r, start, 120))),
  };
  timestamps(r, record);
  return addExtras(r, record, 'custom_3');
}

const PRIORITIES: readonly (string | number)[] = ['low', 'medium', 'medium', 'high', 'critical', 1, 2, 3, 4, '3'];

export function buildTask(
  r: Random,
  ref: { id: string | undefined; projectId: string; phaseId: string | null; dependsOn: readonly string[] },
): LegacyRecord {
  const created = fake.instant(r);
  const record: LegacyRecord = {
    id: ref.id,
    project_id: ref.projectId,
    phase_id: ref.phaseId ?? nothing(r),
    title: fake.taskTitle(r),
    description: fake.description(r) ?? nothing(r),
    status: r.chance(0.92) ? r.pick(['todo', 'todo', 'in_progress', 'blocked', 'review', 'done', 'done', 'cancelled']) : undefined,
    priority: r.chance(0.9) ? r.pick(PRIORITIES) : nothing(r),
    type: r.chance(0.7) ? r.pick(['default', 'bug', 'feature', 'chore']) : undefined,
    assignee: maybe(r, 0.75, () => fake.person(r)),
    reporter: maybe(r, 0.95, () => fake.person(r)),
    estimate_hours: maybe(r, 0.7, () => estimate(r)),
    due_on: maybe(r, 0.6, () => fake.isoDate(fake.later(r, created, 180))),
    tags: tagList(r),
    depends_on: ref.dependsOn.length > 0 ? ref.dependsOn : r.chance(0.5) ? [] : nothing(r),
    created_at: fake.isoTimestamp(r, created),
    updated_at: r.chance(0.9) ? fake.isoTimestamp(r, fake.later(r, created, 400)) : nothing(r),
  };
  return addExtras(r, record, 'custom_7');
}

function estimate(r: Random): number | string {
  const hours = r.pick([0, 0.5, 1, 2, 3, 4.5, 8, 13, 16, 24, 40, 80]);
  return r.chance(0.15) ? String(hours) : hours;
}

function tagList(r: Random): readonly string[] | null | undefined {
  const list = fake.tags(r);
  return list.length > 0 ? list : r.chance(0.5) ? [] : nothing(r);
}

export function buildDependencyRow(r: Random, ref: { taskId: string | undefined; dependsOnId: string | undefined }): LegacyRecord {
  const record: LegacyRecord = { task_id: ref.taskId, depends_on_id: ref.dependsOnId };
  if (r.chance(0.1)) record.note = r.pick(['added after the "big merge"', 'from the Gantt view', 'importé depuis Excel', '手動で追加']);
  return record;
}
