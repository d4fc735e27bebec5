// Where a run's jobs are queued (backend, key prefix, Redis), as recorded in the ledger when it is planned:
// a resume or status from another directory or host reads it there rather than assuming its own defaults.
import { DEFAULT_SETTINGS } from '../config/settings.js';
import { parseRedisUrl } from '../queue/redis-url.js';
import type { QueueTransport } from '../queue/transport.js';
import { shellWord } from '../shell-word.js';

export interface RunQueue {
  backend: 'redis' | 'postgres';
  prefix: string;
  /** `redis[s]://host:port[,host:port…]/db`, without credentials; null on the Postgres backend (the ledger's database). */
  redis: string | null;
}

/** The Redis a URL points at, without user or password (the ledger and the hints never hold one). */
export function redisLocation(url: string): string {
  const endpoint = parseRedisUrl(url);
  return `${endpoint.tls ? 'rediss' : 'redis'}://${endpoint.nodes.map((n) => `${n.host}:${n.port}`).join(',')}/${endpoint.db}`;
}

export function runQueueOf(transport: QueueTransport): RunQueue {
  return { backend: transport.kind, prefix: transport.prefix, redis: transport.kind === 'redis' ? redisLocation(transport.url) : null };
}

const DEFAULT_REDIS = redisLocation(DEFAULT_SETTINGS.redisUrl);

/** The connection flags that reach the run's queue, for any that differ from the defaults ('' for none or an unknown queue). */
export function queueFlags(queue: RunQueue | null): string {
  if (!queue) return '';
  const flags: string[] = [];
  if (queue.backend !== DEFAULT_SETTINGS.queueBackend) flags.push(`--queue-backend ${queue.backend}`);
  if (queue.redis !== null && queue.redis !== DEFAULT_REDIS) flags.push(`--redis ${shellWord(queue.redis)}`);
  if (queue.prefix !== DEFAULT_SETTINGS.prefix) flags.push(`--prefix ${shellWord(queue.prefix)}`);
  return flags.map((f) => ` ${f}`).join('');
}

/** `taskfleet resume RUN` with the flags that reach the run's queue (--redis without its password: the ledger has none). */
export function resumeCommand(runId: string, queue: RunQueue | null): string {
  return `taskfleet resume ${runId}${queueFlags(queue)}`;
}

/** How a queue is shown: `{pl} on redis://host:6379/0`, `{pl} on the Postgres backend`. */
export function describeRunQueue(queue: RunQueue): string {
  return `${queue.prefix} on ${queue.redis ?? 'the Postgres backend'}`;
}

/**
 * Why `current` is not the run's recorded queue, or null when it is (or the run predates the record). Only the
 * backend and prefix count: one Redis has many addresses (a host name, an IP, a proxy), so a Redis address
 * that differs is not refused.
 */
export function queueMismatch(runId: string, recorded: RunQueue | null, current: RunQueue): string | null {
  if (!recorded) return null;
  if (recorded.backend === current.backend && recorded.prefix === current.prefix) return null;
  return `Run ${runId} queues its jobs on ${describeRunQueue(recorded)}, but this command would queue them on ${describeRunQueue(current)}, `
    + `where its workers may not listen. Use: ${resumeCommand(runId, recorded)}; or, to move the run to this queue on purpose `
    + `(workers must then listen there): taskfleet resume ${runId} --move-queue with this command's connection flags`;
}
