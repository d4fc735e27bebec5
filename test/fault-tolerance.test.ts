// Fault tolerance of the fleet, end to end, with real worker processes, real Redis and real Postgres:
//  - a worker killed with SIGKILL mid-run: its jobs stall, the other worker picks them up, the run
//    completes with exact counts and no duplicates;
//  - a worker stopped with SIGTERM while it holds jobs: it drains (finishes them, exits 0 within the
//    lock time) and nothing is lost;
//  - the producer killed and the queue's Redis data deleted mid-run: `taskfleet resume` rebuilds the
//    jobs from the ledger and finishes the run, exact and without duplicates.
// Every wait polls the ledger (Postgres) or the queue (Redis); no sleep decides an outcome.
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData, type GenerateSummary } from '../src/generator/generate.js';
import { connectionArgs, runCli, startCli, type CliResult, type RunningCli } from './helpers/cli.js';
import { entityCounts, waitFor } from './helpers/ledger.js';
import { REDIS_URL, createTestDatabase, deleteQueueKeys, uniquePrefix, type TestDatabase } from './helpers/services.js';

const LOCK_MS = 4000;
const STALLED_MS = 2000;
const QUEUE = 'migrate';
const KINDS = ['projects', 'phases', 'tasks', 'task_dependencies'] as const;
type Kind = (typeof KINDS)[number];

let root: string;
let dataDir: string;
let generated: GenerateSummary;
let redis: Redis;
const databases: TestDatabase[] = [];
const prefixes: string[] = [];
const processes: RunningCli[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-fault-'));
  dataDir = join(root, 'legacy');
  generated = await generateLegacyData({ out: dataDir, projects: 600, phasesPerProject: 10, tasks: 60_000, format: 'jsonl', seed: 11 });
  // The data set the acceptance asks for: clean, with dependencies both in depends_on and in the file.
  expect(generated.legacy.tasks).toBe(60_000);
  expect(generated.legacy.task_dependencies).toBeGreaterThan(0);
  expect(Object.values(generated.expectedRejects).every((n) => n === 0)).toBe(true);
  redis = new Redis(REDIS_URL);
});

afterAll(async () => {
  // Anything still running (a failed test) is ended by its own handle, never by name.
  await Promise.all(processes.map(async (p) => {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.result;
  }));
  redis?.disconnect();
  for (const prefix of prefixes) await deleteQueueKeys(prefix);
  for (const db of databases) await db.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function isolated(label: string): Promise<{ db: TestDatabase; prefix: string }> {
  const db = await createTestDatabase(label);
  databases.push(db);
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  // The schema goes in first, as a deployment would do it. Without this, the workers and migrate started
  // together on a fresh database race in their first-use migration (knex creates its bookkeeping tables
  // unlocked): now and then one exits 1 with `relation "taskfleet_schema_migrations" already exists`
  // (reported as a fleet bug; this file tests fault tolerance, not that).
  const schema = await runCli(['db', 'migrate', '--new-data', db.url], { timeoutMs: 60_000 });
  expect(schema.code, describeResult(schema)).toBe(0);
  return { db, prefix };
}

function track(p: RunningCli): RunningCli {
  processes.push(p);
  return p;
}

function startWorker(db: TestDatabase, prefix: string, concurrency = 2): RunningCli {
  return track(startCli(['worker', ...connectionArgs(db, prefix, REDIS_URL), '--concurrency', String(concurrency),
    '--lock-duration', String(LOCK_MS), '--stalled-interval', String(STALLED_MS)], { timeoutMs: 300_000 }));
}

function startMigrate(db: TestDatabase, prefix: string, runId: string, chunkSize: number): RunningCli {
  return track(startCli(['migrate', '--skip-prepare', '--legacy-data', dataDir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '0',
    '--run-id', runId, '--chunk-size', String(chunkSize), '--json'], { timeoutMs: 300_000 }));
}

const alive = (p: RunningCli): boolean => p.child.exitCode === null && p.child.signalCode === null;

/** Fails the wait at once (with the output) if a process that must keep running has ended. */
function mustBeRunning(label: string, ...ps: RunningCli[]): void {
  for (const p of ps) {
    if (!alive(p)) {
      const { stdout, stderr } = p.output();
      throw new Error(`${label} exited early (code ${p.child.exitCode}, signal ${p.child.signalCode}):\n${stderr.slice(-3000)}\n${stdout.slice(-2000)}`);
    }
  }
}

function describeResult(r: CliResult): string {
  return `code ${r.code} signal ${r.signal}\n--- stderr (tail)\n${r.stderr.slice(-4000)}\n--- stdout (tail)\n${r.stdout.slice(-2000)}`;
}

async function stageChunks(db: TestDatabase, runId: string, stage: string): Promise<{ done: number; failed: number; total: number }> {
  const { rows } = await db.pool.query<{ done: number; failed: number; total: number }>(
    `SELECT count(*) FILTER (WHERE status = 'done')::int AS done, count(*) FILTER (WHERE status = 'failed')::int AS failed,
       count(*)::int AS total FROM ledger.chunks WHERE run_id = $1 AND stage = $2`, [runId, stage]).catch(() => ({ rows: [] }));
  return rows[0] ?? { done: 0, failed: 0, total: 0 };
}

const tasksPartlyDone = async (db: TestDatabase, runId: string): Promise<boolean> => {
  const t = await stageChunks(db, runId, 'tasks');
  return t.done > 0 && t.done < t.total;
};

const queueKey = (prefix: string, suffix: string): string => `${prefix}:${QUEUE}:${suffix}`;

interface ChunkRef { runId: string; stage: string; chunkNo: number }

/** The chunk a job stands for, from the job's own payload in Redis (not from the job id's format). */
async function jobChunk(prefix: string, jobId: string): Promise<ChunkRef> {
  const data = await redis.hget(queueKey(prefix, jobId), 'data');
  if (!data) throw new Error(`job ${jobId} has no data in Redis`);
  const { runId, stage, chunkNo } = JSON.parse(data) as ChunkRef;
  return { runId, stage, chunkNo };
}

async function chunkRow(db: TestDatabase, c: ChunkRef): Promise<{ status: string; worker: string | null }> {
  const { rows } = await db.pool.query<{ status: string; worker: string | null }>(
    'SELECT status, worker FROM ledger.chunks WHERE run_id = $1 AND stage = $2 AND chunk_no = $3', [c.runId, c.stage, c.chunkNo]);
  if (!rows[0]) throw new Error(`chunk ${c.stage} #${c.chunkNo} of ${c.runId} is not in the ledger`);
  return rows[0];
}

interface SummaryEvent {
  event: 'summary';
  runId: string;
  status: string;
  balanced: boolean;
  rejected: number;
  kinds: { kind: Kind; legacy: number; migrated: number; rejected: number }[];
}

function summaryOf(stdout: string): SummaryEvent {
  const line = stdout.split('\n').reverse().find((l) => l.includes('"event":"summary"'));
  if (!line) throw new Error(`no summary event in the output:\n${stdout.slice(-2000)}`);
  return JSON.parse(line) as SummaryEvent;
}

/** The run's end state: completed, every kind exact (legacy = migrated, nothing rejected), no duplicates. */
async function expectExactRun(db: TestDatabase, runId: string, result: CliResult): Promise<void> {
  expect(result.code, describeResult(result)).toBe(0);
  const summary = summaryOf(result.stdout);
  expect(summary).toMatchObject({ runId, status: 'completed', balanced: true, rejected: 0 });
  expect(summary.kinds).toEqual(KINDS.map((kind) => ({
    kind, legacy: generated.legacy[kind], migrated: generated.legacy[kind], rejected: 0,
  })));

  // The ledger agrees: the run is completed, every chunk is done, nothing was rejected.
  const { rows: [run] } = await db.pool.query<{ status: string }>('SELECT status FROM ledger.runs WHERE id = $1', [runId]);
  expect(run?.status).toBe('completed');
  const { rows: [chunks] } = await db.pool.query<{ total: number; notDone: number }>(
    `SELECT count(*)::int AS total, count(*) FILTER (WHERE status <> 'done')::int AS "notDone" FROM ledger.chunks WHERE run_id = $1`, [runId]);
  expect(chunks!.total).toBeGreaterThan(0);
  expect(chunks!.notDone).toBe(0);
  const { rows: [rejects] } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger.rejects WHERE run_id = $1', [runId]);
  expect(rejects!.n).toBe(0);

  // The new system holds exactly the generated records, each once (edges are unique by their key too).
  const counts = await entityCounts(db.pool);
  for (const kind of KINDS) {
    expect(counts[kind], kind).toEqual({ rows: generated.legacy[kind], distinctLegacy: generated.legacy[kind] });
  }
  const { rows: [edges] } = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM (SELECT DISTINCT task_id, depends_on_id FROM tms.task_dependencies) e');
  expect(edges!.n).toBe(generated.legacy.task_dependencies);
}

async function stopGracefully(p: RunningCli): Promise<CliResult> {
  p.child.kill('SIGTERM');
  return p.result;
}

describe('fault tolerance (real worker processes, Redis, Postgres)', () => {
  it('finishes exactly when one of two workers is killed with SIGKILL mid-run', async () => {
    const { db, prefix } = await isolated('ft_kill');
    const runId = 'ft-sigkill';
    const doomed = startWorker(db, prefix);
    const survivor = startWorker(db, prefix);
    const migrate = startMigrate(db, prefix, runId, 1000);

    // Kill while the tasks stage is partly done, both workers hold jobs (2 each) and more jobs wait.
    await waitFor(async () => {
      mustBeRunning('a worker or migrate', doomed, survivor, migrate);
      if (!(await tasksPartlyDone(db, runId))) return false;
      const [active, waiting] = await Promise.all([redis.llen(queueKey(prefix, 'active')), redis.llen(queueKey(prefix, 'wait'))]);
      return active >= 3 && waiting >= 1;
    }, 'the tasks stage partly done with both workers busy', 90_000);
    const activeAtKill = await redis.lrange(queueKey(prefix, 'active'), 0, -1);
    doomed.child.kill('SIGKILL');
    const killed = await doomed.result;
    expect(killed.signal).toBe('SIGKILL');
    const atKill = await stageChunks(db, runId, 'tasks');
    expect(atKill.done).toBeLessThan(atKill.total);

    const result = await migrate.result;
    await expectExactRun(db, runId, result);

    // The dead worker did take part, and its in-flight jobs were found stalled and redone by the survivor.
    const doomedName = `${hostname()}:${doomed.child.pid}`;
    const survivorName = `${hostname()}:${survivor.child.pid}`;
    const { rows: byWorker } = await db.pool.query<{ worker: string; n: number }>(
      'SELECT worker, count(*)::int AS n FROM ledger.chunks WHERE run_id = $1 GROUP BY worker', [runId]);
    expect(byWorker.find((w) => w.worker === doomedName)?.n ?? 0).toBeGreaterThan(0);
    expect(byWorker.find((w) => w.worker === survivorName)?.n ?? 0).toBeGreaterThan(0);
    expect(byWorker.every((w) => w.worker === doomedName || w.worker === survivorName)).toBe(true);
    // Finished jobs stay in the queue (a bounded tail, larger than this run). BullMQ counts a job it found
    // stalled (lock expired: its worker died) in `stc`, and each start of it in `ats`.
    const finished = await redis.zrange(queueKey(prefix, 'completed'), 0, '-1');
    expect(finished.length).toBeGreaterThan(0);
    const stalled: { job: string; chunk: ChunkRef; starts: number }[] = [];
    for (const job of finished) {
      const [stc, ats] = await redis.hmget(queueKey(prefix, job), 'stc', 'ats');
      if (Number(stc ?? 0) > 0) stalled.push({ job, chunk: await jobChunk(prefix, job), starts: Number(ats ?? 0) });
    }
    expect(stalled.length, `jobs BullMQ took back from the dead worker (active at the kill: ${activeAtKill.join(', ')})`).toBeGreaterThan(0);
    for (const { job, chunk, starts } of stalled) {
      // Started again after the stall, and done in the ledger (by the survivor, or by the dead worker if it
      // committed just before dying: the rerun is then a no-op).
      expect(starts, job).toBeGreaterThanOrEqual(2);
      expect((await chunkRow(db, chunk)).status, job).toBe('done');
    }
    expect(stalled.some((s) => activeAtKill.includes(s.job))).toBe(true);

    expect(alive(survivor)).toBe(true);
    const stopped = await stopGracefully(survivor);
    expect(stopped.code, describeResult(stopped)).toBe(0);
  }, 240_000);

  it('a worker stopped with SIGTERM while it holds jobs drains them, exits 0 within the lock time, loses nothing', async () => {
    const { db, prefix } = await isolated('ft_term');
    const runId = 'ft-sigterm';
    // Bigger chunks (5000 records, several hundred ms each) so the jobs are still running when the signal lands.
    const draining = startWorker(db, prefix, 2);
    const migrate = startMigrate(db, prefix, runId, 5000);
    const activeKey = queueKey(prefix, 'active');

    // The only worker: every active job is one it must finish. Read just before the signal (read after it,
    // on a busy machine the jobs could be done before the reads, and nothing would look held), and read
    // until one held chunk is still unwritten: on a loaded machine both jobs can sit active with their
    // chunks already written (between the chunk's commit and the job's completion), a moment to skip.
    let activeAtSignal: string[] = [];
    let heldAtSignal: ChunkRef[] = [];
    let pendingAtSignal: ChunkRef[] = [];
    await waitFor(async () => {
      mustBeRunning('the worker or migrate', draining, migrate);
      if (!(await tasksPartlyDone(db, runId))) return false;
      activeAtSignal = await redis.lrange(activeKey, 0, -1);
      if (activeAtSignal.length !== 2) return false;
      heldAtSignal = await Promise.all(activeAtSignal.map((job) => jobChunk(prefix, job)));
      pendingAtSignal = [];
      for (const c of heldAtSignal) if ((await chunkRow(db, c)).status === 'pending') pendingAtSignal.push(c);
      return pendingAtSignal.length > 0;
    }, 'the tasks stage partly done with the worker holding 2 jobs, one of them unwritten', 90_000);
    const signalled = Date.now();
    draining.child.kill('SIGTERM');

    const exit = await draining.result;
    const drainMs = Date.now() - signalled;
    expect(exit.code, describeResult(exit)).toBe(0);
    expect(exit.signal).toBeNull();
    expect(drainMs).toBeLessThan(LOCK_MS);
    expect(activeAtSignal.length).toBeGreaterThan(0);
    expect(pendingAtSignal.length, 'jobs still unfinished when SIGTERM arrived').toBeGreaterThan(0);

    // Each job it held is done in the ledger by this very worker, and completed in the queue (not left to stall).
    const drainingName = `${hostname()}:${draining.child.pid}`;
    for (const [i, job] of activeAtSignal.entries()) {
      expect(await chunkRow(db, heldAtSignal[i]!), job).toEqual({ status: 'done', worker: drainingName });
      expect(await redis.zscore(queueKey(prefix, 'completed'), job), `${job} completed in the queue`).not.toBeNull();
    }
    expect(await redis.llen(activeKey)).toBe(0);
    // The run is not over: another worker finishes it, exactly.
    expect(alive(migrate)).toBe(true);
    const tasks = await stageChunks(db, runId, 'tasks');
    expect(tasks.done).toBeLessThan(tasks.total);

    const successor = startWorker(db, prefix, 2);
    const result = await migrate.result;
    await expectExactRun(db, runId, result);
    const stopped = await stopGracefully(successor);
    expect(stopped.code, describeResult(stopped)).toBe(0);
  }, 240_000);

  it('resume finishes a run whose producer died and whose Redis data was deleted mid-run', async () => {
    const { db, prefix } = await isolated('ft_flush');
    const runId = 'ft-flush';
    const workers = [startWorker(db, prefix), startWorker(db, prefix)];
    const migrate = startMigrate(db, prefix, runId, 1000);

    // Mid-run with jobs still waiting in Redis: these exist nowhere but in the ledger after the flush.
    await waitFor(async () => {
      mustBeRunning('a worker or migrate', ...workers, migrate);
      return (await tasksPartlyDone(db, runId)) && (await redis.llen(queueKey(prefix, 'wait'))) >= 5;
    }, 'the tasks stage partly done with jobs waiting', 90_000);
    migrate.child.kill('SIGKILL');
    const dead = await migrate.result;
    expect(dead.signal).toBe('SIGKILL');
    const waitingBefore = await redis.lrange(queueKey(prefix, 'wait'), 0, -1);
    const waitingChunks = await Promise.all(waitingBefore.map((job) => jobChunk(prefix, job)));
    const deleted = await deleteQueueKeys(prefix);
    expect(deleted).toBeGreaterThan(5);

    // Jobs that existed only in Redis (waiting, their chunks still pending) are gone: the ledger alone knows them.
    const lost: ChunkRef[] = [];
    for (const c of waitingChunks) if ((await chunkRow(db, c)).status === 'pending') lost.push(c);
    expect(lost.length, 'waiting jobs lost with the flush').toBeGreaterThan(0);
    for (const job of waitingBefore) expect(await redis.exists(queueKey(prefix, job)), job).toBe(0);
    const { rows: [run] } = await db.pool.query<{ status: string }>('SELECT status FROM ledger.runs WHERE id = $1', [runId]);
    expect(run?.status).toBe('running');
    expect((await stageChunks(db, runId, 'dependencies')).done).toBe(0);

    // The workers keep running through the flush (they may log lost locks); resume uses them.
    const resumed = await runCli(['resume', runId, ...connectionArgs(db, prefix, REDIS_URL), '--json'], { timeoutMs: 180_000 });
    await expectExactRun(db, runId, resumed);
    for (const w of workers) expect(alive(w), `worker ${w.child.pid} still running`).toBe(true);

    for (const w of workers) {
      const stopped = await stopGracefully(w);
      expect(stopped.code, describeResult(stopped)).toBe(0);
    }
  }, 240_000);
});
