// A run records where its jobs are queued (prefix, Redis without a password): status shows it, the hints
// printed when it stops name --prefix, and a resume from elsewhere on another prefix is refused rather than
// queueing where no worker listens (unless --move-queue says so).
import { describe, expect, it } from 'vitest';
import { connectionArgs, runCli, startCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { deleteQueueKeys, REDIS_URL } from './helpers/services.js';
import { useSmallDump } from './helpers/small-dump.js';

const FILES = {
  'projects.csv': 'id,name,owner,created_at\nP1,One,ann,2024-01-05T10:00:00Z\n',
  'phases.csv': 'id,project_id,name,position\nF1,P1,Build,1\n',
  'tasks.csv': 'id,project_id,phase_id,title,description,assignee,tags,depends_on\nT1,P1,F1,first,,,,\nT2,P1,F1,second,,ann,a;b,T1\n',
};

describe('a run\'s queue prefix and Redis', () => {
  const dump = useSmallDump('run_queue', FILES);
  const withPassword = REDIS_URL.replace('redis://', 'redis://:s3cret@');

  it('are recorded, shown by status, named by the hints, and a resume on another prefix is refused', async () => {
    // No worker: the run waits on its first stage until interrupted.
    const migrate = startCli(['migrate', '--legacy-data', dump.dir, '--skip-prepare', '--run-id', 'rq', '--no-progress', '--new-data', dump.db.url,
      '--prefix', dump.prefix, '--redis', withPassword], { timeoutMs: 60_000 });
    await waitFor(async () => {
      const { rows } = await dump.db.pool.query(`SELECT 1 FROM ledger.runs WHERE id = 'rq' AND status = 'running'`).catch(() => ({ rows: [] }));
      return rows.length > 0;
    }, 'the run planned', 30_000);
    migrate.child.kill('SIGINT');
    const stopped = await migrate.result;
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`Finish it with: taskfleet resume rq --prefix '${dump.prefix}'\n`);
    expect(stopped.stderr).not.toContain('s3cret');

    const { rows: [row] } = await dump.db.pool.query<Record<string, unknown>>('SELECT queue_backend, queue_prefix, queue_redis FROM ledger.runs WHERE id = $1', ['rq']);
    expect(row).toEqual({ queue_backend: 'redis', queue_prefix: dump.prefix, queue_redis: 'redis://127.0.0.1:6379/0' });
    const json = await runCli(['status', 'rq', '--json', '--new-data', dump.db.url]);
    expect((JSON.parse(json.stdout) as { run: { queue: unknown } }).run.queue).toEqual({ backend: 'redis', prefix: dump.prefix, redis: 'redis://127.0.0.1:6379/0' });
    const text = await runCli(['status', 'rq', '--new-data', dump.db.url]);
    expect(text.stdout).toContain(`  queue: ${dump.prefix} on redis://127.0.0.1:6379/0 (resume: taskfleet resume rq --prefix '${dump.prefix}')\n`);

    // From elsewhere, without --prefix: the default {taskfleet} is not where the run's workers listen.
    const refused = await runCli(['resume', 'rq', '--no-progress', '--new-data', dump.db.url, '--redis', REDIS_URL]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`Run rq queues its jobs on ${dump.prefix} on redis://127.0.0.1:6379/0, but this command would queue them on {taskfleet} on redis://127.0.0.1:6379/0`);
    expect(refused.stderr).toContain(`Use: taskfleet resume rq --prefix '${dump.prefix}'`);
    expect(refused.stderr).toContain('--move-queue');

    // On the run's prefix it finishes.
    const resumed = await runCli(['resume', 'rq', '--no-progress', '--workers', '1', ...connectionArgs(dump.db, dump.prefix, REDIS_URL)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('Run rq: completed');
  }, 120_000);

  it('--move-queue moves a run to another prefix on purpose, and records it', async () => {
    const other = `${dump.prefix.slice(0, -1)}_moved}`;
    try {
      const migrate = startCli(['migrate', '--legacy-data', dump.dir, '--skip-prepare', '--run-id', 'rq2', '--chunk-size', '1', '--no-progress',
        ...connectionArgs(dump.db, dump.prefix, REDIS_URL)], { timeoutMs: 60_000 });
      await waitFor(async () => {
        const { rows } = await dump.db.pool.query(`SELECT 1 FROM ledger.runs WHERE id = 'rq2' AND status = 'running'`).catch(() => ({ rows: [] }));
        return rows.length > 0;
      }, 'the run planned', 30_000);
      migrate.child.kill('SIGINT');
      expect((await migrate.result).code).toBe(1);
      const moved = await runCli(['resume', 'rq2', '--move-queue', '--no-progress', '--workers', '1', ...connectionArgs(dump.db, other, REDIS_URL)]);
      expect(moved.code, moved.stderr).toBe(0);
      expect(moved.stderr).toContain(`Run rq2 now queues its jobs on ${other} on redis://127.0.0.1:6379/0 (--move-queue).`);
      const { rows: [row] } = await dump.db.pool.query<{ queue_prefix: string }>('SELECT queue_prefix FROM ledger.runs WHERE id = $1', ['rq2']);
      expect(row!.queue_prefix).toBe(other);
    } finally {
      await deleteQueueKeys(other);
    }
  }, 120_000);
});
