// Postgres ends every session of the fleet in the middle of a run (a failover, a restart, an operator's
// pg_terminate_backend), twice. The worker and the producer survive it: the jobs in flight fail and are
// retried on new connections, the run completes with exact counts, and the worker is still there to
// take more work. Real Redis and Postgres.
import { describe, expect, it } from 'vitest';
import { connectionArgs, startCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { FLEET_APP_NAME, summaryOf } from './helpers/legacy-files.js';
import { useGeneratedDumps } from './helpers/generated-dumps.js';

const dumps = useGeneratedDumps('pg-loss', { legacy: { projects: 20, phasesPerProject: 4, tasks: 20_000, format: 'jsonl', seed: 41 } });

/** Ends every session the fleet opened (not the test's own); returns how many. */
async function terminateFleetSessions(): Promise<number> {
  const { rows: [r] } = await dumps.db.pool.query<{ n: number }>(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, [FLEET_APP_NAME]);
  return r!.n;
}

async function doneTaskChunks(): Promise<number> {
  const { rows: [r] } = await dumps.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger.chunks WHERE stage = 'tasks' AND status = 'done'`).catch(() => ({ rows: [{ n: 0 }] }));
  return r!.n;
}

describe('Postgres ends the fleet\'s sessions mid-run', () => {
  it('the worker and the producer survive, and the run completes with exact counts', async () => {
    const env = { PGAPPNAME: FLEET_APP_NAME };
    const worker = startCli(['worker', '--concurrency', '2', ...connectionArgs(dumps.db, dumps.prefix)], { env, timeoutMs: 240_000 });
    const migrate = startCli(['migrate', '--legacy-data', dumps.dir('legacy'), '--skip-prepare', '--chunk-size', '200', '--no-progress', '--json',
      ...connectionArgs(dumps.db, dumps.prefix)], { env, timeoutMs: 240_000 });
    try {
      await waitFor(async () => await doneTaskChunks() >= 5, 'five task chunks', 120_000);
      expect(await terminateFleetSessions()).toBeGreaterThan(1);
      await waitFor(async () => await doneTaskChunks() >= 20, 'twenty task chunks', 120_000);
      expect(await terminateFleetSessions()).toBeGreaterThan(1);

      const result = await migrate.result;
      expect(result.code, result.stderr.slice(-3000)).toBe(0);
      const summary = summaryOf(result);
      expect(summary.status).toBe('completed');
      expect(summary.kinds.find((k) => k.kind === 'tasks')).toMatchObject({ legacy: 20_000, migrated: 20_000, rejected: 0 });
      const { rows: [tasks] } = await dumps.db.pool.query<{ n: number; distinct: number }>('SELECT count(*)::int AS n, count(DISTINCT legacy_id)::int AS distinct FROM tms.tasks');
      expect(tasks).toEqual({ n: 20_000, distinct: 20_000 });
      // Still running, and it never printed a crash.
      expect(worker.child.exitCode).toBeNull();
      expect(worker.output().stderr).not.toMatch(/Unhandled 'error' event|^\s+at /m);
    } finally {
      migrate.child.kill('SIGKILL');
      worker.child.kill('SIGTERM');
      await worker.result;
    }
  }, 300_000);
});
