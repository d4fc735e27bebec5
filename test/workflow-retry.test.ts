// An operator's retry of a workflow job on Bull Board (the board's retry is BullMQ's job.retry('completed')),
// with a real worker process, real Redis and Postgres and the local runner. A step that exits non-zero is a
// failed result, so its job completes; a retry of it runs the workflow again as a new attempt of the run
// (numbered on within the run), and the job's return value is the new outcome. A retry of a workflow
// that already succeeded runs nothing and repeats the recorded outcome.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli, startCli, type RunningCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { summaryOf } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';
import { describeResult, TEST_DAGGER_CONFIG, workflowsOf, writeOneStepTemplate } from './helpers/workflows.js';

const TASKS = 3;
const prefix = uniquePrefix('wf_retry');
let root: string;
let db: TestDatabase;
let worker: RunningCli | null = null;
let queue: Queue;

interface JobResult { outcome: string; runRowId: number | null; error?: string; alreadyDone?: boolean }

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-wf-retry-'));
  await generateLegacyData({ out: join(root, 'legacy'), format: 'jsonl', projects: 1, phasesPerProject: 1, tasks: TASKS, seed: 3 });
  // One template for every type: its step refuses (exit 3) until the file `go` exists.
  await writeOneStepTemplate(join(root, 'templates'), {
    name: 'refuse', script: 'test -f "$GO_FILE" || { echo "no go file" >&2; exit 3; }; printf "%s\\n" "$TASK_LEGACY_ID"',
    env: { GO_FILE: join(root, 'go') }, timeoutSeconds: 30,
  });
  db = await createTestDatabase('wf_retry');
  const schema = await runCli(['db', 'migrate', '--new-data', db.url], { timeoutMs: 60_000 });
  expect(schema.code, describeResult(schema)).toBe(0);
  queue = new Queue('workflows', { connection: { url: REDIS_URL }, prefix });
});

afterAll(async () => {
  if (worker && worker.child.exitCode === null) worker.child.kill('SIGKILL');
  await worker?.result;
  await queue?.close();
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

/** Retries a completed job as Bull Board does, and waits for its new return value. */
async function retry(jobId: string): Promise<JobResult> {
  const job = (await queue.getJob(jobId))!;
  await job.retry('completed');
  let value: JobResult | null = null;
  await waitFor(async () => {
    const again = await queue.getJob(jobId);
    value = (await again?.getState()) === 'completed' ? (again?.returnvalue as JobResult | null) : null;
    return value !== null;
  }, `job ${jobId} to complete again`, 60_000);
  return value!;
}

async function attempts(workflowId: string): Promise<Array<[number, string]>> {
  const { rows } = await db.pool.query<{ attempt: number; status: string }>(
    'SELECT attempt, status FROM tms.workflow_runs WHERE workflow_id = $1 ORDER BY id', [workflowId]);
  return rows.map((r) => [r.attempt, r.status]);
}

describe('retrying a workflow job', () => {
  it('runs a failed workflow again as a new attempt; a succeeded one stays done and repeats its outcome', async () => {
    worker = startCli(['worker', ...connectionArgs(db, prefix, REDIS_URL), '--queues', 'migrate,workflows'], { timeoutMs: 240_000 });
    const migrated = await runCli(['migrate', '--skip-prepare', '--legacy-data', join(root, 'legacy'), ...connectionArgs(db, prefix, REDIS_URL),
      '--workers', '0', '--templates-dir', join(root, 'templates'), '--dagger-config', TEST_DAGGER_CONFIG, '--json'], { timeoutMs: 180_000 });
    expect(migrated.code, describeResult(migrated)).toBe(0);
    expect(workflowsOf(migrated)).toMatchObject({ onMigrate: TASKS, failed: TASKS, succeeded: 0 });
    const runId = summaryOf(migrated).runId;

    const jobs = await queue.getJobs(['completed']);
    expect(jobs).toHaveLength(TASKS);
    for (const j of jobs) expect(j.returnvalue).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/^step refuse exited 3; last output: no go file/) as string });
    const [job, other] = jobs as [typeof jobs[0], typeof jobs[0]];
    const workflowId = (job.data as { workflowId: string }).workflowId;
    const first = job.returnvalue as JobResult;

    // Retried while the step still refuses: a second failed attempt, recorded, and the job says so.
    const second = await retry(job.id!);
    expect(second).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/step refuse exited 3/) as string });
    expect(second.runRowId).not.toBe(first.runRowId);
    expect(await attempts(workflowId)).toEqual([[1, 'failed'], [2, 'failed']]);

    // Fixed, retried: it runs and succeeds.
    await writeFile(join(root, 'go'), '');
    const third = await retry(job.id!);
    expect(third).toMatchObject({ outcome: 'succeeded' });
    expect(await attempts(workflowId)).toEqual([[1, 'failed'], [2, 'failed'], [3, 'succeeded']]);

    // Retried once more: nothing runs, the return value repeats the recorded outcome.
    const fourth = await retry(job.id!);
    expect(fourth).toEqual({ outcome: 'succeeded', runRowId: third.runRowId, alreadyDone: true });
    expect(await attempts(workflowId)).toEqual([[1, 'failed'], [2, 'failed'], [3, 'succeeded']]);

    // The run's ledger counts the workflow's latest result; the other workflows are untouched.
    const { rows: [counts] } = await db.pool.query<{ succeeded: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded, count(*) FILTER (WHERE status = 'failed')::int AS failed
         FROM tms.workflow_runs WHERE run_id = $1`, [runId]);
    expect(counts).toEqual({ succeeded: 1, failed: TASKS + 1 });
    expect(await attempts((other.data as { workflowId: string }).workflowId)).toEqual([[1, 'failed']]);

    worker.child.kill('SIGTERM');
    expect((await worker.result).code).toBe(0);
  });
});
