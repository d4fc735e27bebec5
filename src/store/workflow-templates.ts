// The templates workflows are rendered from, stored once per distinct content (tms.workflow_templates)
// instead of copied into every workflow row: a task's rendered definition is its template's steps
// with the task's fields as inputs (renderWorkflow), so tms.workflows holds the template's id and the
// definition's hash, and the definition is rendered again from the two rows when it runs
// (src/store/workflow-definitions.ts). Copying the steps into a million rows made the workflow row
// five times the size of its task: with them a 200k-task load ran at 0.4 of its speed without workflows.
import { canonicalJson, renderedSteps } from '../workflows/render.js';
import type { WorkflowTemplate } from '../workflows/types.js';
import { templateContentId } from './new-ids.js';
import type { PoolClient } from './pool.js';

const ids = new WeakMap<WorkflowTemplate, string>();

/** The template's stored id: the UUIDv5 of its canonical JSON (cached: templates do not change once loaded). */
export function storedTemplateId(template: WorkflowTemplate): string {
  let id = ids.get(template);
  if (id === undefined) {
    id = templateContentId(canonicalJson({ name: template.name, version: template.version, run: template.run, steps: renderedSteps(template) }));
    ids.set(template, id);
  }
  return id;
}

/**
 * Stores these templates unless already there. A chunk calls it twice: once on its own, before its
 * transaction, so that the first chunks of a run, which all find the templates missing, wait for each
 * other only for that short insert, not for each other's whole chunk; then again in its transaction,
 * where it finds them (a read, no lock) — unless a rollback removed them in between — so that its
 * workflow rows never name a missing template. Inserts in id order, so writers of the same templates
 * wait for each other instead of deadlocking. run_id: the run that stored it first (a rollback of
 * that run removes it once no workflow uses it).
 */
export async function storeTemplates(db: Pick<PoolClient, 'query'>, runId: string, templates: Iterable<WorkflowTemplate>): Promise<void> {
  const byId = new Map<string, WorkflowTemplate>();
  for (const template of templates) byId.set(storedTemplateId(template), template);
  if (byId.size === 0) return;
  const { rows: stored } = await db.query<{ id: string }>('SELECT id::text AS id FROM tms.workflow_templates WHERE id = ANY($1::uuid[])', [[...byId.keys()]]);
  for (const { id } of stored) byId.delete(id);
  if (byId.size === 0) return;
  const entries = [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  await db.query(
    `INSERT INTO tms.workflow_templates (id, name, version, run_mode, steps, run_id)
     SELECT u.id, u.name, u.version, u.run_mode, u.steps::jsonb, $6 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
       WITH ORDINALITY AS u(id, name, version, run_mode, steps, n) ORDER BY u.n
     ON CONFLICT (id) DO NOTHING`,
    [entries.map(([id]) => id), entries.map(([, t]) => t.name), entries.map(([, t]) => t.version), entries.map(([, t]) => t.run),
      entries.map(([, t]) => JSON.stringify(renderedSteps(t))), runId]);
}
