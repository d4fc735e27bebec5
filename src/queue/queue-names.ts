// The taskfleet queues, and which transport the settings choose. Kept free of heavy imports: the
// producer, the board and the workers all need these.
import type { Settings } from '../config/settings.js';
import { redisEndpointFor } from './redis-url.js';
import type { QueueTransport } from './transport.js';

/** The queue that carries migration chunk jobs. */
export const MIGRATE_QUEUE = 'migrate';

/** The queue that carries task workflow runs (the `workflows` stage: one job per on-migrate workflow). */
export const WORKFLOWS_QUEUE = 'workflows';

/** Every queue a worker serves. */
export const WORKER_QUEUES = [MIGRATE_QUEUE, WORKFLOWS_QUEUE] as const;
export type WorkerQueue = (typeof WORKER_QUEUES)[number];

/** The transport the settings choose; throws ConfigError for a Redis Cluster with a prefix that has no hash tag. */
export function transportOf(settings: Settings): QueueTransport {
  if (settings.queueBackend === 'postgres') return { kind: 'postgres', url: settings.databaseUrl, prefix: settings.prefix };
  redisEndpointFor(settings.redisUrl, settings.prefix);
  return { kind: 'redis', url: settings.redisUrl, prefix: settings.prefix };
}
