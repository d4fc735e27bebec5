// Issue 5, acceptance 2: /metrics of the operations server and of a worker, and the server's probes.
// A real migration (the built CLI as producer, an in-process worker with its health port) runs against
// real Redis and Postgres; then the server's /metrics parses as Prometheus text and its counts equal the
// ledger's, and the worker's job counters equal the chunks it did. /readyz follows a private embedded
// Postgres being stopped (503) and started again (200), and a Redis that does not answer.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../src/config/settings.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/embedded/postgres.js';
import { generateLegacyData } from '../src/generator/generate.js';
import { runSummary } from '../src/ledger/summary.js';
import { createLogger } from '../src/logger.js';
import { READY_TIMEOUT_MS } from '../src/server/health-routes.js';
import { prepareDatabase } from '../src/store/database.js';
import { startChunkWorker, type ChunkWorker } from '../src/workers/chunk-worker.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { parsePrometheus, sampleValue, startOpsApp, type OpsApp } from './helpers/ops-app.js';
import { createTestDatabase, deleteQueueKeys, LOADED_MACHINE_SLACK_MS, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const RUN = 'metrics-run';
const prefix = uniquePrefix('server_metrics');
let root: string;
let db: TestDatabase;
let app: OpsApp;
let worker: ChunkWorker | null = null;
let legacyDir: string;

async function scrape(url: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-server-metrics-'));
  // As root, the embedded Postgres runs as the postgres OS user, who must be able to enter the directory.
  await chmod(root, 0o755);
  legacyDir = join(root, 'legacy');
  db = await createTestDatabase('server_metrics');
  await Promise.all([
    generateLegacyData({ out: legacyDir, format: 'jsonl', projects: 30, phasesPerProject: 3, tasks: 8000, badRatio: 0.02, seed: 5100 }),
    prepareDatabase(db.url),
  ]);
  app = await startOpsApp(db.url, prefix);
});

afterAll(async () => {
  await worker?.close().catch(() => undefined);
  await app?.close().catch(() => undefined);
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('/metrics', () => {
  it('worker and server metrics equal the ledger after a run', async () => {
    const settings = loadSettings({ databaseUrl: db.url, redisUrl: REDIS_URL, prefix, logLevel: 'silent', concurrency: 2 }, { env: {} });
    worker = await startChunkWorker(settings, createLogger('silent'), { healthPort: 0 });
    const workerUrl = `http://127.0.0.1:${worker.health!.port}/metrics`;
    // The server sees the worker's connections on both queues.
    await until('workers on the migrate queue', async () => sampleValue((await scrape(`${app.url}/metrics`)).text, 'taskfleet_workers', { queue: 'migrate' }), (n) => n === 1);

    const result = await runCli(['migrate', '--skip-prepare', '--legacy-data', legacyDir, '--run-id', RUN, '--chunk-size', '1000',
      ...connectionArgs(db, prefix, REDIS_URL), '--json']);
    expect(result.code, result.stderr).toBe(0);

    const { rows: chunks } = await db.pool.query<{ stage: string; chunks: number; seconds: number }>(
      `SELECT stage, count(*)::int AS chunks, (sum(duration_ms) / 1000.0)::float8 AS seconds FROM ledger.chunks
        WHERE run_id = $1 AND status = 'done' GROUP BY stage`, [RUN]);
    const doneChunks = chunks.reduce((n, c) => n + c.chunks, 0);
    expect(chunks.find((c) => c.stage === 'tasks')?.chunks).toBeGreaterThanOrEqual(8);

    // The worker: every chunk job it completed, timed per stage, none left active.
    const w = await scrape(workerUrl);
    expect(w.status).toBe(200);
    expect(w.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(parsePrometheus(w.text).map((f) => f.name)).toEqual(expect.arrayContaining([
      'taskfleet_worker_jobs_processed_total', 'taskfleet_worker_active_jobs', 'taskfleet_worker_chunk_duration_seconds']));
    expect(sampleValue(w.text, 'taskfleet_worker_jobs_processed_total', { queue: 'migrate', outcome: 'completed' })).toBe(doneChunks);
    expect(sampleValue(w.text, 'taskfleet_worker_jobs_processed_total', { queue: 'migrate', outcome: 'failed' })).toBeNull();
    expect(sampleValue(w.text, 'taskfleet_worker_active_jobs', { queue: 'migrate' })).toBe(0);
    for (const c of chunks) {
      expect(sampleValue(w.text, 'taskfleet_worker_chunk_duration_seconds_count', { stage: c.stage, outcome: 'completed' }), c.stage).toBe(c.chunks);
    }

    // The server: the ledger's accounting, run and chunk statuses, chunk durations, queue depth.
    const s = await scrape(`${app.url}/metrics`);
    expect(s.status).toBe(200);
    const families = new Map(parsePrometheus(s.text).map((f) => [f.name, f]));
    expect(families.get('taskfleet_entities_migrated')?.type).toBe('GAUGE');
    expect(families.get('taskfleet_queue_jobs')?.type).toBe('GAUGE');
    expect(families.get('taskfleet_chunk_duration_seconds')?.type).toBe('HISTOGRAM');
    const summary = await runSummary(db.pool, RUN);
    expect(summary.reduce((n, k) => n + k.rejected, 0)).toBeGreaterThan(0);
    for (const k of summary) {
      const parsed = families.get('taskfleet_entities_migrated')!.metrics.find((m) => m.labels?.kind === k.kind);
      expect(Number(parsed?.value), k.kind).toBe(k.migrated);
      expect(sampleValue(s.text, 'taskfleet_entities_rejected', { kind: k.kind }), k.kind).toBe(k.rejected);
    }
    expect(sampleValue(s.text, 'taskfleet_runs', { status: 'completed' })).toBe(1);
    expect(sampleValue(s.text, 'taskfleet_runs', { status: 'running' })).toBe(0);
    expect(sampleValue(s.text, 'taskfleet_chunks', { status: 'done' })).toBe(doneChunks);
    expect(sampleValue(s.text, 'taskfleet_chunks', { status: 'failed' })).toBe(0);
    for (const c of chunks) {
      expect(sampleValue(s.text, 'taskfleet_chunk_duration_seconds_count', { stage: c.stage }), c.stage).toBe(c.chunks);
      expect(sampleValue(s.text, 'taskfleet_chunk_duration_seconds_sum', { stage: c.stage })).toBeCloseTo(c.seconds, 6);
    }
    for (const queue of ['migrate', 'workflows']) {
      for (const state of ['waiting', 'active', 'delayed', 'failed']) expect(sampleValue(s.text, 'taskfleet_queue_jobs', { queue, state }), `${queue} ${state}`).toBe(0);
    }
    expect(sampleValue(s.text, 'taskfleet_queue_jobs', { queue: 'migrate', state: 'completed' })).toBeGreaterThan(0);
    expect(sampleValue(s.text, 'taskfleet_workflow_runs', { status: 'succeeded' })).toBe(0);
    expect(sampleValue(s.text, 'taskfleet_workflow_cache_hits')).toBe(0);
    // At 0 before any failure (found by the README probe): increase() misses a series' first sample, so
    // one that appeared only at the first failed scrape hid that failure from TaskfleetMetricsBlind.
    for (const queue of ['migrate', 'workflows']) expect(sampleValue(s.text, 'taskfleet_metrics_source_errors_total', { queue }), queue).toBe(0);
    const { rows: [last] } = await db.pool.query<{ at: number }>(
      `SELECT extract(epoch FROM max(done_at))::float8 AS at FROM ledger.chunks WHERE run_id = $1`, [RUN]);
    expect(sampleValue(s.text, 'taskfleet_last_progress_timestamp_seconds')).toBeCloseTo(last!.at, 3);

    // A stopped worker leaves the server's worker count.
    await worker.close();
    worker = null;
    await until('workers after close', async () => sampleValue((await scrape(`${app.url}/metrics`)).text, 'taskfleet_workers', { queue: 'migrate' }), (n) => n === 0);
  }, 120_000);
});

describe('/healthz and /readyz', () => {
  it('is not ready while its Postgres is stopped, ready again once it is back', async () => {
    const dataDir = join(root, 'pgdata');
    let pg: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir });
    const own = await startOpsApp(pg.url, prefix, { readyTimeoutMs: 1000 });
    try {
      expect((await scrape(`${own.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${own.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: { ok: true }, redis: { ok: true } } });

      await pg.stop();
      const started = Date.now();
      const down = await fetch(`${own.url}/readyz`);
      expect(down.status).toBe(503);
      const body = (await down.json()) as { status: string; checks: { postgres: { ok: boolean; error?: string }; redis: { ok: boolean } } };
      expect(body.status).toBe('not ready');
      expect(body.checks.postgres.ok).toBe(false);
      expect(body.checks.postgres.error).toBeTruthy();
      expect(body.checks.redis.ok).toBe(true);
      expect(Date.now() - started).toBeLessThan(READY_TIMEOUT_MS + LOADED_MACHINE_SLACK_MS);
      // Alive all the same: the process is fine, its database is not.
      expect((await scrape(`${own.url}/healthz`)).status).toBe(200);
      expect((await scrape(`${own.url}/metrics`)).status).toBe(503);

      pg = await startEmbeddedPostgres({ dataDir, port: pg.port });
      await until('readyz after the restart', async () => (await fetch(`${own.url}/readyz`)).status, (s) => s === 200);
    } finally {
      await own.close();
      await pg.stop();
    }
  }, 90_000);

  it('is not ready when Redis does not answer', async () => {
    const own = await startOpsApp(db.url, prefix, { readyTimeoutMs: 1000, redisUrl: 'redis://127.0.0.1:1/0' });
    try {
      const res = await fetch(`${own.url}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { checks: { postgres: { ok: boolean }; redis: { ok: boolean; error?: string } } };
      expect(body.checks.postgres.ok).toBe(true);
      expect(body.checks.redis).toMatchObject({ ok: false });
      expect(body.checks.redis.error).toMatch(/Cannot reach Redis/);
    } finally {
      await own.close();
    }
  });
});
