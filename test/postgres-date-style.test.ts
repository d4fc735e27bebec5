// A Postgres whose DateStyle is not ISO (here 'SQL, DMY', set on the database): the fleet's sessions
// print dates in ISO anyway, so the per-chunk read-back still equals what was sent, the run completes,
// and every workflow rendered from its task hashes to the hash stored at migration.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { loadWorkflow } from '../src/store/workflow-definitions.js';
import { connectionArgs } from './helpers/cli.js';
import { runFleet, summaryOf } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, uniquePrefix, type TestDatabase } from './helpers/services.js';

const prefix = uniquePrefix('date_style');
let root: string;
let db: TestDatabase;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-date-style-'));
  db = await createTestDatabase('date_style');
  await db.pool.query(`ALTER DATABASE ${db.name} SET DateStyle = 'SQL, DMY'`);
});

afterAll(async () => {
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a server with DateStyle SQL, DMY', () => {
  it('migrates, reads every chunk back equal, and renders each workflow to its stored hash', async () => {
    const legacy = join(root, 'legacy');
    await generateLegacyData({ out: legacy, projects: 5, phasesPerProject: 2, tasks: 500, format: 'jsonl', seed: 13 });
    const result = await runFleet(db.pool, ['migrate', '--legacy-data', legacy, '--workers', '1', '--no-progress', '--json', '--skip-prepare', ...connectionArgs(db, prefix)]);
    expect(result.code, result.stderr).toBe(0);
    expect(summaryOf(result).status).toBe('completed');

    // A session opened after the ALTER (the pool's may predate it).
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // A new session of this database prints dates the server's way: the setting is in force.
      const { rows: [style] } = await client.query<{ d: string }>(`SELECT '2026-12-01'::date::text AS d`);
      expect(style!.d).toBe('01/12/2026');
      const { rows } = await client.query<{ id: string; due: string | null }>(
        'SELECT w.id::text, t.due_on::text AS due FROM tms.workflows w JOIN tms.tasks t ON t.id = w.task_id');
      expect(rows.length).toBe(500);
      expect(rows.filter((r) => r.due !== null).length).toBeGreaterThan(100);
      // loadWorkflow on a session in the server's style: the date still reaches the workflow as the migration saw it.
      let mismatched = 0;
      for (const r of rows) {
        const loaded = await loadWorkflow(client, r.id);
        if (loaded!.hash !== loaded!.storedHash) mismatched++;
      }
      expect(mismatched).toBe(0);
    } finally {
      await client.end();
    }
  });
});
