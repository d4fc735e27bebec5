// How many jobs a queue holds, by state: for progress, backpressure and health checks.
import type { JobType } from 'bullmq';

export interface QueueDepth {
  /** Jobs waiting for a worker, including those of a paused queue. */
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  prioritized: number;
}

/** The one method queueDepth needs, so it takes a Queue of any payload and either backend. */
export interface CountsJobs {
  getJobCounts(...types: JobType[]): Promise<Record<string, number>>;
}

/**
 * The backends disagree on a paused queue: Redis keeps its jobs under 'waiting', Postgres moves them to
 * 'paused' (a state BullMQ 6 dropped from JobType but still counts). Summing the two gives both the same
 * answer, and a paused queue never looks empty to the producer's backpressure.
 */
const STATES = ['waiting', 'paused', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as JobType[];

export async function queueDepth(queue: CountsJobs): Promise<QueueDepth> {
  const counts = await queue.getJobCounts(...STATES);
  return {
    waiting: (counts.waiting ?? 0) + (counts.paused ?? 0),
    active: counts.active ?? 0,
    delayed: counts.delayed ?? 0,
    failed: counts.failed ?? 0,
    completed: counts.completed ?? 0,
    prioritized: counts.prioritized ?? 0,
  };
}
