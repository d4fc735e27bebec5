// storeTemplates against the real server: it stores the templates that are missing, under the run
// that stored them first, and leaves the stored ones alone — without taking a lock on them, so a chunk
// whose templates are already stored never waits for another chunk's transaction that holds them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../db/migrate.js';
import { storedTemplateId, storeTemplates } from '../../src/store/workflow-templates.js';
import type { WorkflowTemplate } from '../../src/workflows/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';

const template = (name: string): WorkflowTemplate => ({
  name, version: '1', run: 'manual',
  steps: [{ name: 'noop', image: 'alpine:3.20', command: ['sh', '-c', 'true'], env: {}, cache: null, timeoutSeconds: 30 }],
});
const feature = template('feature');
const bug = template('bug');

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('store_templates');
  await migrateToLatest(db.url);
});
afterAll(async () => {
  await db?.drop();
});

async function stored(): Promise<{ id: string; name: string; run_id: string; xmin: string }[]> {
  const { rows } = await db.pool.query<{ id: string; name: string; run_id: string; xmin: string }>(
    'SELECT id::text AS id, name, run_id, xmin::text AS xmin FROM tms.workflow_templates ORDER BY name');
  return rows;
}

describe('storeTemplates', () => {
  it('stores the missing templates under the run that stores them first, and leaves stored ones as they are', async () => {
    await storeTemplates(db.pool, 'run-a', [feature]);
    const first = await stored();
    expect(first.map((t) => [t.name, t.id, t.run_id])).toEqual([['feature', storedTemplateId(feature), 'run-a']]);

    await storeTemplates(db.pool, 'run-b', [feature, bug, bug]);
    const second = await stored();
    expect(second.map((t) => [t.name, t.run_id])).toEqual([['bug', 'run-b'], ['feature', 'run-a']]);
    // The stored row was not written again (same row version).
    expect(second.find((t) => t.name === 'feature')!.xmin).toBe(first[0]!.xmin);
  });

  it('does not wait for a transaction that holds stored templates locked', async () => {
    const holder = await db.pool.connect();
    const other = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM tms.workflow_templates FOR UPDATE');
      // A wait would hit this limit and fail the call instead of hanging the test.
      await other.query('BEGIN');
      await other.query("SET LOCAL lock_timeout = '2s'");
      await expect(storeTemplates(other, 'run-c', [feature, bug])).resolves.toBeUndefined();
      await other.query('COMMIT');
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
      other.release();
    }
    expect((await stored()).map((t) => t.run_id)).toEqual(['run-b', 'run-a']);
  });
});
