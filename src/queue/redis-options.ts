// ioredis settings for each role, following BullMQ's production guide.
import type { RedisOptions } from 'bullmq';

/**
 * A producer (Queue) fails fast: with Redis gone, `add` rejects at once instead of queueing commands in
 * memory, so the caller (the producer's backpressure loop) sees the outage and can stop or retry.
 */
export function producerRedisOptions(url: string): RedisOptions {
  return { url, enableOfflineQueue: false, maxRetriesPerRequest: 1 };
}

/**
 * A worker waits out an outage: `maxRetriesPerRequest: null` keeps its commands (and its blocking fetch)
 * retrying across reconnects instead of failing the job it is processing.
 */
export function workerRedisOptions(url: string): RedisOptions {
  return { url, maxRetriesPerRequest: null };
}
