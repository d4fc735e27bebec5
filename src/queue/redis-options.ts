// ioredis settings for each role, following BullMQ's production guide, for one Redis or a Redis Cluster.
import type { RedisOptions } from 'bullmq';
import type { ClusterOptions } from 'ioredis';
import type { RedisEndpoint } from './redis-url.js';

/** Who a connection is for: a producer (Queue) fails fast, a worker waits out an outage. */
export type RedisRole = 'producer' | 'worker';

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

/**
 * The same two roles on a Redis Cluster, as options of an ioredis `Cluster`. The per-node settings
 * (credentials, TLS, maxRetriesPerRequest) go in `redisOptions`, where both ioredis and BullMQ look for
 * them; the offline queue is a setting of the Cluster itself.
 *
 * - producer: `enableOfflineQueue: false` (commands fail while the cluster is not ready) and
 *   `maxRetriesPerRequest: 1`, as for one Redis.
 * - worker: `maxRetriesPerRequest: null`, which BullMQ requires of the connection it duplicates for its
 *   blocking fetch (BZPOPMIN), and the offline queue left on, as BullMQ's guide asks of workers: the
 *   blocking connection inherits the Cluster's options, and must wait for a reconnect rather than fail.
 *   No `commandTimeout` either: it would cut the blocking fetch short.
 *
 * `lazyConnect`: BullMQ connects the client itself (and waits for it to be ready) once its error listener
 * is in place. With TLS, node addresses are not resolved up front, so certificates are checked against
 * the host names the cluster announces (ioredis's advice for managed clusters such as ElastiCache).
 */
export function clusterOptions(role: RedisRole, endpoint: RedisEndpoint): ClusterOptions {
  const nodeOptions = {
    ...(endpoint.username !== undefined ? { username: endpoint.username } : {}),
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    ...(endpoint.tls ? { tls: {} } : {}),
  };
  const common: ClusterOptions = {
    lazyConnect: true,
    ...(endpoint.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  };
  if (role === 'producer') {
    return { ...common, enableOfflineQueue: false, redisOptions: { ...nodeOptions, maxRetriesPerRequest: 1 } };
  }
  return { ...common, redisOptions: { ...nodeOptions, maxRetriesPerRequest: null } };
}
