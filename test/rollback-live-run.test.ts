// Rolling back a run that still has jobs: in the queue (its producer stopped), or in flight (its producer
// and workers running). The rollback waits for the jobs in flight, then removes every row the run wrote;
// a job that comes later is dropped by its worker, and the producer stops. Nothing of the run lands
// after its rollback, and `resume` refuses a rolled-back run. Real CLI, Redis and Postgres.
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connectionArgs, runCli, startCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { summaryOf } from './helpers/legacy-files.js';
import { useGeneratedDumps } from './helpers/generated-dumps.js';
import { REDIS_URL } from './helpers/services.js';

const dumps = useGeneratedDumps('rollback-live', {
  // The two data sets share legacy ids, but the first run leaves no row: the second adopts nothing.
  queued: { projects: 4, phasesPerProject: 2, tasks: 300, format: 'jsonl', seed: 11 },
  // Large enough that the run is still going when the rollback comes (about 300 task chunks of 100).
  running: { projects: 30, phasesPerProject: 4, tasks: 30_000, format: 'jsonl', seed: 12 },
});
const TABLES = ['projects', 'phases', 'tasks', 'task_dependencies', 'workflows', 'workflow_runs', 'workflow_templates'] as const;

const args = (...rest: string[]) => [...rest, ...connectionArgs(dumps.db, dumps.prefix)];

/** Rows of every table the run wrote (workflow attempts by their run, templates by the run that stored them). */
async function rowsOf(runId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of TABLES) {
    const { rows: [r] } = await dumps.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.${table} WHERE run_id = $1`, [runId]);
    out[table] = r!.n;
  }
  return out;
}

const NONE = Object.fromEntries(TABLES.map((t) => [t, 0]));

async function doneChunks(runId: string, stage?: string): Promise<number> {
  const { rows: [r] } = await dumps.db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ledger.chunks WHERE run_id = $1 AND status = 'done' AND ($2::text IS NULL OR stage = $2)`, [runId, stage ?? null]);
  return r!.n;
}

describe('rolling back a run that still has jobs', () => {
  it('drops the jobs a stopped producer left in the queue: a worker started after the rollback writes nothing', async () => {
    // No worker: the run's first job waits in the queue until the producer is stopped.
    const producer = startCli(args('migrate', '--legacy-data', dumps.dir('queued'), '--skip-prepare', '--run-id', 'live-queued', '--no-progress'), { timeoutMs: 120_000 });
    await waitFor(async () => (await dumps.db.pool.query(`SELECT 1 FROM ledger.runs WHERE id = 'live-queued' AND status = 'running' AND stage IS NOT NULL`).catch(() => ({ rows: [] }))).rows.length > 0, 'the run to be queued');
    // The first job in the queue (a fixed second's sleep stood in for this).
    const redis = new Redis(REDIS_URL);
    try {
      await waitFor(async () => (await redis.llen(`${dumps.prefix}:migrate:wait`)) > 0, 'the first job in the queue');
    } finally {
      redis.disconnect();
    }
    producer.child.kill('SIGTERM');
    const stopped = await producer.result;
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('interrupted: run live-queued is left where it stopped');

    const rollback = await runCli(args('rollback', '--run-id', 'live-queued', '--force'));
    expect(rollback.code, rollback.stderr).toBe(0);
    const resume = await runCli(args('resume', 'live-queued'));
    expect(resume.code).toBe(2);
    expect(resume.stderr).toMatch(/^taskfleet: Run live-queued was rolled back on \S+: its rows are gone, so there is nothing to resume\. To migrate the data again: taskfleet migrate --legacy-data /m);

    const worker = startCli(args('worker', '--concurrency', '2'), { env: { LOG_LEVEL: 'info' }, timeoutMs: 120_000 });
    await waitFor(() => Promise.resolve(worker.output().stderr.includes('Run live-queued was rolled back: its job is dropped, nothing is written')), 'the worker to drop the job');
    worker.child.kill('SIGTERM');
    await worker.result;
    expect(await rowsOf('live-queued')).toEqual(NONE);
    expect(await doneChunks('live-queued')).toBe(0);
  }, 120_000);

  it('rollback --force of a running run waits for the chunks in flight, removes every row, and the producer stops', async () => {
    const run = startCli(args('migrate', '--legacy-data', dumps.dir('running'), '--skip-prepare', '--run-id', 'live-running',
      '--workers', '1', '--concurrency', '2', '--chunk-size', '100', '--no-progress', '--json'), { timeoutMs: 240_000 });
    await waitFor(async () => await doneChunks('live-running', 'tasks').catch(() => 0) >= 10, 'ten task chunks', 120_000);

    const refused = await runCli(args('rollback', '--run-id', 'live-running'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Run live-running has not finished (status running): roll back with --force to stop it');
    const rollback = await runCli(args('rollback', '--run-id', 'live-running', '--force'));
    expect(rollback.code, rollback.stderr).toBe(0);
    const tasksAtRollback = Number(/tms\.tasks (\d+)/.exec(rollback.stdout)?.[1]);
    expect(tasksAtRollback).toBeGreaterThanOrEqual(1000);

    const result = await run.result;
    expect(result.code, result.stderr).toBe(1);
    expect(summaryOf(result).status).toBe('rolled_back');
    expect(result.stderr).toContain('Run live-running was rolled back while it ran (taskfleet rollback): this producer stops');
    // The run had more to do than it did: it was stopped, not finished.
    const { rows: [chunks] } = await dumps.db.pool.query<{ done: number; total: number }>(
      `SELECT count(*) FILTER (WHERE status = 'done')::int AS done, count(*)::int AS total FROM ledger.chunks WHERE run_id = 'live-running'`);
    expect(chunks!.done).toBeLessThan(chunks!.total);
    // The producer and its workers have ended: nothing of the run is left, or came after.
    expect(await rowsOf('live-running')).toEqual(NONE);
    const { rows: [state] } = await dumps.db.pool.query<{ status: string; rolled_back: boolean }>(
      `SELECT status, rolled_back_at IS NOT NULL AS rolled_back FROM ledger.runs WHERE id = 'live-running'`);
    expect(state).toEqual({ status: 'rolled_back', rolled_back: true });
    const { rows: events } = await dumps.db.pool.query<{ phase: string; outcome: string }>(
      `SELECT phase, outcome FROM ledger.phase_events WHERE run_id = 'live-running' ORDER BY id`);
    expect(events).toEqual([{ phase: 'migrate', outcome: 'failed' }, { phase: 'rollback', outcome: 'refused' }, { phase: 'rollback', outcome: 'passed' }]);
  }, 300_000);
});
