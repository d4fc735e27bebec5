// The new system's entity tables as the migration writes them: column lists and how validated legacy
// values become a row.
import type { EntityKind } from '../legacy/kinds.js';
import type { PhaseValues, ProjectValues, TaskValues } from '../legacy/normalize.js';
import type { CopyValue } from './copy-text.js';
import type { ClaimSpec } from './claim-rows.js';

function table(name: string, columns: string[]): ClaimSpec {
  return { table: name, columns, key: ['id'], orderColumn: 'legacy_line', describeColumns: [] };
}

export const ENTITY_TABLES: Record<EntityKind, ClaimSpec> = {
  projects: table('tms.projects', [
    'id', 'legacy_id', 'key', 'name', 'description', 'owner',
    'status', 'created_at', 'updated_at', 'legacy_extra',
    'run_id', 'last_run_id', 'legacy_line',
  ]),
  phases: table('tms.phases', [
    'id', 'legacy_id', 'project_id', 'name', 'position', 'status',
    'starts_on', 'ends_on', 'created_at', 'updated_at',
    'legacy_extra', 'run_id', 'last_run_id', 'legacy_line',
  ]),
  tasks: table('tms.tasks', [
    'id', 'legacy_id', 'project_id', 'phase_id', 'title',
    'description', 'status', 'priority', 'type', 'assignee',
    'reporter', 'estimate_hours', 'due_on', 'tags',
    'created_at', 'updated_at', 'legacy_extra', 'run_id', 'last_run_id', 'legacy_line',
  ]),
};

export function projectRow(v: ProjectValues, id: string, runId: string, line: number): CopyValue[] {
  return [id, v.legacyId, v.key, v.name, v.description, v.owner, v.status, v.createdAt, v.updatedAt, v.extra, runId, runId, line];
}

export function phaseRow(v: PhaseValues, id: string, runId: string, line: number, projectId: string): CopyValue[] {
  return [id, v.legacyId, projectId, v.name, v.position, v.status, v.startsOn, v.endsOn, v.createdAt, v.updatedAt, v.extra, runId, runId, line];
}

export function taskRow(v: TaskValues, id: string, runId: string, line: number, projectId: string, phaseId: string | null): CopyValue[] {
  return [
    id, v.legacyId, projectId, phaseId, v.title, v.description, v.status, v.priority, v.type, v.assignee,
    v.reporter, v.estimateHours, v.dueOn, v.tags, v.createdAt, v.updatedAt, v.extra, runId, runId, line,
  ];
}
