// The producer side: a BullMQ Queue on either transport.
import { Queue, createPostgresBackend } from 'bullmq';
import type { DefaultJobOptions, PostgresConnectionOptions, PostgresQueueBackend, QueueOptions } from 'bullmq';
import { postgresPoolConfig } from './postgres-options.js';
import { redisConnection } from './redis-connection.js';
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

/**
 * The events stream's cap (BullMQ's default: 10,000). Nothing of taskfleet reads the stream (progress
 * comes from the ledger, Bull Board reads the job sets), yet at 10,000 it grew with the number of jobs:
 * Redis's peak was 14% higher for 3M tasks than for 1M. A listener that follows live loses nothing.
 */
export const EVENTS_STREAM_MAX_LEN = 1000;

/** A producer's pg pool: adds are single statements, a few connections are plenty. */
const PRODUCER_POOL_SIZE = 4;

export function createQueue<T>(name: string, transport: QueueTransport, opts: CreateQueueOptions = {}): TransportQueue<T> {
  const defaults = { streams: { events: { maxLen: EVENTS_STREAM_MAX_LEN } }, ...(opts.defaultJobOptions ? { defaultJobOptions: opts.defaultJobOptions } : {}) };
  const onError = opts.onError ?? ignoreError;
  if (transport.kind === 'redis') {
    const redis = redisConnection('producer', transport.url, transport.prefix);
    const queue: RedisQueue<T> = new RedisQueueOwningConnection<T>(
      name,
      { connection: redis.connection, prefix: transport.prefix, ...defaults },
      redis.release,
    );
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

/** A Redis Queue that also closes the connection made for it (a Cluster client, which BullMQ leaves open). */
class RedisQueueOwningConnection<T> extends Queue<T, unknown, string> {
  constructor(name: string, opts: QueueOptions, private readonly release: () => Promise<void>) {
    super(name, opts);
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await this.release();
    }
  }
}

/** How long closing a queue may wait for its datastore before the connection is dropped. */
const CLOSE_WAIT_MS = 5000;

/**
 * Closes a queue, waiting at most `waitMs`: with its Redis gone, close() may wait for a reconnect that
 * never comes. (The client BullMQ made goes on reconnecting after close() then: a command that is done
 * exits anyway, see exitWhenDone.)
 */
export async function closeQueue(queue: Pick<TransportQueue<unknown>, 'close'>, waitMs = CLOSE_WAIT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    queue.close().catch(() => undefined),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, waitMs); }),
  ]);
  clearTimeout(timer);
}

/**
 * Resolves once each queue has written its meta (the events cap among it). A Queue writes it in the
 * background after connecting; jobs added before that trim the events stream to BullMQ's default cap.
 * (getVersion waits for that write, then reads one field: the only public way to await it.)
 */
export async function queuesReady(...queues: readonly Pick<TransportQueue<never>, 'getVersion'>[]): Promise<void> {
  await Promise.all(queues.map((queue) => queue.getVersion()));
}

/** The default error listener: its only job is to exist, so that an 'error' event cannot crash the process. */
export function ignoreError(_err: Error): void {}
