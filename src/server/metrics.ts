// The operations server's /metrics (Prometheus text format). The server does no migration work, so every
// value is read at scrape time from the ledger (Postgres) and the queues: a restarted server exports the
// same numbers, and the gauges equal the ledger's counts. The workers export their own, live metrics on
// their health port (src/workers/worker-metrics.ts). A registry of our own, never prom-client's global one.
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { chunkDurations, ledgerTotals } from '../ledger/ops-metrics.js';
import { runningWithoutProducer } from '../producers/producer-presence.js';
import { queueDepth, type QueueDepth } from '../queue/index.js';
import type { ServerDeps } from './server-deps.js';

/** Seconds; chunk jobs take from tens of milliseconds (small stages) to minutes (a 5000-record chunk on a slow disk). */
export const CHUNK_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

const DEPTH_STATES: (keyof QueueDepth)[] = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'];

export interface ServerMetrics {
  registry: Registry;
  /** Reads the ledger and the queues into the metrics, then renders them. */
  render(): Promise<string>;
}

export function createServerMetrics(deps: ServerDeps): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'taskfleet_server_' });
  const registers = [registry];
  // What the ledger holds now, so gauges: a rollback removes a run's rows and the dependency cycle check
  // deletes edges the dependencies stage counted, and a counter must never go down (Prometheus would read
  // a reset). Throughput is deriv() of these; the only _total the server exports is a count of its own.
  const migrated = new Gauge({
    name: 'taskfleet_entities_migrated', help: 'Legacy records migrated, by kind, summed over every run in the ledger (goes down when a run is rolled back).', labelNames: ['kind'], registers,
  });
  const rejected = new Gauge({
    name: 'taskfleet_entities_rejected', help: 'Legacy records rejected (ledger.rejects), by kind, summed over every run in the ledger (goes down when a run is rolled back).', labelNames: ['kind'], registers,
  });
  const chunks = new Gauge({ name: 'taskfleet_chunks', help: 'Chunks in the ledger by status (pending, done, failed).', labelNames: ['status'], registers });
  const chunkDuration = new Histogram({
    name: 'taskfleet_chunk_duration_seconds', help: 'How long done chunks took, by stage (from the ledger, every run).',
    labelNames: ['stage'], buckets: CHUNK_DURATION_BUCKETS, registers,
  });
  const queueJobs = new Gauge({ name: 'taskfleet_queue_jobs', help: 'Jobs in each queue by state.', labelNames: ['queue', 'state'], registers });
  const workers = new Gauge({ name: 'taskfleet_workers', help: 'Worker connections taking jobs from each queue (BullMQ getWorkersCount).', labelNames: ['queue'], registers });
  const runs = new Gauge({ name: 'taskfleet_runs', help: 'Migration runs in the ledger by status.', labelNames: ['status'], registers });
  const workflowRuns = new Gauge({ name: 'taskfleet_workflow_runs', help: 'Workflow run attempts (tms.workflow_runs) by status.', labelNames: ['status'], registers });
  const cacheHits = new Gauge({ name: 'taskfleet_workflow_cache_hits', help: 'Workflow runs in tms.workflow_runs answered from the cache (an earlier succeeded run of the same definition); goes down when a run is rolled back.', registers });
  const lastProgress = new Gauge({
    name: 'taskfleet_last_progress_timestamp_seconds', help: 'When the last chunk or workflow run finished (Unix seconds; 0 before any).', registers,
  });
  const producerless = new Gauge({
    name: 'taskfleet_runs_without_producer', help: 'Runs that are running with no producer driving them (it was killed or lost its host): `taskfleet resume RUN`.', registers,
  });
  const scrapeErrors = new Counter({ name: 'taskfleet_metrics_source_errors_total', help: 'Scrapes where a queue could not be read (its gauges are left out).', labelNames: ['queue'], registers });
  // Exported at 0 from the start: increase() over a series that first appears at 1 sees no increase, so
  // the alert on it would miss the first failed scrape.
  for (const name of deps.queues.keys()) scrapeErrors.inc({ queue: name }, 0);

  async function refresh(): Promise<void> {
    const [totals, durations, orphans, queues] = await Promise.all([
      ledgerTotals(deps.db),
      chunkDurations(deps.db),
      runningWithoutProducer(deps.db),
      Promise.all([...deps.queues].map(async ([name, queue]) => {
        try {
          const [depth, count] = await Promise.all([queueDepth(queue), queue.getWorkersCount()]);
          return { name, depth, count };
        } catch (err) {
          deps.logger.warn({ queue: name, err: (err as Error).message }, `Metrics could not read queue ${name}: ${(err as Error).message}`);
          return { name, depth: null, count: null };
        }
      })),
    ]);
    migrated.reset();
    rejected.reset();
    for (const k of totals.kinds) {
      migrated.set({ kind: k.kind }, k.migrated);
      rejected.set({ kind: k.kind }, k.rejected);
    }
    chunks.reset();
    for (const status of ['pending', 'done', 'failed']) chunks.set({ status }, totals.chunksByStatus.find((c) => c.status === status)?.chunks ?? 0);
    runs.reset();
    for (const status of ['planning', 'running', 'completed', 'failed', 'rolled_back']) runs.set({ status }, totals.runsByStatus.find((r) => r.status === status)?.runs ?? 0);
    workflowRuns.reset();
    for (const status of ['running', 'succeeded', 'failed', 'cached', 'abandoned']) {
      workflowRuns.set({ status }, totals.workflowRunsByStatus.find((r) => r.status === status)?.runs ?? 0);
    }
    producerless.set(orphans.length);
    cacheHits.set(totals.workflowCacheHits);
    lastProgress.set(totals.lastProgressAt ?? 0);
    chunkDuration.reset();
    for (const d of durations) {
      for (let i = 0; i < d.chunks; i++) chunkDuration.observe({ stage: d.stage }, d.ms / 1000);
    }
    queueJobs.reset();
    workers.reset();
    for (const q of queues) {
      if (!q.depth || q.count === null) { scrapeErrors.inc({ queue: q.name }); continue; }
      for (const state of DEPTH_STATES) queueJobs.set({ queue: q.name, state }, q.depth[state]);
      workers.set({ queue: q.name }, q.count);
    }
  }

  // One scrape at a time: a second one waits for the first instead of interleaving resets and sets.
  let last: Promise<unknown> = Promise.resolve();
  return {
    registry,
    render() {
      const next = last.catch(() => undefined).then(async () => {
        await refresh();
        return registry.metrics();
      });
      last = next;
      return next;
    },
  };
}

export function metricsHandler(deps: ServerDeps): RequestHandler {
  const metrics = createServerMetrics(deps);
  return (_req, res) => {
    metrics.render().then(
      (text) => { res.set('content-type', metrics.registry.contentType).send(text); },
      (err: unknown) => {
        deps.logger.error({ err: (err as Error).message }, `Metrics scrape failed: ${(err as Error).message}`);
        res.status(503).type('text/plain').send(`metrics unavailable: ${(err as Error).message}\n`);
      },
    );
  };
}
