// A worker process's own metrics, served at /metrics on its health port: jobs it processed by queue and
// outcome, how long its chunk jobs took, and how many jobs it is running now. A registry per process
// (never prom-client's global one); the operations server exports the fleet-wide, ledger-based view.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How a job attempt ended: done, failed but will be retried, or failed for good (permanent, or the last attempt). */
export type JobOutcome = 'completed' | 'retried' | 'failed';

/** Seconds; the same buckets as the server's ledger-based taskfleet_chunk_duration_seconds. */
const CHUNK_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export interface WorkerMetrics {
  registry: Registry;
  /** Call when a job starts; call the returned function once when it ends. */
  jobStarted(queue: string, stage?: string): (outcome: JobOutcome) => void;
}

export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'taskfleet_worker_' });
  const registers = [registry];
  const processed = new Counter({
    name: 'taskfleet_worker_jobs_processed_total', help: 'Job attempts this worker finished, by queue and outcome (completed, retried, failed).',
    labelNames: ['queue', 'outcome'], registers,
  });
  const active = new Gauge({ name: 'taskfleet_worker_active_jobs', help: 'Jobs this worker is processing now, by queue.', labelNames: ['queue'], registers });
  const chunkDuration = new Histogram({
    name: 'taskfleet_worker_chunk_duration_seconds', help: 'How long this worker\'s chunk job attempts took, by stage and outcome.',
    labelNames: ['stage', 'outcome'], buckets: CHUNK_DURATION_BUCKETS, registers,
  });
  return {
    registry,
    jobStarted(queue, stage) {
      active.inc({ queue });
      const started = performance.now();
      let ended = false;
      return (outcome) => {
        if (ended) return;
        ended = true;
        active.dec({ queue });
        processed.inc({ queue, outcome });
        if (stage !== undefined) chunkDuration.observe({ stage, outcome }, (performance.now() - started) / 1000);
      };
    },
  };
}
