// A workflow's definition as it runs: its stored template's steps with its task's fields as inputs
// (renderWorkflow), rendered from tms.workflow_templates and tms.tasks — the workflow row holds only the
// template's id and the hash the migration computed. The two hashes are equal unless the task was
// changed after it was migrated; then the definition runs with the task as it is now, under its new hash.
import { definitionHash, renderWorkflow } from '../workflows/render.js';
import type { RunMode, WorkflowDefinition, WorkflowStep } from '../workflows/types.js';
import type pg from 'pg';

export interface StoredWorkflow {
  id: string;
  legacyId: string;
  /** The hash the migration stored in tms.workflows. */
  storedHash: string;
  definition: WorkflowDefinition;
  /** definitionHash(definition): the cache key of this run. */
  hash: string;
}

interface Row {
  id: string; legacy_id: string; definition_hash: string;
  name: string | null; version: string | null; run_mode: RunMode | null; steps: WorkflowStep[] | null;
  task_id: string | null; task_legacy_id: string; project_id: string; phase_id: string | null; title: string; description: string | null;
  status: string; priority: string; type: string; assignee: string | null; reporter: string | null;
  estimate_hours: string | null; due_on: string | null; tags: string[] | null;
}

/** The workflow, rendered; null when there is no such workflow. Throws when its template or task is gone. */
export async function loadWorkflow(client: pg.ClientBase, workflowId: string): Promise<StoredWorkflow | null> {
  // Numbers and dates as text: the very strings the migration rendered from (its per-chunk read-back
  // compared the row's text with what it sent). The date in ISO form whatever the session's DateStyle.
  const { rows: [r] } = await client.query<Row>(
    `SELECT w.id::text, w.legacy_id, w.definition_hash, tpl.name, tpl.version, tpl.run_mode, tpl.steps,
            t.id::text AS task_id, t.legacy_id AS task_legacy_id, t.project_id::text, t.phase_id::text, t.title, t.description,
            t.status, t.priority, t.type, t.assignee, t.reporter, t.estimate_hours::text,
            to_char(t.due_on, 'YYYY-MM-DD') AS due_on, t.tags
       FROM tms.workflows w
       LEFT JOIN tms.workflow_templates tpl ON tpl.id = w.template_id
       LEFT JOIN tms.tasks t ON t.id = w.task_id
      WHERE w.id = $1`, [workflowId]);
  if (!r) return null;
  if (r.name === null || r.version === null || r.run_mode === null || r.steps === null) {
    throw new Error(`The template of workflow ${workflowId} (task ${r.legacy_id}) is not in tms.workflow_templates`);
  }
  if (r.task_id === null) throw new Error(`The task of workflow ${workflowId} (task ${r.legacy_id}) is not in tms.tasks`);
  const definition = renderWorkflow({ name: r.name, version: r.version, run: r.run_mode, steps: r.steps }, {
    id: r.task_id, legacyId: r.task_legacy_id, projectId: r.project_id, phaseId: r.phase_id, title: r.title, description: r.description,
    status: r.status, priority: r.priority, type: r.type, assignee: r.assignee, reporter: r.reporter, estimateHours: r.estimate_hours,
    dueOn: r.due_on, tags: r.tags,
  });
  return { id: r.id, legacyId: r.legacy_id, storedHash: r.definition_hash, definition, hash: definitionHash(definition) };
}
