// Issue 4, acceptance 5, with real worker processes, real Redis and Postgres and the local runner: a
// worker SIGKILLed while it runs workflows. Its jobs stall, the other worker takes them over once their
// lock expires, and every workflow of the run ends recorded once as succeeded; the attempts the dead
// worker left 'running' are recorded as 'abandoned' (not lost, not counted as results). Every wait polls
// Postgres; no sleep decides an outcome. Template: test/fixtures/workflow-templates-slow (each workflow
// sleeps 3 s, then prints its task's legacy id).
import { hostname, tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli, startCli, type RunningCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { firstOf, summaryOf } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';
import { describeResult, FIXTURES, TEST_DAGGER_CONFIG, workflowsOf } from './helpers/workflows.js';

const TASKS = 60;
const LOCK_MS = 3000;
const STALLED_MS = 1000;
const SURVIVOR_LOCK_MS = 15_000;
const TEMPLATES = `${FIXTURES}workflow-templates-slow`;
const prefix = uniquePrefix('wf_fault');
const processes: RunningCli[] = [];
let root: string;
let dir: string;
let db: TestDatabase;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-wf-fault-'));
  dir = join(root, 'legacy');
  await generateLegacyData({ out: dir, format: 'jsonl', projects: 3, phasesPerProject: 2, tasks: TASKS, seed: 5 });
  db = await createTestDatabase('wf_fault');
  // The schema first, as a deployment does (workers and migrate racing on a fresh database is not this test's subject).
  const schema = await runCli(['db', 'migrate', '--new-data', db.url], { timeoutMs: 60_000 });
  expect(schema.code, describeResult(schema)).toBe(0);
});

afterAll(async () => {
  await Promise.all(processes.map(async (p) => {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.result;
  }));
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

/** `lockMs`: the victim's is short, so its death shows soon; the survivor's is long, so that a late lock renewal on a busy machine cannot stall its own runs (a second attempt the test does not expect). */
function startWorker(lockMs = LOCK_MS): RunningCli {
  const p = startCli(['worker', ...connectionArgs(db, prefix, REDIS_URL), '--queues', 'migrate,workflows', '--workflow-concurrency', '4',
    '--lock-duration', String(lockMs), '--stalled-interval', String(STALLED_MS)], { timeoutMs: 300_000 });
  processes.push(p);
  return p;
}

interface AttemptRow { legacy_id: string; attempt: number; status: string; worker: string; output_tail: string | null; error: string | null }

describe('a worker killed during workflow runs (local runner, 2 worker processes)', () => {
  it('the other worker re-runs its workflows: each recorded once as succeeded, the dead attempts as abandoned', async () => {
    const victim = startWorker();
    const victimName = `${hostname()}:${victim.child.pid}`;
    const migrate = startCli(['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '0',
      '--templates-dir', TEMPLATES, '--dagger-config', TEST_DAGGER_CONFIG, '--json'], { timeoutMs: 300_000 });
    processes.push(migrate);

    // The victim alone takes the first workflow jobs; once it is running some, the survivor starts and the victim dies.
    const runningOnVictim = async (): Promise<string[]> => {
      const { rows } = await db.pool.query<{ id: string }>(
        `SELECT workflow_id::text AS id FROM tms.workflow_runs WHERE status = 'running' AND worker = $1`, [victimName]).catch(() => ({ rows: [] }));
      return rows.map((r) => r.id);
    };
    await waitFor(async () => {
      if (migrate.child.exitCode !== null) throw new Error(`migrate ended early:\n${migrate.output().stderr.slice(-3000)}`);
      return (await runningOnVictim()).length > 0;
    }, 'the victim worker to be running workflows', 120_000);
    const survivor = startWorker(SURVIVOR_LOCK_MS);
    victim.child.kill('SIGKILL');
    await victim.result;
    const interrupted = await runningOnVictim();
    expect(interrupted.length).toBeGreaterThan(0);

    const result = await migrate.result;
    expect(result.code, describeResult(result)).toBe(0);
    const runId = summaryOf(result).runId;
    const survivorName = `${hostname()}:${survivor.child.pid}`;

    // Every workflow of the run: exactly one final row, succeeded, with its own output.
    const { rows } = await db.pool.query<AttemptRow>(
      `SELECT w.legacy_id, r.attempt, r.status, r.worker, r.output_tail, r.error FROM tms.workflow_runs r JOIN tms.workflows w ON w.id = r.workflow_id
        WHERE r.run_id = $1 ORDER BY w.legacy_id, r.attempt`, [runId]);
    const { rows: [onMigrate] } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM tms.workflows WHERE last_run_id = $1 AND run_mode = 'on-migrate'`, [runId]);
    expect(onMigrate?.n).toBe(TASKS);
    const byTask = new Map<string, AttemptRow[]>();
    for (const r of rows) byTask.set(r.legacy_id, [...(byTask.get(r.legacy_id) ?? []), r]);
    expect(byTask.size).toBe(TASKS);
    const problems: string[] = [];
    for (const [legacyId, attempts] of byTask) {
      const final = attempts.filter((a) => a.status !== 'abandoned');
      if (final.length !== 1 || final[0]!.status !== 'succeeded') problems.push(`${legacyId}: final rows ${final.map((a) => a.status).join(',') || 'none'}`);
      else if (final[0]!.output_tail !== legacyId) problems.push(`${legacyId}: output ${JSON.stringify(final[0]!.output_tail)}`);
      // Attempts are numbered 1, 2, ... and only the last one is a result.
      if (attempts.map((a) => a.attempt).join() !== attempts.map((_, i) => i + 1).join()) problems.push(`${legacyId}: attempts ${attempts.map((a) => a.attempt).join()}`);
      if (attempts.at(-1)!.status === 'abandoned') problems.push(`${legacyId}: the last attempt is abandoned`);
    }
    expect(firstOf(problems)).toEqual([]);

    // The interrupted workflows: their first attempt is the victim's, abandoned with the reason; the survivor's succeeded.
    const interruptedLegacy = (await db.pool.query<{ legacy_id: string }>(
      'SELECT legacy_id FROM tms.workflows WHERE id = ANY($1::uuid[])', [interrupted])).rows.map((r) => r.legacy_id);
    for (const legacyId of interruptedLegacy) {
      const attempts = byTask.get(legacyId)!;
      expect(attempts.length, legacyId).toBe(2);
      expect(attempts[0], legacyId).toMatchObject({ attempt: 1, status: 'abandoned', worker: victimName });
      expect(attempts[0]!.error, legacyId).toMatch(/taken over by another delivery \(its lock expired: the worker died, froze or lost its queue connection\)/);
      expect(attempts[1], legacyId).toMatchObject({ attempt: 2, status: 'succeeded', worker: survivorName });
    }
    // No attempt is left running; every abandoned attempt was the victim's.
    expect(rows.filter((r) => r.status === 'running')).toEqual([]);
    const abandoned = rows.filter((r) => r.status === 'abandoned');
    expect(abandoned.every((r) => r.worker === victimName)).toBe(true);
    expect(abandoned.length).toBeGreaterThanOrEqual(interrupted.length);
    expect(rows.length).toBe(TASKS + abandoned.length);

    // The migrate summary says the same.
    expect(workflowsOf(result)).toMatchObject({ onMigrate: TASKS, done: TASKS, succeeded: TASKS, failed: 0, cached: 0, abandoned: abandoned.length });

    survivor.child.kill('SIGTERM');
    expect((await survivor.result).code).toBe(0);
  });
});
