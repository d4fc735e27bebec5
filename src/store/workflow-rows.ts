// The workflow row of each migrated task (tms.workflows), written in the task chunk's transaction:
// the definition rendered from the run's template for the task's type, its hash, the template name
// and version, and whether it runs during the migration.
// - Fast path: a plain COPY, when none of the chunk's workflows exists yet.
// - Otherwise: COPY into a temporary table and an upsert that rewrites a row only when its definition
//   changed or another run last migrated it (last_run_id) — re-migrating unchanged tasks within a run
//   writes nothing, and the row keeps the run that created it (run_id).
import type { TaskValues } from '../legacy/normalize.js';
import { definitionHashFor, renderedSteps, taskInputs, type TaskForWorkflow } from '../workflows/render.js';
import type { TemplateSet } from '../workflows/templates.js';
import type { RunMode, WorkflowTemplate } from '../workflows/types.js';
import { copyLines, tryCopyFresh, type TableSpec } from './copy-rows.js';
import { encodeCopyLine, jsonbString, jsonbText, type CopyValue } from './copy-text.js';
import { workflowId } from './new-ids.js';
import type { PoolClient } from './pool.js';

export const WORKFLOWS_TABLE: TableSpec = {
  table: 'tms.workflows',
  columns: ['id', 'task_id', 'legacy_id', 'template', 'template_version', 'definition', 'definition_hash', 'run_mode', 'run_id', 'last_run_id'],
  key: ['id'],
};

/** A task as the chunk holds it: its new id, parents' new ids and validated values. */
export interface MigratedTask {
  id: string;
  projectId: string;
  phaseId: string | null;
  values: TaskValues;
}

export interface WorkflowRow {
  id: string;
  taskId: string;
  legacyId: string;
  template: string;
  templateVersion: string;
  /** The rendered definition (renderWorkflow) as Postgres prints it as jsonb: what is written and read back. */
  definitionJsonb: string;
  definitionHash: string;
  runMode: RunMode;
}

export function taskForWorkflow(task: MigratedTask): TaskForWorkflow {
  const v = task.values;
  return {
    id: task.id, legacyId: v.legacyId, projectId: task.projectId, phaseId: task.phaseId, title: v.title, description: v.description,
    status: v.status, priority: v.priority, type: v.type, assignee: v.assignee, reporter: v.reporter, estimateHours: v.estimateHours,
    dueOn: v.dueOn, tags: v.tags,
  };
}

/** The template's share of the definition's jsonb text, once per template (templates are not changed once loaded). */
const templateJsonb = new WeakMap<WorkflowTemplate, { head: string; tail: string }>();

/**
 * jsonbText(renderWorkflow(template, task)) from the task's inputs, the template's parts cached: a task
 * chunk renders thousands of workflows from one or two templates. jsonb orders keys by length, then
 * bytes: run, steps, inputs, template, templateVersion.
 */
function definitionJsonb(template: WorkflowTemplate, inputs: ReturnType<typeof taskInputs>): string {
  let parts = templateJsonb.get(template);
  if (!parts) {
    parts = {
      head: `{"run": ${jsonbString(template.run)}, "steps": ${jsonbText(renderedSteps(template))}, "inputs": `,
      tail: `, "template": ${jsonbString(template.name)}, "templateVersion": ${jsonbString(template.version)}}`,
    };
    templateJsonb.set(template, parts);
  }
  return `${parts.head}${jsonbText(inputs)}${parts.tail}`;
}

export function workflowRow(templates: TemplateSet, task: MigratedTask): WorkflowRow {
  const template = templates.templateFor(task.values.type);
  const inputs = taskInputs(taskForWorkflow(task));
  return {
    id: workflowId(task.values.legacyId), taskId: task.id, legacyId: task.values.legacyId,
    template: template.name, templateVersion: template.version,
    // Both equal what renderWorkflow's definition gives (test/unit/workflow-rows.test.ts).
    definitionJsonb: definitionJsonb(template, inputs), definitionHash: definitionHashFor(template, inputs), runMode: template.run,
  };
}

function copyRow(w: WorkflowRow, runId: string): CopyValue[] {
  // The definition goes as its jsonb text (a string is written as it is): the very text read back.
  return [w.id, w.taskId, w.legacyId, w.template, w.templateVersion, w.definitionJsonb, w.definitionHash, w.runMode, runId, runId];
}

export interface WorkflowWriteOutcome {
  /** Rows inserted or rewritten by this chunk. */
  written: number;
  onMigrate: number;
}

/** Writes the workflows of a chunk's tasks (the caller's transaction); checks every one is there with its hash. */
export async function writeWorkflows(client: PoolClient, runId: string, unordered: readonly WorkflowRow[]): Promise<WorkflowWriteOutcome> {
  // In id order, so that chunks writing the same workflows lock them in the same order (no deadlock).
  const rows = [...unordered].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const onMigrate = rows.filter((r) => r.runMode === 'on-migrate').length;
  if (rows.length === 0) return { written: 0, onMigrate };
  const lines = rows.map((r) => encodeCopyLine(copyRow(r, runId)));
  let written = rows.length;
  if (!(await tryCopyFresh(client, WORKFLOWS_TABLE, lines))) {
    const { columns } = WORKFLOWS_TABLE;
    const temp = 'incoming_tms_workflows';
    await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${temp} (LIKE tms.workflows INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`);
    await copyLines(client, temp, columns, lines);
    const updatable = columns.filter((c) => c !== 'id' && c !== 'run_id');
    const result = await client.query(
      `INSERT INTO tms.workflows AS t (${columns.join(', ')}) SELECT ${columns.join(', ')} FROM ${temp} ORDER BY id
       ON CONFLICT (id) DO UPDATE SET (${updatable.join(', ')}) = ROW(${updatable.map((c) => `excluded.${c}`).join(', ')})
       WHERE t.definition_hash IS DISTINCT FROM excluded.definition_hash OR t.last_run_id IS DISTINCT FROM excluded.last_run_id`,
    );
    written = result.rowCount ?? 0;
    await client.query(`TRUNCATE ${temp}`);
  }
  // Per-chunk check: every task of the chunk has its workflow, with the definition just rendered.
  const { rows: held } = await client.query<{ id: string; definition_hash: string; last_run_id: string }>(
    'SELECT id::text, definition_hash, last_run_id FROM tms.workflows WHERE id = ANY($1::uuid[])', [rows.map((r) => r.id)]);
  const byId = new Map(held.map((h) => [h.id, h]));
  for (const r of rows) {
    const h = byId.get(r.id);
    if (!h || h.definition_hash !== r.definitionHash || h.last_run_id !== runId) {
      throw new Error(`Per-chunk verification failed on tms.workflows: the workflow of task ${r.legacyId} ${h ? 'reads back differently' : 'is missing'}`);
    }
  }
  return { written, onMigrate };
}
