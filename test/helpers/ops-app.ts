// The operations server's routers (progress API and stream, /metrics, probes) mounted into a bare
// Express app, as `taskfleet server` mounts them but without its authentication: for testing them alone
// against a test's own database and queue prefix. Listens on a free loopback port.
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { loadSettings } from '../../src/config/settings.js';
import { createLogger } from '../../src/logger.js';
import { createQueue, type TransportQueue } from '../../src/queue/index.js';
import { transportOf, WORKER_QUEUES } from '../../src/queue/queue-names.js';
import { healthRouter } from '../../src/server/health-routes.js';
import { metricsHandler } from '../../src/server/metrics.js';
import { progressRouter } from '../../src/server/progress-routes.js';
import type { ProgressStreamOptions } from '../../src/server/progress-stream.js';
import type { ServerDeps } from '../../src/server/server-deps.js';
import { createPool } from '../../src/store/pool.js';
import { insertRun, updateRun } from '../../src/ledger/runs.js';
import { prepareDatabase } from '../../src/store/database.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './services.js';

export interface OpsApp {
  url: string;
  deps: ServerDeps;
  close(): Promise<void>;
}

export function opsDeps(databaseUrl: string, prefix: string, redisUrl = REDIS_URL): ServerDeps {
  const settings = loadSettings({ databaseUrl, redisUrl, prefix, queueBackend: 'redis', logLevel: 'silent' }, { env: {} });
  const transport = transportOf(settings);
  const queues = new Map<string, TransportQueue<unknown>>(WORKER_QUEUES.map((name) => [name, createQueue<unknown>(name, transport)]));
  return { settings, logger: createLogger('silent'), db: createPool(databaseUrl, 4), transport, queues };
}

export async function startOpsApp(databaseUrl: string, prefix: string,
  opts: { stream?: ProgressStreamOptions; readyTimeoutMs?: number; redisUrl?: string } = {}): Promise<OpsApp> {
  const deps = opsDeps(databaseUrl, prefix, opts.redisUrl);
  const app = express();
  app.use('/api', progressRouter(deps, opts.stream));
  app.get('/metrics', metricsHandler(deps));
  app.use(healthRouter(deps, { timeoutMs: opts.readyTimeoutMs }));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    deps,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...deps.queues.values()].map((q) => q.close()));
      await deps.db.end();
    },
  };
}

export interface MetricFamily {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string }[];
}

/**
 * parse-prometheus-text-format (no type declarations). It validates the text format, but it loses the
 * labels, _sum and _count of histograms: read those with `sampleValue`.
 */
export const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => MetricFamily[];

/** The value of one sample line, e.g. sampleValue(text, 'x_count', { stage: 'tasks' }); null when absent. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have[l[1]!] = l[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v) && Object.keys(have).length === Object.keys(labels).length) return Number(m[3]);
  }
  return null;
}

export interface StreamEvent {
  event: string;
  data: unknown;
  /** ms since the stream opened. */
  at: number;
}

/** Opens a run's event stream; collects its events until the server ends it (or `stop`). */
export function openEventStream(url: string): { events: StreamEvent[]; heartbeats: () => number; done: Promise<void>; stop(): void } {
  const events: StreamEvent[] = [];
  let heartbeats = 0;
  const controller = new AbortController();
  const opened = Date.now();
  const done = (async () => {
    const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
    if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}: ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(': heartbeat')) { heartbeats += 1; continue; }
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data), at: Date.now() - opened });
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err;
    }
  })();
  return { events, heartbeats: () => heartbeats, done, stop: () => controller.abort() };
}

/** A test file's own migrated database, queue prefix and ops app over them: for tests that drive the ledger by hand. */
export async function startLedgerOpsApp(label: string, opts: { stream?: ProgressStreamOptions } = {}): Promise<{ db: TestDatabase; app: OpsApp; close: () => Promise<void> }> {
  const prefix = uniquePrefix(label);
  const db = await createTestDatabase(label);
  await prepareDatabase(db.url);
  const app = await startOpsApp(db.url, prefix, opts);
  return {
    db,
    app,
    close: async () => {
      await app.close().catch(() => undefined);
      await db.drop().catch(() => undefined);
      await deleteQueueKeys(prefix);
    },
  };
}

/** A run row as a producer leaves it once it started (no files or chunks: add those as the test needs). */
export async function insertRunningRun(pool: TestDatabase['pool'], id: string): Promise<void> {
  await insertRun(pool, { id, legacyDir: '/nonexistent', fingerprint: 'f', options: { mapping: {} as never, chunkSize: 1, chunkMaxBytes: 1024, maxRejects: null } });
  await updateRun(pool, id, { status: 'running', started: true });
}
