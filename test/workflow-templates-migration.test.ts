// Migration 006 on a database written by the earlier schema: workflow rows that carried their whole
// rendered definition (jsonb) get their template stored once in tms.workflow_templates and point at it;
// the definition rendered again from the template and the task hashes to the hash stored back then.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../db/migrate.js';
import { loadWorkflow } from '../src/store/workflow-definitions.js';
import { definitionHash, renderWorkflow } from '../src/workflows/render.js';
import type { WorkflowTemplate } from '../src/workflows/types.js';
import { createTestDatabase, type TestDatabase } from './helpers/services.js';

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase('wf_templates_migration'); });
afterAll(async () => { await db?.drop(); });

const template = (version: string, command: string[]): WorkflowTemplate => ({
  name: 'feature', version, run: 'on-migrate',
  steps: [{ name: 'build', image: 'node:20', command, env: { A: 'é' }, cache: { key: 'npm', path: '/root/.npm' }, timeoutSeconds: 30 }],
});

describe('migration 006_workflow_templates', () => {
  it('stores each distinct template once, points every workflow at it, and keeps every hash', async () => {
    expect(await migrateToLatest(db.url, '005_operations')).toContain('005_operations');
    const project = '11111111-1111-5111-8111-111111111111';
    await db.pool.query(`INSERT INTO tms.projects (id, legacy_id, name, status, run_id, last_run_id, legacy_line) VALUES ($1, 'P-1', 'p', 'active', 'old', 'old', 2)`, [project]);
    // Three tasks: two from version 1 of the template, one from version 2 (another command).
    const templates = [template('1', ['npm', 'test']), template('1', ['npm', 'test']), template('2', ['npm', 'run', 'build'])];
    const hashes: string[] = [];
    for (const [i, t] of templates.entries()) {
      const taskId = `00000000-0000-5000-8000-00000000000${i}`;
      await db.pool.query(
        `INSERT INTO tms.tasks (id, legacy_id, project_id, title, status, priority, type, estimate_hours, due_on, tags, run_id, last_run_id, legacy_line)
         VALUES ($1, $2, $3, $4, 'todo', 'high', 'feature', 2.50, '2026-12-01', '{a,"b c"}', 'old', 'old', $5)`,
        [taskId, `T-${i}`, project, `Task "${i}" ü`, i + 2]);
      const definition = renderWorkflow(t, {
        id: taskId, legacyId: `T-${i}`, projectId: project, phaseId: null, title: `Task "${i}" ü`, description: null, status: 'todo', priority: 'high',
        type: 'feature', assignee: null, reporter: null, estimateHours: '2.50', dueOn: '2026-12-01', tags: ['a', 'b c'],
      });
      hashes.push(definitionHash(definition));
      await db.pool.query(
        `INSERT INTO tms.workflows (id, task_id, legacy_id, template, template_version, definition, definition_hash, run_mode, run_id, last_run_id)
         VALUES ($1, $2, $3, 'feature', $4, $5::jsonb, $6, 'on-migrate', 'old', 'old')`,
        [`00000000-0000-5000-9000-00000000000${i}`, taskId, `T-${i}`, t.version, JSON.stringify(definition), hashes[i]]);
    }

    expect(await migrateToLatest(db.url, '006_workflow_templates')).toEqual(['006_workflow_templates']);
    const { rows: stored } = await db.pool.query<{ name: string; version: string; run_id: string; uses: number }>(
      `SELECT t.name, t.version, t.run_id, (SELECT count(*)::int FROM tms.workflows w WHERE w.template_id = t.id) AS uses
         FROM tms.workflow_templates t ORDER BY t.version`);
    expect(stored).toEqual([{ name: 'feature', version: '1', run_id: 'old', uses: 2 }, { name: 'feature', version: '2', run_id: 'old', uses: 1 }]);
    const { rows: columns } = await db.pool.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = 'tms' AND table_name = 'workflows' AND column_name IN ('definition', 'template_id')`);
    expect(columns.map((c) => c.column_name)).toEqual(['template_id']);

    const client = await db.pool.connect();
    try {
      for (const [i, t] of templates.entries()) {
        const loaded = await loadWorkflow(client, `00000000-0000-5000-9000-00000000000${i}`);
        expect(loaded!.storedHash).toBe(hashes[i]);
        expect(loaded!.hash, `workflow ${i}`).toBe(hashes[i]);
        expect(loaded!.definition.steps.map((s) => s.command)).toEqual([t.steps[0]!.command]);
        expect(loaded!.definition.inputs.env).toMatchObject({ TASK_TITLE: `Task "${i}" ü`, TASK_ESTIMATE_HOURS: '2.50', TASK_TAGS: '["a","b c"]' });
      }
    } finally {
      client.release();
    }
  });
});
