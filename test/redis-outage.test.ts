// Redis stops answering the producer in the middle of a run (a TCP proxy in front of the real Redis is
// cut). migrate ends at once, saying what happened and how to finish the run, with its phase recorded
// failed — not hanging for good on a client that keeps reconnecting. Once Redis answers, `resume`
// completes the run with exact counts. Real Redis and Postgres.
import { describe, expect, it } from 'vitest';
import { connectionArgs, runCli, startCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { summaryOf } from './helpers/legacy-files.js';
import { REDIS_URL } from './helpers/services.js';
import { useGeneratedDumps } from './helpers/generated-dumps.js';
import { startRedisProxy } from './helpers/redis-proxy.js';

const dumps = useGeneratedDumps('redis-outage', { legacy: { projects: 20, phasesPerProject: 4, tasks: 20_000, format: 'jsonl', seed: 51 } });

describe('Redis stops answering the producer mid-run', () => {
  it('migrate ends at once with what to do, and resume completes the run once Redis answers', async () => {
    const proxy = await startRedisProxy();
    const worker = startCli(['worker', '--concurrency', '2', ...connectionArgs(dumps.db, dumps.prefix, REDIS_URL)], { timeoutMs: 240_000 });
    try {
      const migrate = startCli(['migrate', '--legacy-data', dumps.dir('legacy'), '--skip-prepare', '--run-id', 'outage', '--chunk-size', '200', '--no-progress',
        ...connectionArgs(dumps.db, dumps.prefix, proxy.url)], { timeoutMs: 120_000 });
      await waitFor(async () => {
        const { rows } = await dumps.db.pool.query(`SELECT 1 FROM ledger.chunks WHERE stage = 'tasks' AND status = 'done' OFFSET 2`).catch(() => ({ rows: [] }));
        return rows.length > 0;
      }, 'three task chunks', 120_000);
      await proxy.cut();
      const started = Date.now();
      const stopped = await migrate.result;
      expect(stopped.signal, 'migrate hung and was killed by the test\'s timeout').toBeNull();
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toMatch(/^taskfleet: lost the connection to the queues \(.+\): run outage is left where it stopped; once they answer again, finish it with: taskfleet resume outage --redis redis:\/\/127\.0\.0\.1:\d+\/0 --prefix '\{\S+\}'$/m);
      const { rows: events } = await dumps.db.pool.query<{ outcome: string }>(`SELECT outcome FROM ledger.phase_events WHERE phase = 'migrate' AND run_id = 'outage'`);
      expect(events).toEqual([{ outcome: 'failed' }]);

      const resumed = await runCli(['resume', 'outage', '--no-progress', '--json', ...connectionArgs(dumps.db, dumps.prefix, REDIS_URL)], { timeoutMs: 180_000 });
      expect(resumed.code, `${resumed.stdout.slice(-1500)}\n${resumed.stderr.slice(-3000)}`).toBe(0);
      expect(summaryOf(resumed).kinds.find((k) => k.kind === 'tasks')).toMatchObject({ legacy: 20_000, migrated: 20_000, rejected: 0 });
      const { rows: [tasks] } = await dumps.db.pool.query<{ n: number }>('SELECT count(DISTINCT legacy_id)::int AS n FROM tms.tasks');
      expect(tasks!.n).toBe(20_000);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.result;
    }
  }, 300_000);
});
