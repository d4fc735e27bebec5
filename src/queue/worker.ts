// The consumer side: a BullMQ Worker on either transport.
import { Worker, createPostgresBackend } from 'bullmq';
import type { JobProgress, KeepJobs, PostgresConnectionOptions, PostgresQueueBackend, Processor, WorkerOptions } from 'bullmq';
import { postgresPoolConfig } from './postgres-options.js';
import { ignoreError } from './queue.js';
import { redisConnection } from './redis-connection.js';
import type { QueueTransport } from './transport.js';

export type RedisWorker<T> = Worker<T, unknown, string>;
export type PostgresWorker<T> = Worker<T, unknown, string, PostgresQueueBackend, JobProgress, PostgresConnectionOptions>;
export type TransportWorker<T> = RedisWorker<T> | PostgresWorker<T>;
export type JobProcessor<T> = Processor<T, unknown, string>;

export interface CreateWorkerOptions {
  concurrency: number;
  lockDuration?: number;
  stalledInterval?: number;
  maxStalledCount?: number;
  removeOnComplete?: KeepJobs;
  removeOnFail?: KeepJobs;
  /** false: the caller starts the worker with `worker.run()`. */
  autorun?: boolean;
  /** Connection errors and errors thrown outside a job; without it they are dropped instead of crashing the process. */
  onError?: (err: Error) => void;
}

/**
 * BullMQ gives each Worker two connections of its own: one for commands and a dedicated blocking one for
 * fetching jobs (BZPOPMIN on Redis, LISTEN on Postgres). Jobs share them; nothing opens a connection per job.
 */
export function createWorker<T>(
  name: string,
  processor: JobProcessor<T>,
  transport: QueueTransport,
  opts: CreateWorkerOptions,
): TransportWorker<T> {
  const { onError = ignoreError, ...rest } = opts;
  const settings = definedOnly(rest);
  if (transport.kind === 'redis') {
    const redis = redisConnection('worker', transport.url, transport.prefix);
    const worker: RedisWorker<T> = new RedisWorkerOwningConnection<T>(
      name,
      processor,
      { ...settings, connection: redis.connection, prefix: transport.prefix },
      redis.release,
    );
    worker.on('error', onError);
    return worker;
  }
  const worker: PostgresWorker<T> = new Worker(
    name,
    processor,
    // Each in-flight job holds a pool connection while it completes; the lock renewer and stalled checker need a few more.
    { ...settings, connection: postgresPoolConfig(transport.url, transport.prefix, opts.concurrency + 3) },
    createPostgresBackend,
  );
  worker.on('error', onError);
  return worker;
}

/**
 * A Redis Worker that also closes the connection made for it: on a cluster, the Cluster client it was
 * handed (BullMQ closes the blocking duplicate it made itself, but leaves a client it was given open).
 */
class RedisWorkerOwningConnection<T> extends Worker<T, unknown, string> {
  constructor(name: string, processor: JobProcessor<T>, opts: WorkerOptions, private readonly release: () => Promise<void>) {
    super(name, processor, opts);
  }

  override async close(force?: boolean): Promise<void> {
    try {
      await super.close(force);
    } finally {
      await this.release();
    }
  }
}

/** BullMQ treats a present-but-undefined option differently from a missing one (its defaults would be overwritten). */
function definedOnly<O extends object>(obj: O): Partial<O> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<O>;
}
