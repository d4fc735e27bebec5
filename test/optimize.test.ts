// The optimize phase, end to end through the built CLI against real Redis and Postgres.
//
// After a small migration (5k tasks) loaded without secondary indexes, `taskfleet optimize` builds them
// (checked in pg_indexes / pg_index, not in the report), and its report holds the typical queries' plans
// and latencies before and after — after, each typical query reads its new index. A second optimize
// builds nothing and says so; an INVALID index (what an interrupted concurrent build leaves) is dropped
// and rebuilt. With the indexes in place the workers' write paths still work: the same data migrated
// again as another run (the upsert/claim path), a disjoint data set (the plain COPY path), and both
// commands once more (no-ops: no row version changes).
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { entityCounts, rowVersions } from './helpers/ledger.js';
import { jsonLines, runFleet, summaryOf } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, uniquePrefix, type TestDatabase } from './helpers/services.js';

const prefix = uniquePrefix('optimize');
let root: string;
let legacy: string;
let db: TestDatabase;

/** The secondary indexes and the typical query each must serve (this file's own list). */
const EXPECTED_INDEXES = [
  'tasks_project_created', 'tasks_phase_status', 'tasks_assignee_open', 'phases_project_position',
  'task_dependencies_depends_on', 'projects_legacy_id', 'phases_legacy_id', 'tasks_legacy_id', 'workflow_runs_workflow',
];
const SERVES: Record<string, string> = { project_tasks: 'tasks_project_created', phase_board: 'tasks_phase_status', user_open_tasks: 'tasks_assignee_open' };

interface Plan { query: string; nodeTypes: string[]; indexes: string[]; seqScans: string[]; totalCost: number }
interface Latency { query: string; samples: number; p50Ms: number; p95Ms: number }
interface Report {
  summary: string;
  indexes: { name: string; action: string; ms: number }[];
  before: { plans: Plan[]; latencies: Latency[] };
  after: { plans: Plan[]; latencies: Latency[] };
}

const migrateArgs = (dir: string, runId: string) =>
  ['migrate', '--legacy-data', dir, '--run-id', runId, '--workers', '2', '--no-progress', '--skip-prepare', '--json', ...connectionArgs(db, prefix)];

async function optimize(report: string): Promise<{ code: number | null; stdout: string; stderr: string; report: Report }> {
  const result = await runFleet(db.pool, ['optimize', '--optimize-report', report, '--samples', '10', ...connectionArgs(db, prefix)]);
  return { ...result, report: JSON.parse(await readFile(report, 'utf8')) as Report };
}

async function indexesInDatabase(): Promise<Map<string, boolean>> {
  const { rows } = await db.pool.query<{ name: string; valid: boolean }>(
    `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_indexes x
       JOIN pg_class c ON c.relname = x.indexname JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = x.schemaname
       JOIN pg_index i ON i.indexrelid = c.oid WHERE x.schemaname = 'tms'`);
  return new Map(rows.map((r) => [r.name, r.valid]));
}

/** A copy of a generated jsonl data set whose every legacy id carries `tag` (so it shares none). */
async function relabel(from: string, to: string, tag: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    if (!/^(projects|phases|tasks|task_dependencies)\.jsonl$/.test(name)) continue;
    const text = await readFile(join(from, name), 'utf8');
    await writeFile(join(to, name), text.replace(/"(P|PH|T)-/g, `"${tag}$1-`));
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-optimize-'));
  legacy = join(root, 'legacy');
  await generateLegacyData({ out: legacy, projects: 100, phasesPerProject: 5, tasks: 5000, format: 'jsonl', seed: 7 });
  db = await createTestDatabase('optimize');
  const result = await runFleet(db.pool, migrateArgs(legacy, 'opt-a'));
  expect(result.code, result.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('taskfleet optimize', () => {
  it('builds the secondary indexes, and afterwards the typical queries read them', async () => {
    const before = await indexesInDatabase();
    for (const name of EXPECTED_INDEXES) expect(before.has(name), `${name} before optimize`).toBe(false);

    const { code, stdout, stderr, report } = await optimize(join(root, 'reports', 'optimize.json'));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/Created 9 secondary indexes/);

    const after = await indexesInDatabase();
    for (const name of EXPECTED_INDEXES) expect(after.get(name), `${name} built and valid`).toBe(true);
    expect(report.indexes.map((i) => i.name).sort()).toEqual([...EXPECTED_INDEXES].sort());
    for (const index of report.indexes) {
      expect(index.action).toBe('created');
      expect(index.ms).toBeGreaterThanOrEqual(0);
    }

    for (const [query, index] of Object.entries(SERVES)) {
      const planBefore = report.before.plans.find((p) => p.query === query);
      const planAfter = report.after.plans.find((p) => p.query === query);
      expect(planBefore, `${query} explained before`).toBeDefined();
      expect(planAfter, `${query} explained after`).toBeDefined();
      // Before: no index on tasks but the primary key exists, so the plan reads tasks sequentially.
      expect(planBefore!.seqScans).toContain('tasks');
      expect(planBefore!.indexes).not.toContain(index);
      expect(planAfter!.indexes, `${query} after: ${JSON.stringify(planAfter)}`).toContain(index);
      expect(planAfter!.seqScans).not.toContain('tasks');
      expect(planAfter!.totalCost).toBeLessThan(planBefore!.totalCost);
      for (const side of [report.before, report.after]) {
        const latency = side.latencies.find((l) => l.query === query);
        expect(latency?.samples).toBe(10);
        expect(latency!.p50Ms).toBeGreaterThan(0);
        expect(latency!.p95Ms).toBeGreaterThanOrEqual(latency!.p50Ms);
      }
    }

    const { rows: events } = await db.pool.query<{ run_id: string; outcome: string }>(`SELECT run_id, outcome FROM ledger.phase_events WHERE phase = 'optimize'`);
    expect(events).toEqual([{ run_id: 'opt-a', outcome: 'passed' }]);
  });

  it('builds nothing the second time, and says so', async () => {
    const { code, stdout, stderr, report } = await optimize(join(root, 'reports', 'optimize-2.json'));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/already in place; nothing was created/);
    expect(report.indexes.every((i) => i.action === 'present')).toBe(true);
    const json = await runCli(['optimize', '--optimize-report', join(root, 'reports', 'optimize-3.json'), '--samples', '3', '--json', ...connectionArgs(db, prefix)]);
    expect(json.code, json.stderr).toBe(0);
    expect(jsonLines(json.stdout).at(-1)).toMatchObject({ event: 'optimize', created: 0, rebuilt: 0, present: 9 });
  });

  it('drops and rebuilds an index an interrupted concurrent build left INVALID', async () => {
    // What CREATE INDEX CONCURRENTLY leaves when it is cancelled half-way: the index exists, invalid.
    await db.pool.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'tms.tasks_phase_status'::regclass`);
    expect((await indexesInDatabase()).get('tasks_phase_status')).toBe(false);
    const { code, stderr, report } = await optimize(join(root, 'reports', 'optimize-4.json'));
    expect(code, stderr).toBe(0);
    expect(report.indexes.filter((i) => i.action !== 'present')).toMatchObject([{ name: 'tasks_phase_status', action: 'rebuilt' }]);
    expect((await indexesInDatabase()).get('tasks_phase_status')).toBe(true);
    expect(report.after.plans.find((p) => p.query === 'phase_board')?.indexes).toContain('tasks_phase_status');
  });

  it('leaves the workers\' write paths working: the same data as another run, new data, and both again as no-ops', async () => {
    const counts = await entityCounts(db.pool);
    // The same records again under another run id: every row exists, so the claim/upsert path runs.
    const again = await runFleet(db.pool, migrateArgs(legacy, 'opt-b'));
    expect(again.code, again.stderr).toBe(0);
    expect(summaryOf(again)).toMatchObject({ status: 'completed', balanced: true, rejected: 0 });
    expect(await entityCounts(db.pool)).toEqual(counts);
    const { rows: [adopted] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.tasks WHERE run_id = 'opt-a' AND last_run_id = 'opt-b'`);
    expect(adopted!.n).toBe(5000);

    // A disjoint data set: plain COPY into tables that now carry the secondary indexes.
    const other = join(root, 'other');
    await relabel(legacy, other, 'N');
    const fresh = await runFleet(db.pool, migrateArgs(other, 'opt-c'));
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(summaryOf(fresh)).toMatchObject({ status: 'completed', balanced: true, rejected: 0 });
    const { rows: [added] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.tasks WHERE run_id = 'opt-c'`);
    expect(added!.n).toBe(5000);

    // Both once more: nothing is written.
    const versions = await rowVersions(db.pool);
    for (const [dir, runId] of [[legacy, 'opt-b'], [other, 'opt-c']] as const) {
      const noop = await runFleet(db.pool, migrateArgs(dir, runId));
      expect(noop.code, noop.stderr).toBe(0);
    }
    expect(await rowVersions(db.pool)).toBe(versions);
    for (const valid of (await indexesInDatabase()).values()) expect(valid).toBe(true);
  }, 180_000);
});
