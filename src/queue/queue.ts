// The producer side: a BullMQ Queue on either transport.
import { Queue, createPostgresBackend } from 'bullmq';
import type { DefaultJobOptions, PostgresConnectionOptions, PostgresQueueBackend } from 'bullmq';
import { postgresPoolConfig } from './postgres-options.js';
import { producerRedisOptions } from './redis-options.js';
import type { QueueTransport } from './transport.js';

export type RedisQueue<T> = Queue<T, unknown, string>;
export type PostgresQueue<T> = Queue<T, unknown, string, T, unknown, string, PostgresQueueBackend, PostgresConnectionOptions>;
/**
 * A Queue on either backend. The common API (add, addBulk, getJob, getJobCounts, pause, obliterate, close,
 * on) is callable on the union; anything backend-specific (the raw Redis client) needs `transport.kind`.
 */
export type TransportQueue<T> = RedisQueue<T> | PostgresQueue<T>;

export interface CreateQueueOptions {
  /** Connection and command errors; without it they are dropped, because an unhandled 'error' event crashes the process. */
  onError?: (err: Error) => void;
  defaultJobOptions?: DefaultJobOptions;
}

/** A producer's pg pool: adds are single statements, a few connections are plenty. */
const PRODUCER_POOL_SIZE = 4;

export function createQueue<T>(name: string, transport: QueueTransport, opts: CreateQueueOptions = {}): TransportQueue<T> {
  const defaults = opts.defaultJobOptions ? { defaultJobOptions: opts.defaultJobOptions } : {};
  const onError = opts.onError ?? ignoreError;
  if (transport.kind === 'redis') {
    const queue: RedisQueue<T> = new Queue(name, {
      connection: producerRedisOptions(transport.url),
      prefix: transport.prefix,
      ...defaults,
    });
    queue.on('error', onError);
    return queue;
  }
  const queue: PostgresQueue<T> = new Queue(
    name,
    { connection: postgresPoolConfig(transport.url, transport.prefix, PRODUCER_POOL_SIZE), ...defaults },
    createPostgresBackend,
  );
  queue.on('error', onError);
  return queue;
}

/** The default error listener: its only job is to exist, so that an 'error' event cannot crash the process. */
export function ignoreError(_err: Error): void {}
