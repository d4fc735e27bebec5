// Typed errors of the queue transport.

/** The queue's datastore (Redis or Postgres) did not answer; the message names the URL without its password. */
export class TransportUnavailableError extends Error {
  override readonly name = 'TransportUnavailableError';

  constructor(
    readonly kind: 'redis' | 'postgres',
    readonly redactedUrl: string,
    cause: unknown,
  ) {
    const label = kind === 'redis' ? 'Redis' : 'Postgres';
    super(`Cannot reach ${label} at ${redactedUrl}: ${describe(cause)}`, { cause });
  }
}

/**
 * What a queue or worker 'error' event means, for the log: a job whose keys vanished (Redis flushed, or
 * its keys deleted) is not a connection problem, and the producer re-adds it from the ledger.
 */
export function queueProblem(err: Error): string {
  if (/Missing key for job/.test(err.message)) {
    return `A job vanished from the queue (Redis flushed, or its keys deleted?); the producer re-adds missing jobs from the ledger (or \`taskfleet resume RUN\`): ${err.message}`;
  }
  return `Queue connection problem: ${err.message}`;
}

/**
 * Whether a producer's queue call failed because Redis stopped answering (it fails fast: see producerRedisOptions).
 * On a Redis Cluster, a master's failover (or a cluster left without one) shows as CLUSTERDOWN, MOVED/TRYAGAIN
 * redirections ioredis gave up on, a cluster not ready or slots it cannot refresh: the ledger is intact, so
 * these are a lost connection too (the run is resumable), not a fault of the run.
 */
export function lostQueueConnection(err: unknown): boolean {
  return err instanceof Error
    && (LOST_CONNECTION.test(err.message) || CLUSTER_UNAVAILABLE.test(err.message));
}

const LOST_CONNECTION = /max retries per request|Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH/i;
// ioredis 6's cluster errors: ReplyErrors from a node, or its own once it gives up.
const CLUSTER_UNAVAILABLE = /^(CLUSTERDOWN|MOVED|ASK|TRYAGAIN)\b|Too many Cluster redirections|Cluster isn't ready|Failed to refresh slots cache|None of startup nodes is available|Cluster is disconnect/;

function describe(cause: unknown): string {
  if (cause instanceof AggregateError && cause.errors.length > 0) {
    // Node reports "connect ECONNREFUSED" per address tried (::1 and 127.0.0.1) inside an AggregateError.
    return cause.errors.map(describe).join('; ');
  }
  if (cause instanceof Error) return cause.message !== '' ? cause.message : cause.name;
  return String(cause);
}
