// Renders a task's workflow from its template: the template's steps as they are, and the task's fields
// as data only — TASK_* environment variables and a JSON file (TaskInputs). Nothing of the task enters
// a command. The definition's hash (SHA-256 of its canonical JSON) is the cache key of its runs.
import { createHash } from 'node:crypto';
import { TASK_FILE_PATH, type TaskInputs, type WorkflowDefinition, type WorkflowTemplate } from './types.js';

/** The migrated task's fields a workflow sees (ids are the new system's). */
export interface TaskForWorkflow {
  id: string;
  legacyId: string;
  projectId: string;
  phaseId: string | null;
  title: string;
  description: string | null;
  status: string;
  priority: string;
  type: string;
  assignee: string | null;
  reporter: string | null;
  estimateHours: string | number | null;
  dueOn: string | null;
  tags: readonly string[] | null;
}

/** JSON with object keys sorted at every level: equal values give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

const text = (value: string | null): string => value ?? '';

/** The task as the workflow sees it: a null field is an empty variable (present, so a step can rely on it), and JSON null in the file. */
export function taskInputs(task: TaskForWorkflow): TaskInputs {
  const estimate = task.estimateHours === null ? null : String(task.estimateHours);
  const tags = task.tags === null ? null : [...task.tags];
  const env: Record<string, string> = {
    TASK_ID: task.id,
    TASK_LEGACY_ID: task.legacyId,
    TASK_TITLE: task.title,
    TASK_DESCRIPTION: text(task.description),
    TASK_STATUS: task.status,
    TASK_PRIORITY: task.priority,
    TASK_TYPE: task.type,
    TASK_PROJECT_ID: task.projectId,
    TASK_PHASE_ID: text(task.phaseId),
    TASK_ASSIGNEE: text(task.assignee),
    TASK_REPORTER: text(task.reporter),
    TASK_ESTIMATE_HOURS: text(estimate),
    TASK_DUE_ON: text(task.dueOn),
    TASK_TAGS: JSON.stringify(tags ?? []),
    // Where the task JSON is mounted (the local runner points it at its own copy of the file).
    TASK_FILE: TASK_FILE_PATH,
  };
  const file = canonicalJson({
    id: task.id, legacyId: task.legacyId, projectId: task.projectId, phaseId: task.phaseId, title: task.title, description: task.description,
    status: task.status, priority: task.priority, type: task.type, assignee: task.assignee, reporter: task.reporter, estimateHours: estimate,
    dueOn: task.dueOn, tags,
  });
  return { env, file };
}

export function renderWorkflow(template: WorkflowTemplate, task: TaskForWorkflow): WorkflowDefinition {
  return {
    template: template.name,
    templateVersion: template.version,
    run: template.run,
    // Copies: a definition is stored and hashed; it must not change when the template object does.
    steps: template.steps.map((s) => ({ ...s, command: [...s.command], env: { ...s.env }, cache: s.cache ? { ...s.cache } : null })),
    inputs: taskInputs(task),
  };
}

/** SHA-256 (hex) of the definition's canonical JSON: same template and same task inputs → same hash. */
export function definitionHash(def: WorkflowDefinition): string {
  return createHash('sha256').update(canonicalJson(def)).digest('hex');
}
