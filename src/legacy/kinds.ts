// The kinds of legacy record, their files, and the stage order in which they migrate.

export const LEGACY_KINDS = ['projects', 'phases', 'tasks', 'task_dependencies'] as const;
export type LegacyKind = (typeof LEGACY_KINDS)[number];

export const ENTITY_KINDS = ['projects', 'phases', 'tasks'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

export const LEGACY_FORMATS = ['json', 'jsonl', 'csv'] as const;
export type LegacyFormat = (typeof LEGACY_FORMATS)[number];

export const REQUIRED_KINDS: readonly LegacyKind[] = ['projects', 'phases', 'tasks'];

/**
 * Stages run strictly in this order: a child is never written before its parent's stage is complete.
 * `dependencies` re-reads the tasks file (their depends_on) and task_dependencies; `dependency_cycles`
 * is one job that rejects the edges closing a cycle.
 */
export const STAGES = ['projects', 'phases', 'tasks', 'dependencies', 'dependency_cycles'] as const;
export type Stage = (typeof STAGES)[number];

export const STAGE_KIND: Record<Stage, LegacyKind> = {
  projects: 'projects',
  phases: 'phases',
  tasks: 'tasks',
  dependencies: 'task_dependencies',
  dependency_cycles: 'task_dependencies',
};

/**
 * A run's stages: the chunk stages, then `workflows` — the run's on-migrate task workflows, one job
 * each (no chunks: the ledger truth is tms.workflows and tms.workflow_runs). Invariant 5: tasks →
 * dependencies → workflows.
 */
export const RUN_STAGES = [...STAGES, 'workflows'] as const;
export type RunStage = (typeof RUN_STAGES)[number];
