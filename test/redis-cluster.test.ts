// The fleet on a real Redis Cluster: three masters from Debian's redis-server on free loopback ports, joined
// with `redis-cli --cluster create`, and REDIS_URL listing all three nodes.
//  - the readiness probe answers on the cluster, fails fast and password-free on dead nodes, and says
//    what is wrong when the URL and the server disagree (cluster URL on a plain Redis, and the reverse);
//  - a prefix without a hash tag is refused before anything starts, naming the fix;
//  - a 20k-task migration (2% bad records) with two worker processes completes with exact counts, checked
//    with this file's own SQL against the generator's expected rejects; every queue key sits in the one
//    slot of the prefix's hash tag, on one node; the same command again writes nothing.
// Isolation: its own cluster, database and prefix ({tf-cluster-<random>}).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import { generateLegacyData, type GenerateSummary } from '../src/generator/generate.js';
import {
  TransportUnavailableError, createQueue, createWorker, ensureTransportReady, obliterateQueues, redactUrl, redisAnswers,
  type QueueTransport,
} from '../src/queue/index.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { entityCounts, rowVersions, writeCounters } from './helpers/ledger.js';
import { jsonLines, readExpectedRejects, runFleet, summaryOf } from './helpers/legacy-files.js';
import { startRedisCluster, type RedisClusterUnderTest } from './helpers/redis-cluster.js';
import { LOADED_MACHINE_SLACK_MS, REDIS_URL, createTestDatabase, type TestDatabase } from './helpers/services.js';

const KINDS = ['projects', 'phases', 'tasks', 'task_dependencies'] as const;
const SIZE = { projects: 200, phasesPerProject: 4, tasks: 20_000 };

let cluster: RedisClusterUnderTest;
let db: TestDatabase;
let root: string;
let dataDir: string;
let generated: GenerateSummary;
const prefix = `{tf-cluster-${randomBytes(4).toString('hex')}}`;

beforeAll(async () => {
  const started = performance.now();
  [cluster, db, root] = await Promise.all([startRedisCluster(3), createTestDatabase('cluster'), mkdtemp(join(tmpdir(), 'taskfleet-cluster-'))]);
  console.info(`[cluster] three masters on ports ${cluster.ports.join(', ')} ready in ${(performance.now() - started).toFixed(0)} ms`);
  dataDir = join(root, 'legacy');
  generated = await generateLegacyData({ out: dataDir, ...SIZE, format: 'jsonl', seed: 6, badRatio: 0.02 });
  expect(generated.legacy.tasks).toBeGreaterThan(SIZE.tasks);
  expect(generated.expectedRejects.tasks).toBeGreaterThan(0);
});

afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Every key under a prefix on each node (a node's SCAN only sees the slots it serves). */
async function keysByNode(keyPrefix: string): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const port of cluster.ports) {
    const keys = (await cluster.cli(port, '--scan', '--pattern', `${keyPrefix}*`)).split('\n').filter((k) => k !== '');
    out.set(port, keys);
  }
  return out;
}

/** Client connections on all nodes together (each count includes redis-cli's own). */
async function connectedClients(): Promise<number> {
  let total = 0;
  for (const port of cluster.ports) total += Number(/^connected_clients:(\d+)/m.exec(await cluster.cli(port, 'INFO', 'clients'))?.[1]);
  return total;
}

async function waitUntil(check: () => Promise<boolean>, what: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('readiness on a cluster', () => {
  it('answers on the cluster, from all nodes or from one seed with ?cluster=true', async () => {
    await ensureTransportReady({ kind: 'redis', url: cluster.url, prefix });
    await ensureTransportReady({ kind: 'redis', url: `redis://127.0.0.1:${cluster.ports[1]}?cluster=true`, prefix });
    expect(await redisAnswers(cluster.url, 2000)).toBe(true);
    // A dead seed among live ones is no obstacle: any node gives the slot map.
    await ensureTransportReady({ kind: 'redis', url: `redis://127.0.0.1:1,127.0.0.1:${cluster.ports[2]}`, prefix });
  });

  it('gives up at the deadline on a seed node that accepts connections but never answers', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const url = `redis://u:s3cret-pw@127.0.0.1:${port}?cluster=true`;
      const started = performance.now();
      const err: unknown = await ensureTransportReady({ kind: 'redis', url, prefix }, 500).catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(500 + LOADED_MACHINE_SLACK_MS);
      expect(err).toBeInstanceOf(TransportUnavailableError);
      expect((err as Error).message).toContain(`Cannot reach Redis at ${redactUrl(url)}: `);
      expect((err as Error).message).not.toContain('s3cret-pw');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('fails within the timeout, naming the nodes without the password, when no node listens', async () => {
    const dead = `redis://app:s3cret-pw@127.0.0.1:1,127.0.0.1:2,127.0.0.1:3`;
    const started = performance.now();
    const err: unknown = await ensureTransportReady({ kind: 'redis', url: dead, prefix }, 1000).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(1000 + LOADED_MACHINE_SLACK_MS);
    expect(err).toBeInstanceOf(TransportUnavailableError);
    const message = (err as Error).message;
    expect(message).toContain(`Cannot reach Redis at ${redactUrl(dead)}: `);
    expect(message).toContain('connect ECONNREFUSED 127.0.0.1:1; connect ECONNREFUSED 127.0.0.1:2; connect ECONNREFUSED 127.0.0.1:3');
    expect(message).not.toContain('s3cret-pw');
  });

  it('says what is wrong when the URL and the server disagree', async () => {
    // A cluster URL on a Redis without cluster support.
    const plain = `${REDIS_URL.replace(/\/\d*$/, '')}?cluster=true`;
    const err: unknown = await ensureTransportReady({ kind: 'redis', url: plain, prefix }, 2000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportUnavailableError);
    expect((err as Error).message).toContain('without cluster support (INFO cluster: cluster_enabled:0)');
    // One cluster node addressed as a single Redis: BullMQ would meet MOVED replies later, so it is refused now.
    const one = `redis://127.0.0.1:${cluster.ports[0]}`;
    const err2: unknown = await ensureTransportReady({ kind: 'redis', url: one, prefix }, 2000).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(ConfigError);
    expect((err2 as Error).message).toContain('names one node of a Redis Cluster');
  });
});

describe('the prefix on a cluster', () => {
  it('a prefix without a hash tag is refused, by the library and by the CLI, before anything starts', async () => {
    const t: QueueTransport = { kind: 'redis', url: cluster.url, prefix: 'tf-no-tag' };
    expect(() => createQueue('migrate', t)).toThrow(ConfigError);
    expect(() => createWorker('migrate', () => Promise.resolve(), t, { concurrency: 1 })).toThrow(/has no hash tag/);
    await expect(ensureTransportReady(t)).rejects.toThrow(/The queue prefix "tf-no-tag" has no hash tag/);

    const result = await runCli(['migrate', '--skip-prepare', '--legacy-data', dataDir, '--new-data', db.url, '--redis', cluster.url, '--prefix', 'tf-no-tag', '--json']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(`The queue prefix "tf-no-tag" has no hash tag, and ${cluster.url} is a Redis Cluster`);
    expect(result.stderr).toContain('--prefix "{tf-no-tag}"');
    // Nothing was planned.
    const runs = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger.runs').catch(() => ({ rows: [{ n: 0 }] }));
    expect(runs.rows[0]!.n).toBe(0);
  });

  it('a Queue and a Worker on the cluster: 50 jobs once each, keys in one node, every connection closed after', async () => {
    const t: QueueTransport = { kind: 'redis', url: cluster.url, prefix: `{tf-cluster-q-${randomBytes(3).toString('hex')}}` };
    const baseline = await connectedClients();
    const queue = createQueue<{ n: number }>('smoke', t);
    const seen: number[] = [];
    const worker = createWorker<{ n: number }>('smoke', (job) => {
      seen.push(job.data.n);
      return Promise.resolve();
    }, t, { concurrency: 4 });
    try {
      const done = new Promise<void>((resolve) => worker.on('completed', () => { if (seen.length === 50) resolve(); }));
      await queue.addBulk(Array.from({ length: 50 }, (_, n) => ({ name: 'job', data: { n }, opts: { jobId: `j-${n}` } })));
      await queue.addBulk(Array.from({ length: 50 }, (_, n) => ({ name: 'job', data: { n }, opts: { jobId: `j-${n}` } })));
      await done;
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, n) => n));
      const byNode = await keysByNode(t.prefix);
      expect([...byNode.values()].filter((keys) => keys.length > 0)).toHaveLength(1);
    } finally {
      await worker.close();
      await queue.close();
      await obliterateQueues(t, ['smoke']);
    }
    expect([...(await keysByNode(t.prefix)).values()].flat()).toEqual([]);
    // Closing the Queue and the Worker also closed the Cluster clients made for them (BullMQ leaves a
    // client it is given open) — including a Queue and a Worker closed before they ever connected.
    const early = [createQueue('early', t), createWorker('early', () => Promise.resolve(), t, { concurrency: 1 })];
    await Promise.all(early.map((c) => c.close()));
    await waitUntil(async () => (await connectedClients()) === baseline, () => `client connections back to ${baseline}`);
  });
});

describe('a 20k-task migration through the cluster', () => {
  let args: string[];
  let runId: string;

  it('completes with exact counts, checked with this file\'s own SQL', async () => {
    args = ['migrate', '--skip-prepare', '--legacy-data', dataDir, ...connectionArgs(db, prefix, cluster.url), '--workers', '2', '--json'];
    const started = performance.now();
    const result = await runFleet(db.pool, args);
    const seconds = (performance.now() - started) / 1000;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const summary = summaryOf(result);
    runId = summary.runId;
    expect(summary).toMatchObject({ status: 'completed', balanced: true });
    console.info(`[cluster] migrated ${generated.legacy.tasks} legacy tasks (${KINDS.map((k) => `${k} ${generated.legacy[k]}`).join(', ')}) `
      + `through a 3-master Redis Cluster with 2 workers in ${seconds.toFixed(1)} s`);

    // Rows in the new system: legacy records minus the generator's expected rejects, none twice.
    const expected = Object.fromEntries(KINDS.map((k) => {
      const rows = generated.legacy[k] - generated.expectedRejects[k];
      return [k, { rows, distinctLegacy: rows }];
    }));
    expect(await entityCounts(db.pool)).toEqual(expected);

    // The ledger's rejects are the generator's list, by kind and legacy record reference.
    const expectedRejects = await readExpectedRejects(dataDir);
    const { rows: rejects } = await db.pool.query<{ kind: string; ref: string }>('SELECT kind, ref FROM ledger.rejects WHERE run_id = $1', [runId]);
    const key = (r: { kind: string; ref: string }) => `${r.kind} ${r.ref}`;
    expect(rejects.map(key).sort()).toEqual(expectedRejects.map(key).sort());
    for (const k of KINDS) {
      expect(rejects.filter((r) => r.kind === k).length, k).toBe(generated.expectedRejects[k]);
    }
    // And the summary agrees, kind by kind.
    expect(summary.kinds.map((k) => [k.kind, k.legacy, k.migrated, k.rejected])).toEqual(
      KINDS.map((k) => [k, generated.legacy[k], generated.legacy[k] - generated.expectedRejects[k], generated.expectedRejects[k]]));
  });

  it('kept every queue key in the one slot of the prefix\'s hash tag, on one node', async () => {
    const byNode = await keysByNode(prefix);
    const holders = [...byNode.entries()].filter(([, keys]) => keys.length > 0);
    expect(holders, JSON.stringify([...byNode.entries()].map(([p, k]) => [p, k.length]))).toHaveLength(1);
    const [port, keys] = holders[0]!;
    expect(keys.some((k) => k.startsWith(`${prefix}:migrate:`))).toBe(true);
    const tag = prefix.slice(1, -1);
    const slot = Number((await cluster.cli(port, 'CLUSTER', 'KEYSLOT', tag)).trim());
    const slots = new Set<number>();
    for (const k of keys.slice(0, 50)) slots.add(Number((await cluster.cli(port, 'CLUSTER', 'KEYSLOT', k)).trim()));
    expect([...slots]).toEqual([slot]);
    // The node that holds them serves that slot, and the slot holds all of them. Keys only expire by now
    // (locks and the stalled check carry a TTL; a busy machine once let two go between two reads), so a
    // listed key missing from the slot must be gone altogether.
    const inSlot = new Set((await cluster.cli(port, 'CLUSTER', 'GETKEYSINSLOT', String(slot), String(keys.length + 1000))).split('\n').filter((k) => k !== ''));
    expect(inSlot.size).toBeGreaterThan(0);
    for (const k of keys.filter((key) => !inSlot.has(key))) expect(Number((await cluster.cli(port, 'EXISTS', k)).trim()), `${k} is outside slot ${slot}`).toBe(0);
  });

  it('the same command again is a no-op', async () => {
    const before = { counters: await writeCounters(db.pool), versions: await rowVersions(db.pool) };
    const again = await runFleet(db.pool, args);
    expect(again.code, again.stderr.slice(-3000)).toBe(0);
    const summary = summaryOf(again);
    expect(summary).toMatchObject({ runId, status: 'completed', balanced: true });
    const notes = jsonLines(again.stdout).filter((e) => e.event === 'note').map((e) => String(e.message));
    expect(notes.some((m) => m.includes(runId) && /already completed/.test(m)), notes.join('\n')).toBe(true);
    expect(await writeCounters(db.pool)).toEqual(before.counters);
    expect(await rowVersions(db.pool)).toBe(before.versions);
  });
});
