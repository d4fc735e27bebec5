// The new system's secondary indexes. The load runs without them (db/migrations/001_new_system.ts:
// they would double the COPY time); the optimize phase builds them afterwards, concurrently. Each one
// serves a typical query (src/lifecycle/typical-queries.ts) or a lookup the new system makes often.

export interface SecondaryIndex {
  /** Index name in schema tms. */
  name: string;
  /** Schema-qualified table. */
  table: string;
  unique: boolean;
  /** What follows `ON table`: columns, INCLUDE and WHERE clauses. */
  definition: string;
  /** Why it exists. */
  serves: string;
}

export const SECONDARY_INDEXES: readonly SecondaryIndex[] = [
  {
    name: 'tasks_project_created', table: 'tms.tasks', unique: false,
    definition: '(project_id, created_at DESC NULLS LAST)',
    serves: "a project's tasks, newest first (project_tasks): rows come in the query's order, no sort",
  },
  {
    name: 'tasks_phase_status', table: 'tms.tasks', unique: false,
    definition: '(phase_id, status) INCLUDE (estimate_hours)',
    serves: "a phase's board (phase_board): grouped by status, hours summed from the index",
  },
  {
    name: 'tasks_assignee_open', table: 'tms.tasks', unique: false,
    definition: "(assignee, due_on) WHERE status NOT IN ('done', 'cancelled')",
    serves: "a user's open tasks by due date (user_open_tasks): only open tasks are indexed",
  },
  {
    name: 'phases_project_position', table: 'tms.phases', unique: false,
    definition: '(project_id, position)',
    serves: "a project's phases in board order",
  },
  {
    name: 'task_dependencies_depends_on', table: 'tms.task_dependencies', unique: false,
    definition: '(depends_on_id)',
    serves: 'what a task blocks (the primary key already serves what it depends on)',
  },
  {
    name: 'projects_legacy_id', table: 'tms.projects', unique: false,
    definition: '(legacy_id)',
    // Not UNIQUE: the primary key (UUIDv5 of the legacy id) already enforces it, and a second unique
    // index would race with the workers' ON CONFLICT (id) upserts (a unique violation instead of a merge).
    serves: 'lookups by legacy id (support, verification)',
  },
  {
    name: 'phases_legacy_id', table: 'tms.phases', unique: false,
    definition: '(legacy_id)',
    serves: 'lookups by legacy id (support, verification)',
  },
  {
    name: 'tasks_legacy_id', table: 'tms.tasks', unique: false,
    definition: '(legacy_id)',
    serves: 'lookups by legacy id (support, verification)',
  },
  {
    name: 'workflow_runs_workflow', table: 'tms.workflow_runs', unique: false,
    definition: '(workflow_id)',
    serves: "a workflow's runs (history, latest result)",
  },
];

/** The tables optimize analyzes once the indexes are in. */
export const TMS_TABLES = ['tms.projects', 'tms.phases', 'tms.tasks', 'tms.task_dependencies', 'tms.workflows', 'tms.workflow_templates', 'tms.workflow_runs'] as const;

export function createIndexSql(index: SecondaryIndex): string {
  return `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY IF NOT EXISTS ${index.name} ON ${index.table} ${index.definition}`;
}
