// The ID mapping export (`taskfleet id-mapping RUN --out FILE`, and exportIdMapping for `taskfleet run
// --id-mapping FILE`): one JSON file of legacy id -> new id per kind for the rows the run migrated. It
// must parse, cover every migrated entity exactly (compared with the tables, by this file's own SQL),
// leave out the rejected records and other runs' rows, and escape any legacy id properly.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData, type ExpectedReject } from '../src/generator/generate.js';
import { exportIdMapping } from '../src/lifecycle/id-mapping.js';
import { newId } from '../src/store/new-ids.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { jsonLines, readExpectedRejects, runFleet, summaryOf } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const KINDS = ['projects', 'phases', 'tasks'] as const;
type Mapping = { runId: string } & Record<(typeof KINDS)[number], Record<string, string>>;

const prefix = uniquePrefix('id_mapping');
let root: string;
let dataDir: string;
let db: TestDatabase;
let runId: string;
let expectedRejects: ExpectedReject[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-id-mapping-'));
  dataDir = join(root, 'legacy');
  await generateLegacyData({ out: dataDir, format: 'jsonl', projects: 30, phasesPerProject: 3, tasks: 3000, badRatio: 0.02, seed: 5 });
  expectedRejects = await readExpectedRejects(dataDir);
  db = await createTestDatabase('id_mapping');
  const result = await runFleet(db.pool, ['migrate', '--skip-prepare', '--legacy-data', dataDir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', '--no-progress', '--json']);
  expect(result.code, result.stderr.slice(-2000)).toBe(0);
  runId = summaryOf(result).runId;
});

afterAll(async () => {
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

async function rowsOf(kind: (typeof KINDS)[number], run: string): Promise<Map<string, string>> {
  const { rows } = await db.pool.query<{ legacy_id: string; id: string }>(
    `SELECT legacy_id, id::text AS id FROM tms.${kind} WHERE run_id = $1 OR last_run_id = $1`, [run]);
  return new Map(rows.map((r) => [r.legacy_id, r.id]));
}

describe('taskfleet id-mapping', () => {
  it('exports every migrated entity exactly, and no rejected record', async () => {
    const out = join(root, 'out', 'id-mapping.json');
    const result = await runCli(['id-mapping', runId, '--out', out, ...connectionArgs(db, prefix, REDIS_URL), '--json']);
    expect(result.code, result.stderr).toBe(0);
    const mapping = JSON.parse(await readFile(out, 'utf8')) as Mapping;
    expect(Object.keys(mapping)).toEqual(['runId', ...KINDS]);
    expect(mapping.runId).toBe(runId);
    const printed = jsonLines(result.stdout).at(-1)!;
    for (const kind of KINDS) {
      const rows = await rowsOf(kind, runId);
      expect(rows.size, kind).toBeGreaterThan(0);
      expect(new Map(Object.entries(mapping[kind])), kind).toEqual(rows);
      expect(printed[kind], kind).toBe(rows.size);
      // Each new id is the UUIDv5 of kind + legacy id.
      const [legacyId, id] = Object.entries(mapping[kind])[0]!;
      expect(id).toBe(newId(kind, legacyId));
    }
    // Rejected records are not in it (except duplicates: their id was migrated from its first record).
    const rejected = expectedRejects.filter((r) => r.kind !== 'task_dependencies' && r.class !== 'duplicate_id' && r.legacyId);
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect(mapping[r.kind as (typeof KINDS)[number]], `${r.kind} ${r.legacyId} (${r.ref})`).not.toHaveProperty([r.legacyId!]);
    // Only the finished file is left behind.
    expect(await readdir(join(root, 'out'))).toEqual(['id-mapping.json']);
  });

  it('escapes legacy ids properly and leaves out other runs\' rows', async () => {
    const awkward = 'T-"quoted" \\ back\nslash\ttab \u2028 ünï €';
    const [project] = (await db.pool.query<{ id: string }>('SELECT id FROM tms.projects WHERE run_id = $1 LIMIT 1', [runId])).rows;
    const insert = `INSERT INTO tms.tasks (id, legacy_id, project_id, title, status, priority, type, run_id, last_run_id, legacy_line)
      VALUES ($1, $2, $3, 'x', 'todo', 'low', 'default', $4, $4, 1)`;
    await db.pool.query(insert, [newId('tasks', awkward), awkward, project!.id, runId]);
    await db.pool.query(insert, [newId('tasks', 'OTHER-RUN-TASK'), 'OTHER-RUN-TASK', project!.id, 'another-run']);

    const out = join(root, 'direct.json');
    const counts = await exportIdMapping(db.pool, runId, out);
    const mapping = JSON.parse(await readFile(out, 'utf8')) as Mapping;
    expect(mapping.tasks[awkward]).toBe(newId('tasks', awkward));
    expect(mapping.tasks).not.toHaveProperty(['OTHER-RUN-TASK']);
    expect(counts.tasks).toBe((await rowsOf('tasks', runId)).size);
    expect(Object.keys(mapping.tasks)).toHaveLength(counts.tasks);
  });

  it('refuses an unknown run (exit 2)', async () => {
    const result = await runCli(['id-mapping', 'no-such-run', '--out', join(root, 'none.json'), ...connectionArgs(db, prefix, REDIS_URL)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Run no-such-run is not in the ledger');
  });
});
