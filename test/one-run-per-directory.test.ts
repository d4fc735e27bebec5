// One run of a legacy directory in flight at a time: two runs of one dump writing at once can keep the
// later of two duplicate records. A new run of a directory whose earlier run is still running (here: its
// producer died) is refused with what to do; once that run is finished, the new run goes ahead. A migrate
// planning the directory right now (its lock held) refuses the other at once. A run whose producer died
// is shown as such (status, the API's report, /metrics).
// Real CLI, Postgres and Redis.
import { symlink } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { progressReport } from '../src/ledger/progress-report.js';
import { findRun } from '../src/ledger/runs.js';
import { runningWithoutProducer } from '../src/producers/producer-presence.js';
import { connectionArgs, runCli, startCli } from './helpers/cli.js';
import { useGeneratedDumps } from './helpers/generated-dumps.js';

const dumps = useGeneratedDumps('one-run-dir', { legacy: { projects: 3, phasesPerProject: 2, tasks: 300, format: 'jsonl', seed: 5 } });
const cli = (...args: string[]) => runCli([...args, ...connectionArgs(dumps.db, dumps.prefix)]);
const migrate = (runId: string, ...more: string[]) => cli('migrate', '--legacy-data', dumps.dir('legacy'), '--run-id', runId, '--skip-prepare', '--no-progress', ...more);

async function producerAttached(runId: string): Promise<boolean | null> {
  const status = await cli('status', runId, '--json');
  expect(status.code, status.stderr).toBe(0);
  return (JSON.parse(status.stdout) as { producerAttached: boolean | null }).producerAttached;
}

async function statusOf(runId: string): Promise<string | undefined> {
  const { rows: [r] } = await dumps.db.pool.query<{ status: string }>('SELECT status FROM ledger.runs WHERE id = $1', [runId]);
  return r?.status;
}

beforeAll(async () => {
  expect((await cli('db', 'migrate')).code).toBe(0);
});

describe('one run of a legacy directory at a time', () => {
  it('refuses a second run while the first is running, names it and what to do, and goes ahead once it is finished', async () => {
    // No workers: the first run's producer plans, queues and waits; then it dies.
    const first = startCli(['migrate', '--legacy-data', dumps.dir('legacy'), '--run-id', 'dir-a', '--skip-prepare', '--no-progress',
      ...connectionArgs(dumps.db, dumps.prefix)], { timeoutMs: 60_000 });
    for (let i = 0; i < 200 && await statusOf('dir-a') !== 'running'; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await statusOf('dir-a')).toBe('running');
    // While its producer lives, the run is driven; once it is killed, status, the API's report and
    // /metrics say the run has no producer, and what to do.
    expect(await producerAttached('dir-a')).toBe(true);
    // One producer per run: a resume while it lives is refused, and changes nothing.
    const twice = await cli('resume', 'dir-a');
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('Run dir-a is driven by another producer right now (a migrate or resume still running, here or on another host)');
    expect(await statusOf('dir-a')).toBe('running');
    first.child.kill('SIGKILL');
    await first.result;
    for (let i = 0; i < 50 && await producerAttached('dir-a'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await producerAttached('dir-a')).toBe(false);
    const one = await cli('status', 'dir-a');
    expect(one.stdout).toContain('Run dir-a: running (stage ');
    expect(one.stdout).toContain('  producer: none: the process that drove this run stopped (killed, or its host lost). '
      + 'Workers finish the jobs it queued, but nothing queues the rest: finish the run with taskfleet resume dir-a --prefix ');
    expect((await cli('status')).stdout).toMatch(/^dir-a +running .*\(no producer: taskfleet resume\)$/m);
    expect((await progressReport(dumps.db.pool, (await findRun(dumps.db.pool, 'dir-a'))!)).producerAttached).toBe(false);
    expect(await runningWithoutProducer(dumps.db.pool)).toEqual(['dir-a']);

    const legacyDir = dumps.dir('legacy');
    const refused = await migrate('dir-b', '--workers', '1');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`Run dir-a of the same legacy data (${legacyDir}) is still running (started `);
    expect(refused.stderr).toContain('if its producer died, finish it first with taskfleet resume dir-a');
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(await statusOf('dir-b')).toBeUndefined();
    // The same directory through a symbolic link is the same directory (found by the scale-out probe:
    // the link's run went ahead next to dir-a).
    const link = `${legacyDir}-link`;
    await symlink(legacyDir, link);
    const viaLink = await cli('migrate', '--legacy-data', link, '--run-id', 'dir-c', '--skip-prepare', '--no-progress');
    expect(viaLink.code).toBe(2);
    expect(viaLink.stderr).toContain(`Run dir-a of the same legacy data (${legacyDir}) is still running (started `);
    expect(await statusOf('dir-c')).toBeUndefined();

    const resumed = await cli('resume', 'dir-a', '--workers', '1', '--no-progress');
    expect(resumed.code, resumed.stderr).toBe(0);
    const second = await migrate('dir-b', '--workers', '1');
    expect(second.code, second.stderr).toBe(0);
    expect(await statusOf('dir-b')).toBe('completed');
    // Finished runs have no producer to miss.
    expect(await producerAttached('dir-b')).toBeNull();
    expect(await runningWithoutProducer(dumps.db.pool)).toEqual([]);
  }, 120_000);

  it('refuses at once while another migrate is planning the same directory', async () => {
    const legacyDir = dumps.dir('legacy');
    const holder = await dumps.db.pool.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtextextended('taskfleet.dir.' || $1, 0))`, [legacyDir]);
      const refused = await migrate('dir-c', '--workers', '1');
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`Another migrate or resume is starting a run of ${legacyDir} right now`);
      expect(await statusOf('dir-c')).toBeUndefined();
    } finally {
      holder.release(true);
    }
    const planned = await migrate('dir-c', '--workers', '1');
    expect(planned.code, planned.stderr).toBe(0);
  }, 120_000);
});
