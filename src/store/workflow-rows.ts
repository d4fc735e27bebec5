// The workflow row of each migrated task (tms.workflows), written in the task chunk's transaction: the
// template it is rendered from (name, version and the id of its stored content, tms.workflow_templates),
// the rendered definition's hash, and whether it runs during the migration. The definition itself is
// the template's steps with the task's fields as inputs: rendered again from those two rows when it runs
// (src/store/workflow-definitions.ts), not copied into every row.
// - Fast path: a plain COPY, when none of the chunk's workflows exists yet.
// - Otherwise: COPY into a temporary table and an upsert that rewrites a row only when its definition
//   changed or another run last migrated it (last_run_id) — re-migrating unchanged tasks within a run
//   writes nothing, and the row keeps the run that created it (run_id).
// Either way the rows are read back with COPY and compared with what was sent (all but run_id).
import type { TaskValues } from '../legacy/normalize.js';
import { definitionHashFor, type TaskForWorkflow } from '../workflows/render.js';
import type { TemplateSet } from '../workflows/templates.js';
import type { RunMode, WorkflowTemplate } from '../workflows/types.js';
import { copyLines, tryCopyFresh, verifyLines, type TableSpec } from './copy-rows.js';
import { encodeCopyLine, escapeCopy, type CopyValue } from './copy-text.js';
import { workflowId } from './new-ids.js';
import type { PoolClient } from './pool.js';
import { storedTemplateId, storeTemplates } from './workflow-templates.js';

// run_id last: the read-back compares every column but that one (a row another run created keeps its run_id).
export const WORKFLOWS_TABLE: TableSpec = {
  table: 'tms.workflows',
  columns: ['id', 'task_id', 'legacy_id', 'template', 'template_version', 'template_id', 'definition_hash', 'run_mode', 'last_run_id', 'run_id'],
  key: ['id'],
};
const VERIFIED: TableSpec = { ...WORKFLOWS_TABLE, columns: WORKFLOWS_TABLE.columns.slice(0, -1) };

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
  template: WorkflowTemplate;
  /** SHA-256 of the rendered definition's canonical JSON (renderWorkflow + definitionHash): the cache key. */
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

export function workflowRow(templates: TemplateSet, task: MigratedTask): WorkflowRow {
  const template = templates.templateFor(task.values.type);
  return {
    id: workflowId(task.values.legacyId), taskId: task.id, legacyId: task.values.legacyId, template,
    // Equals definitionHash(renderWorkflow(template, task)) (test/unit/workflow-rows.test.ts).
    definitionHash: definitionHashFor(template, taskForWorkflow(task)), runMode: template.run,
  };
}

function copyRow(w: WorkflowRow, runId: string): CopyValue[] {
  return [w.id, w.taskId, w.legacyId, w.template.name, w.template.version, storedTemplateId(w.template), w.definitionHash, w.runMode, runId, runId];
}

export interface WorkflowWriteOutcome {
  /** Rows inserted or rewritten by this chunk. */
  written: number;
  onMigrate: number;
}

/** Writes the workflows of a chunk's tasks (the caller's transaction) and their templates; reads every row back. */
export async function writeWorkflows(client: PoolClient, runId: string, unordered: readonly WorkflowRow[]): Promise<WorkflowWriteOutcome> {
  // In id order, so that chunks writing the same workflows lock them in the same order (no deadlock).
  const rows = [...unordered].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const onMigrate = rows.filter((r) => r.runMode === 'on-migrate').length;
  if (rows.length === 0) return { written: 0, onMigrate };
  await storeTemplates(client, runId, new Set(rows.map((r) => r.template)));
  const values = rows.map((r) => copyRow(r, runId));
  const lines = values.map(encodeCopyLine);
  if (await tryCopyFresh(client, WORKFLOWS_TABLE, lines)) {
    // All new: every row holds this run in run_id too, so the lines sent are the lines to read back.
    await verifyLines(client, WORKFLOWS_TABLE, values, lines);
    return { written: rows.length, onMigrate };
  }
  const { columns } = WORKFLOWS_TABLE;
  const temp = 'incoming_tms_workflows';
  await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${temp} (LIKE tms.workflows INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`);
  await copyLines(client, temp, columns, lines);
  const updatable = columns.filter((c) => c !== 'id' && c !== 'run_id');
  const result = await client.query(
    `INSERT INTO tms.workflows AS t (${columns.join(', ')}) SELECT ${columns.join(', ')} FROM ${temp} ORDER BY id
     ON CONFLICT (id) DO UPDATE SET (${updatable.join(', ')}) = ROW(${updatable.map((c) => `excluded.${c}`).join(', ')})
     WHERE t.definition_hash IS DISTINCT FROM excluded.definition_hash OR t.template_id IS DISTINCT FROM excluded.template_id
        OR t.last_run_id IS DISTINCT FROM excluded.last_run_id`,
  );
  await client.query(`TRUNCATE ${temp}`);
  // Per-chunk check: every task of the chunk has its workflow, as just rendered (the line less its run_id:
  // a row another run created keeps that run).
  const runIdField = `\t${escapeCopy(runId)}`;
  await verifyLines(client, VERIFIED, values, lines.map((line) => line.slice(0, -runIdField.length)));
  return { written: result.rowCount ?? 0, onMigrate };
}
