// The new system's entity tables as the migration writes them: column lists, how validated legacy
// values become a row, and how a row read back is compared with what was written (per-chunk verify).
import type { EntityKind } from '../legacy/kinds.js';
import { withZone, type PhaseValues, type ProjectValues, type TaskValues } from '../legacy/normalize.js';
import type { CopyValue } from './copy-text.js';
import type { TableSpec } from './copy-rows.js';

type ColumnType = 'text' | 'int' | 'numeric' | 'date' | 'timestamp' | 'array' | 'json';

export interface EntityTable extends TableSpec {
  types: readonly ColumnType[];
}

function table(name: string, columns: [string, ColumnType][]): EntityTable {
  return {
    table: name,
    columns: columns.map(([c]) => c),
    types: columns.map(([, t]) => t),
    key: ['id'],
    keep: ['run_id'],
  };
}

export const ENTITY_TABLES: Record<EntityKind, EntityTable> = {
  projects: table('tms.projects', [
    ['id', 'text'], ['legacy_id', 'text'], ['key', 'text'], ['name', 'text'], ['description', 'text'], ['owner', 'text'],
    ['status', 'text'], ['created_at', 'timestamp'], ['updated_at', 'timestamp'], ['legacy_extra', 'json'],
    ['run_id', 'text'], ['legacy_line', 'int'],
  ]),
  phases: table('tms.phases', [
    ['id', 'text'], ['legacy_id', 'text'], ['project_id', 'text'], ['name', 'text'], ['position', 'int'], ['status', 'text'],
    ['starts_on', 'date'], ['ends_on', 'date'], ['created_at', 'timestamp'], ['updated_at', 'timestamp'],
    ['legacy_extra', 'json'], ['run_id', 'text'], ['legacy_line', 'int'],
  ]),
  tasks: table('tms.tasks', [
    ['id', 'text'], ['legacy_id', 'text'], ['project_id', 'text'], ['phase_id', 'text'], ['title', 'text'],
    ['description', 'text'], ['status', 'text'], ['priority', 'text'], ['type', 'text'], ['assignee', 'text'],
    ['reporter', 'text'], ['estimate_hours', 'numeric'], ['due_on', 'date'], ['tags', 'array'],
    ['created_at', 'timestamp'], ['updated_at', 'timestamp'], ['legacy_extra', 'json'], ['run_id', 'text'], ['legacy_line', 'int'],
  ]),
};

export interface RowContext { id: string; runId: string; line: number }

export function projectRow(v: ProjectValues, c: RowContext): CopyValue[] {
  return [c.id, v.legacyId, v.key, v.name, v.description, v.owner, v.status, v.createdAt, v.updatedAt, v.extra, c.runId, c.line];
}

export function phaseRow(v: PhaseValues, c: RowContext & { projectId: string }): CopyValue[] {
  return [c.id, v.legacyId, c.projectId, v.name, v.position, v.status, v.startsOn, v.endsOn, v.createdAt, v.updatedAt, v.extra, c.runId, c.line];
}

export function taskRow(v: TaskValues, c: RowContext & { projectId: string; phaseId: string | null }): CopyValue[] {
  return [
    c.id, v.legacyId, c.projectId, c.phaseId, v.title, v.description, v.status, v.priority, v.type, v.assignee,
    v.reporter, v.estimateHours, v.dueOn, v.tags, v.createdAt, v.updatedAt, v.extra, c.runId, c.line,
  ];
}

/** Compares a row read back from Postgres with the row that was written; returns the first differing column. */
export function firstDifference(spec: EntityTable, written: readonly CopyValue[], read: Record<string, unknown>): string | null {
  for (let i = 0; i < spec.columns.length; i++) {
    const column = spec.columns[i]!;
    if (!sameValue(spec.types[i]!, written[i] ?? null, read[column])) return column;
  }
  return null;
}

function sameValue(type: ColumnType, written: CopyValue, read: unknown): boolean {
  if (written === null || read === null || read === undefined) return written === null && (read === null || read === undefined);
  switch (type) {
    case 'text':
    case 'date':
      return written === read;
    case 'int':
      return Number(read) === written;
    case 'numeric':
      return Number(read) === Number(written);
    case 'timestamp':
      return read instanceof Date && read.getTime() === Date.parse(withZone(written as string));
    case 'array':
      return JSON.stringify(read) === JSON.stringify(written);
    case 'json':
      return canonicalJson(read) === canonicalJson(written);
  }
}

/** JSON with object keys sorted, so jsonb's key reordering does not count as a difference. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}
