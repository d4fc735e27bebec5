// The one place a Redis connection for BullMQ is made: options for one Redis, or an ioredis Cluster.
import type { ConnectionOptions } from 'bullmq';
import { Cluster } from 'ioredis';
import { clusterOptions, producerRedisOptions, workerRedisOptions, type RedisRole } from './redis-options.js';
import { redisEndpointFor } from './redis-url.js';

export interface RedisConnection {
  /** BullMQ's `connection` option: ioredis options for one Redis (BullMQ opens and closes the client), or a Cluster client. */
  connection: ConnectionOptions;
  /**
   * Closes what BullMQ leaves open: BullMQ never closes a client it was handed (it may be shared), so the
   * Cluster client is quit here, after the Queue or Worker closed. Idempotent; nothing to do for one Redis.
   */
  release: () => Promise<void>;
}

const QUIT_TIMEOUT_MS = 2000;

/**
 * BullMQ connects a Cluster only when given a client (its options form always makes a single-node ioredis
 * client), so a cluster transport gets a Cluster client per Queue or Worker. A Worker duplicates it for
 * its blocking connection, which BullMQ owns and closes. Throws ConfigError for a bad URL, or a cluster
 * with a prefix that has no hash tag.
 */
export function redisConnection(role: RedisRole, url: string, prefix: string): RedisConnection {
  const endpoint = redisEndpointFor(url, prefix);
  if (endpoint.mode === 'single') {
    const singleUrl = endpoint.singleUrl ?? url;
    return {
      connection: role === 'producer' ? producerRedisOptions(singleUrl) : workerRedisOptions(singleUrl),
      release: () => Promise.resolve(),
    };
  }
  const cluster = new Cluster(endpoint.nodes, clusterOptions(role, endpoint));
  let released: Promise<void> | undefined;
  return {
    connection: cluster,
    release: () => (released ??= quitCluster(cluster)),
  };
}

/** QUIT on every node, bounded; a cluster that is not (or no longer) ready is simply disconnected. */
async function quitCluster(cluster: Cluster): Promise<void> {
  if (cluster.status === 'end') return;
  if (cluster.status !== 'ready') {
    cluster.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const quit = cluster.quit().then(() => true, () => false);
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), QUIT_TIMEOUT_MS);
  });
  try {
    if (!(await Promise.race([quit, timedOut]))) cluster.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
