// Issue 4, acceptance 4 (workflow result cache), end to end through the built CLI (real Redis and
// Postgres, local runner, test/fixtures/workflow-templates-cache: default and feature run on migrate
// and succeed). Four migration runs over the same data, each with its own --run-id:
//  A executes every on-migrate workflow;
//  B (same data) executes nothing: every workflow is a cache hit reusing A's result;
//  C (one task's title edited in the legacy file) re-runs exactly that task's workflow;
//  D (--no-cache) executes every workflow again;
//  E (runner: dagger, a fake Dagger session) reuses none of the local results: every step runs in its image;
//  F (local again) reuses E's Dagger results.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { progressReport } from '../src/ledger/progress-report.js';
import { findRun } from '../src/ledger/runs.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { chainOf, startFakeDaggerSession } from './helpers/fake-dagger-session.js';
import { runFleet, summaryOf } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';
import { attemptsByStatus, describeResult, FIXTURES, TEST_DAGGER_CONFIG, workflowsOf, type WorkflowsSummary } from './helpers/workflows.js';

const TASKS = 300;
const prefix = uniquePrefix('wfcache');
let root: string;
let dir: string;
let db: TestDatabase;
/** On-migrate workflows of the data set (default and feature tasks). */
let onMigrate = 0;

async function migrate(runId: string, extra: string[] = [], opts: { daggerConfig?: string; env?: Record<string, string> } = {}): Promise<WorkflowsSummary> {
  const result = await runFleet(db.pool, ['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2',
    '--json', '--run-id', runId, '--templates-dir', `${FIXTURES}workflow-templates-cache`, '--dagger-config', opts.daggerConfig ?? TEST_DAGGER_CONFIG, ...extra],
  { env: opts.env });
  expect(result.code, describeResult(result)).toBe(0);
  expect(summaryOf(result)).toMatchObject({ runId, status: 'completed' });
  return workflowsOf(result);
}

async function succeededRows(): Promise<number> {
  const { rows: [row] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.workflow_runs WHERE status = 'succeeded'`);
  return row!.n;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-wfcache-'));
  dir = join(root, 'legacy');
  await generateLegacyData({ out: dir, format: 'jsonl', projects: 20, phasesPerProject: 3, tasks: TASKS, seed: 7 });
  db = await createTestDatabase('wfcache');
});

afterAll(async () => {
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('workflow result cache across migration runs', () => {
  it('run A executes every on-migrate workflow', async () => {
    const a = await migrate('wf-a');
    const { rows: [types] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.tasks WHERE type IN ('default', 'feature')`);
    onMigrate = types!.n;
    expect(onMigrate).toBeGreaterThan(TASKS / 3);
    expect(a).toMatchObject({ workflows: TASKS, created: TASKS, onMigrate, succeeded: onMigrate, failed: 0, cached: 0 });
    expect(await attemptsByStatus(db.pool, 'wf-a')).toEqual({ succeeded: onMigrate });
  });

  it('run B over the same data executes nothing: every on-migrate workflow is a cache hit', async () => {
    expect(onMigrate, 'run A did not complete').toBeGreaterThan(0);
    const executedBefore = await succeededRows();
    const b = await migrate('wf-b');
    expect(b).toMatchObject({ workflows: TASKS, created: 0, onMigrate, succeeded: 0, failed: 0, cached: onMigrate });
    expect(await attemptsByStatus(db.pool, 'wf-b')).toEqual({ cached: onMigrate });
    expect(await succeededRows()).toBe(executedBefore);
    // Each hit names the succeeded attempt it reuses: the same workflow's run in A, same definition, same output.
    const { rows: [check] } = await db.pool.query<{ hits: number; matching: number }>(
      `SELECT count(*)::int AS hits,
              count(*) FILTER (WHERE src.run_id = 'wf-a' AND src.status = 'succeeded' AND src.workflow_id = c.workflow_id
                                 AND src.definition_hash = c.definition_hash AND src.output_digest = c.output_digest AND c.cache_hit)::int AS matching
         FROM tms.workflow_runs c JOIN tms.workflow_runs src ON src.id = c.cached_from WHERE c.run_id = 'wf-b'`);
    expect(check).toEqual({ hits: onMigrate, matching: onMigrate });
    // The workflows themselves are unchanged, only marked as last migrated by B.
    const { rows: [marks] } = await db.pool.query<{ b: number; from_a: number }>(
      `SELECT count(*) FILTER (WHERE last_run_id = 'wf-b')::int AS b, count(*) FILTER (WHERE run_id = 'wf-a')::int AS from_a FROM tms.workflows`);
    expect(marks).toEqual({ b: TASKS, from_a: TASKS });
  });

  it('run C after one task\'s title changed in the legacy file re-runs exactly that task\'s workflow', async () => {
    expect(onMigrate, 'run A did not complete').toBeGreaterThan(0);
    const file = join(dir, 'tasks.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n');
    const index = lines.findIndex((l) => l.trim() !== '' && (JSON.parse(l) as { type?: string }).type === 'feature');
    expect(index).toBeGreaterThanOrEqual(0);
    const task = JSON.parse(lines[index]!) as { id: string; title: string };
    const title = `${task.title} (edited)`;
    lines[index] = JSON.stringify({ ...task, title });
    await writeFile(file, lines.join('\n'));
    const { rows: [before] } = await db.pool.query<{ hash: string }>('SELECT definition_hash AS hash FROM tms.workflows WHERE legacy_id = $1', [task.id]);

    const c = await migrate('wf-c');
    expect(c).toMatchObject({ workflows: TASKS, created: 0, onMigrate, succeeded: 1, failed: 0, cached: onMigrate - 1 });
    const { rows: executed } = await db.pool.query<{ legacy_id: string; output_tail: string; definition_hash: string; current: string }>(
      `SELECT w.legacy_id, r.output_tail, r.definition_hash, w.definition_hash AS current
         FROM tms.workflow_runs r JOIN tms.workflows w ON w.id = r.workflow_id WHERE r.run_id = 'wf-c' AND r.status = 'succeeded'`);
    expect(executed.map((e) => e.legacy_id)).toEqual([task.id]);
    expect(executed[0]!.output_tail.startsWith(`${title}\n`)).toBe(true);
    expect(executed[0]!.definition_hash).toBe(executed[0]!.current);
    expect(executed[0]!.definition_hash).not.toBe(before!.hash);
  });

  it('run D with --no-cache executes every on-migrate workflow again', async () => {
    expect(onMigrate, 'run A did not complete').toBeGreaterThan(0);
    const executedBefore = await succeededRows();
    const d = await migrate('wf-d', ['--no-cache']);
    expect(d).toMatchObject({ onMigrate, succeeded: onMigrate, failed: 0, cached: 0 });
    expect(await attemptsByStatus(db.pool, 'wf-d')).toEqual({ succeeded: onMigrate });
    expect(await succeededRows()).toBe(executedBefore + onMigrate);
  });

  it('run E on Dagger reuses no local result: every on-migrate workflow runs in its image', async () => {
    expect(onMigrate, 'run A did not complete').toBeGreaterThan(0);
    const fake = await startFakeDaggerSession();
    let e: WorkflowsSummary;
    try {
      e = await migrate('wf-e', [], {
        daggerConfig: `${FIXTURES}workflow-dagger-engine.yaml`,
        env: { DAGGER_SESSION_PORT: String(fake.port), DAGGER_SESSION_TOKEN: fake.token, OTEL_SDK_DISABLED: 'true' },
      });
    } finally {
      await fake.close();
    }
    expect(e).toMatchObject({ onMigrate, succeeded: onMigrate, failed: 0, cached: 0 });
    expect(await attemptsByStatus(db.pool, 'wf-e')).toEqual({ succeeded: onMigrate });
    const { rows: [runners] } = await db.pool.query<{ dagger: number }>(
      `SELECT count(*) FILTER (WHERE runner = 'dagger')::int AS dagger FROM tms.workflow_runs WHERE run_id = 'wf-e'`);
    expect(runners!.dagger).toBe(onMigrate);
    // Attempts are numbered within the run: each workflow's first attempt in E is 1, whatever A to D recorded.
    const { rows: [numbers] } = await db.pool.query<{ first: number }>(
      `SELECT count(*) FILTER (WHERE attempt = 1)::int AS first FROM tms.workflow_runs WHERE run_id = 'wf-e'`);
    expect(numbers!.first).toBe(onMigrate);
    // The engine was asked to execute a step of every one of them.
    const execTasks = new Set(fake.queries.flatMap((q) => {
      const chain = chainOf(q);
      if (!chain.some((f) => f.name === 'withExec')) return [];
      const legacy = chain.find((f) => f.name === 'withEnvVariable' && f.args.name === 'TASK_LEGACY_ID');
      return typeof legacy?.args.value === 'string' ? [legacy.args.value] : [];
    }));
    expect(execTasks.size).toBe(onMigrate);
  });

  it('run F on the local runner reuses the Dagger results', async () => {
    expect(onMigrate, 'run A did not complete').toBeGreaterThan(0);
    const f = await migrate('wf-f');
    expect(f).toMatchObject({ onMigrate, succeeded: 0, failed: 0, cached: onMigrate });
    const { rows: [hits] } = await db.pool.query<{ n: number; from_e: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE src.run_id = 'wf-e' AND src.runner = 'dagger' AND c.runner = 'dagger')::int AS from_e
         FROM tms.workflow_runs c JOIN tms.workflow_runs src ON src.id = c.cached_from WHERE c.run_id = 'wf-f'`);
    expect(hits).toEqual({ n: onMigrate, from_e: onMigrate });
  });

  // Found by the workflows probe: B, C and D took A's workflows over (last_run_id), and A's status then
  // read "0/0 on-migrate done: 0 succeeded" — a past run's report rewritten by a later run.
  it('run A still reports its own workflows after the later runs took them over', async () => {
    expect(onMigrate, 'run A did not complete').toBeGreaterThan(0);
    const status = await runCli(['status', 'wf-a', '--json', ...connectionArgs(db, prefix, REDIS_URL)]);
    expect(status.code, status.stderr).toBe(0);
    const { workflows } = JSON.parse(status.stdout) as { workflows: WorkflowsSummary };
    expect(workflows).toMatchObject({ workflows: TASKS, created: TASKS, onMigrate, succeeded: onMigrate, failed: 0, cached: 0 });
    // The progress API's report (the server's /api/runs/RUN and its event stream) too.
    const progress = await progressReport(db.pool, (await findRun(db.pool, 'wf-a'))!);
    expect(progress.stages.find((s) => s.stage === 'workflows')).toMatchObject({ total: onMigrate, done: onMigrate, failed: 0 });
  });
});
