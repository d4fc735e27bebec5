// Workflow templates stored once per distinct content (tms.workflow_templates) instead of copied into
// every workflow row: tms.workflows.definition (the rendered definition as jsonb, ~2.3 KB a task, five
// times the task row) gives way to template_id. A definition is its template's steps with its task's
// fields as inputs, rendered again when it runs; definition_hash keeps its format (the cache key).
// Rows written before this migration get their template from their own stored definition.
import type { Knex } from 'knex';
import { canonicalJson } from '../../src/workflows/render.js';
import { templateContentId } from '../../src/store/new-ids.js';

interface StoredTemplate { template: string; template_version: string; run: string; steps: unknown; run_id: string }

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE tms.workflow_templates (
      -- UUIDv5 of the template's canonical JSON (name, version, run, steps): same content, same id
      id          uuid PRIMARY KEY,
      name        text NOT NULL,
      version     text NOT NULL,
      run_mode    text NOT NULL CHECK (run_mode IN ('on-migrate', 'manual')),
      steps       jsonb NOT NULL,
      -- the run that stored it first: its rollback removes it once no workflow uses it
      run_id      text NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE tms.workflows ADD COLUMN template_id uuid;
  `);
  const { rows } = await knex.raw<{ rows: StoredTemplate[] }>(
    `SELECT template, template_version, definition->>'run' AS run, definition->'steps' AS steps, min(run_id) AS run_id
       FROM tms.workflows GROUP BY 1, 2, 3, 4`);
  for (const t of rows) {
    const id = templateContentId(canonicalJson({ name: t.template, version: t.template_version, run: t.run, steps: t.steps }));
    await knex.raw(`INSERT INTO tms.workflow_templates (id, name, version, run_mode, steps, run_id) VALUES (?, ?, ?, ?, ?::jsonb, ?) ON CONFLICT (id) DO NOTHING`,
      [id, t.template, t.template_version, t.run, JSON.stringify(t.steps), t.run_id]);
    await knex.raw(`UPDATE tms.workflows SET template_id = ? WHERE template = ? AND template_version = ? AND definition->>'run' = ? AND definition->'steps' = ?::jsonb`,
      [id, t.template, t.template_version, t.run, JSON.stringify(t.steps)]);
  }
  await knex.raw(`
    ALTER TABLE tms.workflows ALTER COLUMN template_id SET NOT NULL;
    ALTER TABLE tms.workflows DROP COLUMN definition;
  `);
}

export async function down(knex: Knex): Promise<void> {
  // The old column held every definition rendered in full; putting that back means rendering each
  // workflow from its task again, which a schema step should not do behind an operator's back.
  const { rows: [row] } = await knex.raw<{ rows: { any: boolean }[] }>('SELECT EXISTS (SELECT 1 FROM tms.workflows) AS any');
  if (row?.any) throw new Error('006_workflow_templates cannot be undone while tms.workflows holds rows: roll the runs back first (taskfleet rollback)');
  await knex.raw(`
    ALTER TABLE tms.workflows ADD COLUMN definition jsonb NOT NULL, DROP COLUMN template_id;
    DROP TABLE tms.workflow_templates;
  `);
}
