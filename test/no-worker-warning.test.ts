// `migrate` without workers (the default --workers 0) says so instead of sitting at 0 without a word,
// and the run completes once a worker starts. So does a run on a paused queue, and one whose workers
// all died holding jobs (those stay active until a new worker's stalled check returns them), and one
// whose jobs are failed by a worker connected to another database.
// The warning comes after 15 s of standstill: the cases run concurrently, each on its own database
// and queue prefix, so the file waits once.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli, startCli, type RunningCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

/** The command lines of a process's children (from /proc). */
function childCommandLines(parent: number): string[] {
  const lines: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(parent)) lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // gone meanwhile
    }
  }
  return lines;
}

describe.concurrent('migrate with no worker taking its jobs', () => {
  const work = mkdtempSync(join(tmpdir(), 'tf-no-worker-'));
  const dir = join(work, 'legacy');
  const started: RunningCli[] = [];
  const databases: TestDatabase[] = [];
  const prefixes: string[] = [];
  const WARNING = 'No worker has taken a job';
  const warningsOf = (cli: RunningCli) => cli.output().stderr.split('\n').filter((l) => l.includes(WARNING));

  type Start = (args: string[]) => RunningCli;
  /** A database and a queue prefix of the case's own, and its migrate (no --workers) under way, after `before`. */
  async function migrateAlone(label: string, before?: (db: TestDatabase, prefix: string, start: Start) => Promise<void>): Promise<{ db: TestDatabase; prefix: string; migrate: RunningCli; start: Start }> {
    const db = await createTestDatabase(label);
    const prefix = uniquePrefix(label);
    databases.push(db);
    prefixes.push(prefix);
    const start: Start = (args) => { const cli = startCli(args, { timeoutMs: 120_000 }); started.push(cli); return cli; };
    await before?.(db, prefix, start);
    const migrate = start(['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--json']);
    return { db, prefix, migrate, start };
  }

  const warned = (migrate: RunningCli) => waitFor(() => Promise.resolve(warningsOf(migrate).length > 0), 'the warning', 60_000).then(() => warningsOf(migrate)[0]!);

  beforeAll(async () => {
    await generateLegacyData({ out: dir, format: 'jsonl', projects: 2, phasesPerProject: 2, tasks: 50, seed: 5 });
  });

  afterAll(async () => {
    for (const cli of started) cli.child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    for (const db of databases) await db.drop();
    for (const prefix of prefixes) await deleteQueueKeys(prefix);
  });

  it('warns, naming the queue and the way out, and completes once a worker starts', async () => {
    const { db, prefix, migrate, start } = await migrateAlone('no_worker');
    const warning = await warned(migrate);
    expect(warning).toMatch(/from queue migrate for \d+ s \(1 waiting, none active\): no worker is connected to it; /);
    expect(warning).toContain('`taskfleet worker`');
    expect(warning).toContain('--workers N');

    start(['worker', ...connectionArgs(db, prefix, REDIS_URL)]);
    const result = await migrate.result;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(warningsOf(migrate)).toHaveLength(1);
    const summary = await runCli(['status', '--new-data', db.url]);
    expect(summary.stdout).toMatch(/completed/);
  }, 120_000);

  it('on a paused queue, says it is paused (a worker is there), and completes once it is resumed', async () => {
    let queue: Queue | undefined;
    try {
      const { migrate } = await migrateAlone('no_worker_paused', async (db, prefix, start) => {
        queue = new Queue('migrate', { connection: { url: REDIS_URL }, prefix });
        await queue.pause();
        start(['worker', ...connectionArgs(db, prefix, REDIS_URL)]);
      });
      expect(await warned(migrate)).toMatch(/\(1 waiting, none active\): the queue is paused; resume it on Bull Board/);
      await queue!.resume();
      const result = await migrate.result;
      expect(result.code, result.stderr.slice(-2000)).toBe(0);
    } finally {
      await queue?.close();
    }
  }, 120_000);

  it('says so when a worker of the queue is connected to another database, and completes on the right one', async () => {
    // Same Redis and prefix, another DATABASE_URL: that worker cannot find the run, and fails its jobs.
    let wrong: RunningCli | undefined;
    const { db, prefix, migrate, start } = await migrateAlone('wrong_db', async (_db, prefix, start) => {
      const other = await createTestDatabase('wrong_db_other');
      databases.push(other);
      wrong = start(['worker', ...connectionArgs(other, prefix, REDIS_URL)]);
    });
    const said = () => migrate.output().stderr.includes('connected to another database');
    await waitFor(() => Promise.resolve(said()), 'the producer naming the cause', 60_000);
    expect(migrate.output().stderr).toMatch(/failed on a worker whose database does not hold the run: a worker of queue migrate is connected to another database\. Every worker must use the run's DATABASE_URL/);
    // As the message says: stop that worker (it drains), then a right one finishes the run.
    wrong!.child.kill('SIGTERM');
    expect((await wrong!.result).code).toBe(0);
    start(['worker', ...connectionArgs(db, prefix, REDIS_URL)]);
    const result = await migrate.result;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
  }, 120_000);

  // Found by the README probe: `taskfleet run` sends its phase commands' stderr to a log file, so the
  // warning reached no console (nor `kubectl logs` of the Kubernetes Job, which runs --workers 0).
  it('taskfleet run shows the warning on its console as well as in its log, and completes once a worker starts', async () => {
    const db = await createTestDatabase('no_worker_run');
    const prefix = uniquePrefix('no_worker_run');
    databases.push(db);
    prefixes.push(prefix);
    const logs = join(work, 'run-logs');
    // With a password (trust authentication takes any): run's phase commands must not show it on their
    // command lines, which any local user can read (found by the secrets probe).
    const withPassword = new URL(db.url);
    withPassword.password = 'cmdline-secret';
    const run = startCli(['run', '--phase', 'migrate', '--skip-prepare', '--workers', '0', '--legacy-data', dir, '--new-data', withPassword.toString(),
      '--redis', REDIS_URL, '--prefix', prefix, '--logs-dir', logs, '--id-mapping', join(work, 'run-ids.json'), '--no-progress'], { timeoutMs: 120_000 });
    started.push(run);
    const consoleWarning = () => run.output().stderr.split('\n').find((l) => l.startsWith(`  ! migrate warn: ${WARNING}`));
    await waitFor(() => Promise.resolve(consoleWarning() !== undefined), 'the warning on run\'s console', 60_000);
    expect(consoleWarning()).toMatch(/from queue migrate for \d+ s \(1 waiting, none active\): no worker is connected to it; /);
    const children = childCommandLines(run.child.pid!);
    expect(children.some((c) => c.includes(' migrate ')), children.join('\n')).toBe(true);
    for (const c of children) expect(c).not.toContain('cmdline-secret');

    const worker = startCli(['worker', ...connectionArgs(db, prefix, REDIS_URL)], { timeoutMs: 120_000 });
    started.push(worker);
    const result = await run.result;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    // The log keeps the line whole (JSON), as before.
    const logged = readFileSync(join(logs, 'task_migration.log'), 'utf8').split('\n').filter((l) => l.includes(WARNING));
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.parse(logged[0]!)).toMatchObject({ level: 'warn', role: 'producer' });
  }, 120_000);

  it('names workers that are gone while their job is still active', async () => {
    const { prefix, migrate } = await migrateAlone('no_worker_dead');
    // A worker that takes the first job and vanishes without finishing it (as a SIGKILLed one does).
    let taken!: () => void;
    const took = new Promise<void>((resolve) => { taken = resolve; });
    const doomed = new Worker('migrate', () => { taken(); return new Promise<never>(() => undefined); }, { connection: { url: REDIS_URL }, prefix });
    await took;
    await doomed.close(true);
    expect(await warned(migrate)).toMatch(/\(0 waiting, 1 active\): no worker is connected to it; .*a new worker returns them to the queue/);
    migrate.child.kill('SIGKILL');
  }, 120_000);
});
