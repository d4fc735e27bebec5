// Workers on separate hosts, one of which drops off the network mid-run. Three "hosts" are Linux network
// namespaces, each joined to this machine by its own veth pair (test/helpers/netns.ts); a Redis and a
// Postgres of the test's own listen on the root ends of the links (the system ones listen on loopback
// only, which no namespace can reach). One `taskfleet worker` runs inside each namespace, talking to the
// services over its link; the producer (`taskfleet migrate`) runs here, on loopback.
//
// In the tasks stage of a 50k-task migration, while host 2 holds open chunk transactions (and so their row
// locks in Postgres), its network interface goes down and then its worker is killed with SIGKILL: nothing
// it could say (FIN, RST) reaches the services. The run must complete on the two other hosts with exact
// counts and no duplicates: BullMQ finds host 2's jobs stalled once their locks expire and hands them to
// the survivors, and Postgres ends host 2's sessions (rolling back its transactions, releasing the row
// locks the survivors then need) within the fleet's dead-client bound — TCP alone would take hours.
//
// Skipped, with the reason printed, where network namespaces cannot be created (not root, no iproute2,
// a container without CAP_NET_ADMIN) or redis-server is missing.
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/embedded/postgres.js';
import { MANIFEST_FILE, type GenerateSummary } from '../src/generator/generate.js';
import { runCli, startCli, type CliResult, type RunningCli } from './helpers/cli.js';
import { entityCounts, waitFor } from './helpers/ledger.js';
import { summaryOf } from './helpers/legacy-files.js';
import { createHostNetwork, netnsPermitted, startRedisServer, type HostNetwork, type NetHost, type RedisServer } from './helpers/netns.js';
import { uniquePrefix } from './helpers/services.js';

const TASKS = 50_000;
const CHUNK_SIZE = 1000;
const CONCURRENCY = 2;
// BullMQ: a dead worker's job is found stalled within LOCK_MS + STALLED_MS (production: 30 s + 30 s).
const LOCK_MS = 4000;
const STALLED_MS = 2000;
// Postgres ends a silent client's session within about this long (production default: 60 s). Longer than
// the stall detection, so the survivors meet the lost host's row locks and wait for them, as in production.
const DEAD_CLIENT_MS = 10_000;
const KINDS = ['projects', 'phases', 'tasks', 'task_dependencies'] as const;
const QUEUE = 'migrate';

async function whyNot(): Promise<string | null> {
  const redis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (redis.error || redis.status !== 0) return `redis-server is not installed (${redis.error?.message ?? redis.stderr})`;
  const netns = await netnsPermitted();
  return netns.ok ? null : netns.reason;
}
const skipReason = await whyNot();
if (skipReason) console.warn(`multi-host.test.ts: SKIPPED — ${skipReason}`);

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  // In reverse order of creation; each step runs even if an earlier one fails.
  const errors: unknown[] = [];
  for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => errors.push(err));
  if (errors.length > 0) throw new AggregateError(errors, 'multi-host teardown');
}, 120_000);

function describeResult(r: CliResult): string {
  return `code ${r.code} signal ${r.signal}\n--- stderr (tail)\n${r.stderr.slice(-4000)}\n--- stdout (tail)\n${r.stdout.slice(-2000)}`;
}

const alive = (p: RunningCli): boolean => p.child.exitCode === null && p.child.signalCode === null;

function mustBeRunning(label: string, p: RunningCli): void {
  if (!alive(p)) {
    const { stdout, stderr } = p.output();
    throw new Error(`${label} exited early (code ${p.child.exitCode}, signal ${p.child.signalCode}):\n${stderr.slice(-3000)}\n${stdout.slice(-2000)}`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The URL with another host (the link address a namespace reaches the service on). */
function viaAddress(url: string, address: string): string {
  const u = new URL(url);
  u.hostname = address;
  return u.toString();
}

describe('workers on separate hosts (network namespaces)', () => {
  it('a host cut off mid-run: the others finish the run exactly, picking up its stalled jobs', async (ctx) => {
    if (skipReason) ctx.skip(`network namespaces are not available here: ${skipReason}`);
    const t0 = Date.now();
    const elapsed = (since = t0): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

    // ---- the hosts and the services on their links ----------------------------------------------------
    const root = await mkdtemp(join(tmpdir(), 'taskfleet-multihost-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    await chmod(root, 0o755); // as root, Postgres runs as the postgres OS user, who must enter it
    const net: HostNetwork = await createHostNetwork(3);
    cleanups.push(() => net.teardown());
    const [h1, victim, h3] = net.hosts as [NetHost, NetHost, NetHost];

    const redisServer: RedisServer = await startRedisServer(net.rootAddresses, root);
    cleanups.push(() => redisServer.stop());
    const postgres: EmbeddedPostgres = await startEmbeddedPostgres({
      dataDir: join(root, 'pgdata'), extraListenAddresses: net.rootAddresses, allowNetworks: net.subnets,
    });
    cleanups.push(() => postgres.stop());
    const db = new pg.Pool({ connectionString: postgres.url, max: 3 });
    db.on('error', () => undefined);
    cleanups.push(() => db.end());
    const redis = new Redis(redisServer.url('127.0.0.1'));
    cleanups.push(() => Promise.resolve(redis.disconnect()));
    const prefix = uniquePrefix('multihost');
    const queueKey = (suffix: string): string => `${prefix}:${QUEUE}:${suffix}`;

    // Each host reaches both services over its own link, not loopback.
    for (const h of net.hosts) {
      const probe = spawnSync('ip', [...net.execPrefix(h).slice(1), process.execPath, '-e',
        `const s=require('net').connect(${postgres.port},'${h.rootAddress}');s.on('connect',()=>{console.log('ok');s.end()});s.on('error',e=>{console.log(e.code);})`],
      { encoding: 'utf8', timeout: 10_000 });
      expect(probe.stdout.trim(), `${h.ns} → ${h.rootAddress}:${postgres.port}`).toBe('ok');
    }
    const setupDone = Date.now();

    // ---- data and schema -------------------------------------------------------------------------------
    const dataDir = join(root, 'legacy');
    const gen = await runCli(['generate', '--out', dataDir, '--projects', '500', '--phases-per-project', '10', '--tasks', String(TASKS),
      '--format', 'jsonl', '--seed', '23']);
    expect(gen.code, describeResult(gen)).toBe(0);
    const { summary: generated } = JSON.parse(await readFile(join(dataDir, MANIFEST_FILE), 'utf8')) as { summary: GenerateSummary };
    expect(generated.legacy.tasks).toBe(TASKS);
    expect(generated.legacy.task_dependencies).toBeGreaterThan(0);
    expect(Object.values(generated.expectedRejects).every((n) => n === 0)).toBe(true);
    const schema = await runCli(['db', 'migrate', '--new-data', postgres.url], { timeoutMs: 60_000 });
    expect(schema.code, describeResult(schema)).toBe(0);

    // ---- one worker per host, the producer here ---------------------------------------------------------
    const fleetEnv = { TASKFLEET_PG_DEAD_CLIENT_MS: String(DEAD_CLIENT_MS) };
    const workers = new Map<NetHost, RunningCli>();
    for (const h of net.hosts) {
      const worker = startCli(['worker', '--new-data', viaAddress(postgres.url, h.rootAddress), '--redis', redisServer.url(h.rootAddress),
        '--prefix', prefix, '--concurrency', String(CONCURRENCY), '--lock-duration', String(LOCK_MS), '--stalled-interval', String(STALLED_MS)],
      { wrapper: net.execPrefix(h), env: fleetEnv, timeoutMs: 300_000 });
      net.track(worker.child);
      workers.set(h, worker);
    }
    // `ip netns exec` execs the program: the child's pid is the worker's, which names it in the ledger.
    const workerName = (h: NetHost): string => `${hostname()}:${workers.get(h)!.child.pid}`;
    const runId = 'multi-host';
    const migrateStarted = Date.now();
    const migrate = startCli(['migrate', '--skip-prepare', '--legacy-data', dataDir, '--new-data', postgres.url, '--redis', redisServer.url('127.0.0.1'),
      '--prefix', prefix, '--workers', '0', '--run-id', runId, '--chunk-size', String(CHUNK_SIZE), '--json'], { env: fleetEnv, timeoutMs: 300_000 });
    net.track(migrate.child);

    // ---- the cut: in the tasks stage, while the victim holds chunk row locks ----------------------------
    // A chunk's transaction starts with SELECT … FOR UPDATE on its ledger row, which leaves the locker's
    // xid in the row's xmax; pg_stat_activity tells whose backend that xid is (by client address).
    const victimLockedChunks = async (): Promise<{ stage: string; chunk_no: number }[]> => (await db.query<{ stage: string; chunk_no: number }>(
      `SELECT c.stage, c.chunk_no FROM ledger.chunks c JOIN pg_stat_activity a ON a.backend_xid = c.xmax
       WHERE c.run_id = $1 AND c.status <> 'done' AND a.client_addr = $2::inet ORDER BY c.stage, c.chunk_no`, [runId, victim.address])).rows;
    const tasksProgress = async (): Promise<{ done: number; total: number }> => (await db.query<{ done: number; total: number }>(
      `SELECT count(*) FILTER (WHERE status = 'done')::int AS done, count(*)::int AS total FROM ledger.chunks WHERE run_id = $1 AND stage = 'tasks'`,
      [runId]).catch(() => ({ rows: [{ done: 0, total: 0 }] }))).rows[0]!;
    let held: { stage: string; chunk_no: number }[] = [];
    await waitFor(async () => {
      mustBeRunning('migrate', migrate);
      for (const [h, w] of workers) mustBeRunning(`the worker on ${h.ns}`, w);
      const t = await tasksProgress();
      if (!(t.done >= t.total / 5 && t.done < t.total)) return false;
      held = (await victimLockedChunks()).filter((c) => c.stage === 'tasks');
      return held.length > 0;
    }, 'the tasks stage under way with the victim host holding chunk locks', 150_000);
    const cutAt = Date.now();
    await net.cut(victim);
    // What the server already received still runs (a COMMIT in flight may land): settle, then look again.
    // Transactions still open now can never commit.
    await sleep(300);
    held = (await victimLockedChunks()).filter((c) => c.stage === 'tasks');
    expect(held.length, 'chunk locks the victim holds after the cut').toBeGreaterThan(0);
    const atCut = await tasksProgress();
    const { rows: victimBackends } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE client_addr = $1::inet', [victim.address]);
    expect(victimBackends.length).toBeGreaterThan(0);
    await sleep(1000);
    workers.get(victim)!.child.kill('SIGKILL');
    expect((await workers.get(victim)!.result).signal).toBe('SIGKILL');

    // ---- recovery: watched from the ledger and pg_stat_activity until the run ends ----------------------
    let sessionsGoneMs: number | null = null;
    let heldDoneMs: number | null = null;
    let survivorsBlockedByVictim = false;
    const victimPids = victimBackends.map((b) => b.pid);
    while (alive(migrate)) {
      if (sessionsGoneMs === null) {
        const { rows } = await db.query<{ n: number; blocked: boolean }>(
          `SELECT count(*) FILTER (WHERE pid = ANY($1))::int AS n,
             coalesce(bool_or(pg_blocking_pids(pid) && $1::int[]) FILTER (WHERE NOT pid = ANY($1)), false) AS blocked
           FROM pg_stat_activity WHERE datname = current_database()`, [victimPids]);
        survivorsBlockedByVictim ||= rows[0]!.blocked;
        if (rows[0]!.n === 0) sessionsGoneMs = Date.now() - cutAt;
      }
      if (heldDoneMs === null) {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ledger.chunks WHERE run_id = $1 AND stage = 'tasks' AND chunk_no = ANY($2) AND status = 'done'`,
          [runId, held.map((c) => c.chunk_no)]);
        if (rows[0]!.n === held.length) heldDoneMs = Date.now() - cutAt;
      }
      if (sessionsGoneMs !== null && heldDoneMs !== null) break;
      await sleep(200);
    }
    const result = await migrate.result;
    const migrateMs = Date.now() - migrateStarted;

    // ---- the run is exact ---------------------------------------------------------------------------------
    expect(result.code, describeResult(result)).toBe(0);
    const summary = summaryOf(result);
    expect(summary).toMatchObject({ runId, status: 'completed', balanced: true, rejected: 0 });
    expect(summary.kinds).toEqual(KINDS.map((kind) => ({ kind, legacy: generated.legacy[kind], migrated: generated.legacy[kind], rejected: 0 })));
    const { rows: [chunks] } = await db.query<{ total: number; notDone: number }>(
      `SELECT count(*)::int AS total, count(*) FILTER (WHERE status <> 'done')::int AS "notDone" FROM ledger.chunks WHERE run_id = $1`, [runId]);
    expect(chunks!.total).toBeGreaterThan(0);
    expect(chunks!.notDone).toBe(0);
    const { rows: [rejects] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger.rejects WHERE run_id = $1', [runId]);
    expect(rejects!.n).toBe(0);
    // The test's own count of the new system: every generated record once, no legacy id twice.
    const counts = await entityCounts(db);
    for (const kind of KINDS) expect(counts[kind], kind).toEqual({ rows: generated.legacy[kind], distinctLegacy: generated.legacy[kind] });
    const { rows: [edges] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM (SELECT DISTINCT task_id, depends_on_id FROM tms.task_dependencies) e');
    expect(edges!.n).toBe(generated.legacy.task_dependencies);

    // ---- the lost host's work was picked up ------------------------------------------------------------
    const survivors = new Set([workerName(h1), workerName(h3)]);
    const { rows: heldAfter } = await db.query<{ chunk_no: number; worker: string; status: string }>(
      `SELECT chunk_no, worker, status FROM ledger.chunks WHERE run_id = $1 AND stage = 'tasks' AND chunk_no = ANY($2)`, [runId, held.map((c) => c.chunk_no)]);
    expect(heldAfter).toHaveLength(held.length);
    // Its open transactions never committed: those chunks were done by a survivor.
    for (const c of heldAfter) expect(survivors.has(c.worker), `tasks #${c.chunk_no} done by ${c.worker}`).toBe(true);
    const { rows: byWorker } = await db.query<{ worker: string; n: number }>(
      'SELECT worker, count(*)::int AS n FROM ledger.chunks WHERE run_id = $1 GROUP BY worker ORDER BY worker', [runId]);
    expect(byWorker.every((w) => survivors.has(w.worker) || w.worker === workerName(victim))).toBe(true);
    expect(byWorker.find((w) => w.worker === workerName(victim))?.n ?? 0, 'the victim took part before the cut').toBeGreaterThan(0);
    // BullMQ found its jobs stalled (`stc`) and started them again (`ats` ≥ 2) on a survivor.
    let stalledJobs = 0;
    for (const job of await redis.zrange(queueKey('completed'), 0, '-1')) {
      const [stc, ats] = await redis.hmget(queueKey(job), 'stc', 'ats');
      if (Number(stc ?? 0) > 0) {
        stalledJobs++;
        expect(Number(ats ?? 0), job).toBeGreaterThanOrEqual(2);
      }
    }
    expect(stalledJobs, 'jobs BullMQ took back from the lost host').toBeGreaterThanOrEqual(held.length);
    // Postgres ended the lost host's sessions within the dead-client bound (TCP's defaults: hours).
    expect(sessionsGoneMs, 'the lost host\'s Postgres sessions ended').not.toBeNull();
    expect(sessionsGoneMs!).toBeLessThan(DEAD_CLIENT_MS + 20_000);
    expect(heldDoneMs).not.toBeNull();

    // ---- the survivors drain and stop -------------------------------------------------------------------
    for (const h of [h1, h3]) {
      const w = workers.get(h)!;
      expect(alive(w), `the worker on ${h.ns}`).toBe(true);
      w.child.kill('SIGTERM');
      const stopped = await w.result;
      expect(stopped.code, describeResult(stopped)).toBe(0);
    }
    console.log([
      `multi-host: set-up (namespaces, Redis, Postgres) ${((setupDone - t0) / 1000).toFixed(1)} s; migrate ${(migrateMs / 1000).toFixed(1)} s;`,
      `cut ${victim.ns} at tasks chunk ${atCut.done}/${atCut.total} holding ${held.length} chunk lock(s) (${held.map((c) => `#${c.chunk_no}`).join(', ')});`,
      `its Postgres sessions ended ${(sessionsGoneMs! / 1000).toFixed(1)} s after the cut${survivorsBlockedByVictim ? ' (a survivor was waiting on their locks)' : ''};`,
      `its chunks done by survivors ${(heldDoneMs! / 1000).toFixed(1)} s after the cut; ${stalledJobs} stalled job(s) picked up;`,
      `chunks per worker ${byWorker.map((w) => `${w.worker}=${w.n}`).join(' ')}; total ${elapsed()}`,
    ].join(' '));
  }, 280_000);
});
