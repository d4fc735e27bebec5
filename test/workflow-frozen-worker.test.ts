// A worker frozen (SIGSTOP, not dead) while its workflow steps run, with real worker processes, real Redis
// and Postgres and the local runner. Its jobs' locks expire, a second worker takes them over and runs
// them; when the frozen worker resumes (SIGCONT) it cannot renew those locks and must kill its running
// steps at once instead of letting them finish next to the new delivery's. Each step appends its task's
// legacy id to a file when it finishes: every task's step finishes exactly once. Waits poll Postgres.
import { hostname, tmpdir } from 'node:os';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli, startCli, type RunningCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { summaryOf } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';
import { describeResult, TEST_DAGGER_CONFIG, writeOneStepTemplate } from './helpers/workflows.js';

const TASKS = 4;
// Long enough that the frozen worker's steps are still running when it resumes, on a busy machine too.
const STEP_SECONDS = 20;
const prefix = uniquePrefix('wf_frozen');
const processes: RunningCli[] = [];
let root: string;
let db: TestDatabase;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-wf-frozen-'));
  await generateLegacyData({ out: join(root, 'legacy'), format: 'jsonl', projects: 1, phasesPerProject: 1, tasks: TASKS, seed: 11 });
  await writeFile(join(root, 'finished'), '');
  await writeOneStepTemplate(join(root, 'templates'), {
    name: 'slow', script: `sleep ${STEP_SECONDS}; printf "%s\\n" "$TASK_LEGACY_ID" >> "$FINISHED"; printf "%s" "$TASK_LEGACY_ID"`,
    env: { FINISHED: join(root, 'finished') }, timeoutSeconds: 120,
  });
  db = await createTestDatabase('wf_frozen');
  const schema = await runCli(['db', 'migrate', '--new-data', db.url], { timeoutMs: 60_000 });
  expect(schema.code, describeResult(schema)).toBe(0);
});

afterAll(async () => {
  await Promise.all(processes.map(async (p) => {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
    }
    await p.result;
  }));
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

function startWorker(lockMs: number): RunningCli {
  const p = startCli(['worker', ...connectionArgs(db, prefix, REDIS_URL), '--queues', 'migrate,workflows', '--workflow-concurrency', String(TASKS),
    '--lock-duration', String(lockMs), '--stalled-interval', '1000'], { timeoutMs: 300_000 });
  processes.push(p);
  return p;
}

async function runningOn(worker: RunningCli): Promise<number> {
  const { rows: [row] } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM tms.workflow_runs WHERE status = 'running' AND worker = $1`, [`${hostname()}:${worker.child.pid}`]);
  return row!.n;
}

describe('a frozen worker whose workflow jobs were taken over', () => {
  it('kills its running steps when it resumes: every step finishes once, the record does not say the worker stopped', async () => {
    const frozen = startWorker(2000);
    const migrate = startCli(['migrate', '--skip-prepare', '--legacy-data', join(root, 'legacy'), ...connectionArgs(db, prefix, REDIS_URL), '--workers', '0',
      '--templates-dir', join(root, 'templates'), '--dagger-config', TEST_DAGGER_CONFIG, '--json'], { timeoutMs: 300_000 });
    processes.push(migrate);
    await waitFor(async () => (await runningOn(frozen)) === TASKS, 'the first worker to run every workflow', 120_000);
    frozen.child.kill('SIGSTOP');
    const other = startWorker(30_000);
    await waitFor(async () => (await runningOn(other)) === TASKS, 'the second worker to take every workflow over', 60_000);
    frozen.child.kill('SIGCONT');

    const result = await migrate.result;
    expect(result.code, describeResult(result)).toBe(0);
    const runId = summaryOf(result).runId;

    // Each task's step ran to its end once: the frozen worker's steps were killed, not left to finish.
    const finished = (await readFile(join(root, 'finished'), 'utf8')).split('\n').filter(Boolean).sort();
    const { rows: tasks } = await db.pool.query<{ legacy_id: string }>('SELECT legacy_id FROM tms.tasks ORDER BY legacy_id');
    expect(finished).toEqual(tasks.map((t) => t.legacy_id));

    const { rows } = await db.pool.query<{ attempt: number; status: string; worker: string; error: string | null }>(
      `SELECT attempt, status, worker, error FROM tms.workflow_runs WHERE run_id = $1 ORDER BY workflow_id, attempt`, [runId]);
    const frozenName = `${hostname()}:${frozen.child.pid}`;
    expect(rows.filter((r) => r.status === 'succeeded')).toHaveLength(TASKS);
    const abandoned = rows.filter((r) => r.status === 'abandoned');
    expect(abandoned).toHaveLength(TASKS);
    for (const r of abandoned) {
      expect(r).toMatchObject({ attempt: 1, worker: frozenName });
      expect(r.error).toMatch(/taken over by another delivery/);
      expect(r.error).not.toMatch(/worker stopped/);
    }
    // The resumed worker said why it stopped its runs (its log is JSON lines on stderr).
    await waitFor(async () => Promise.resolve(/stopped, its step killed: The worker lost job/.test(frozen.output().stderr)), 'the resumed worker to log the lock loss', 20_000);

    for (const p of [frozen, other]) p.child.kill('SIGTERM');
    expect((await frozen.result).code).toBe(0);
    expect((await other.result).code).toBe(0);
  });
});
