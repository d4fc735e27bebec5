// Where the queues live: BullMQ on Redis (production) or BullMQ's Postgres backend (embedded default).

export type QueueTransport =
  | { kind: 'redis'; url: string; prefix: string }
  | { kind: 'postgres'; url: string; prefix: string };

/** The default key prefix: braces make it a Redis Cluster hash tag, so all of a queue's keys share one slot. */
export const DEFAULT_QUEUE_PREFIX = '{taskfleet}';

const MAX_IDENTIFIER_LENGTH = 63;

/**
 * The Postgres schema that holds BullMQ's tables for a prefix. BullMQ's Postgres backend ignores the key
 * prefix and namespaces by schema instead, so the prefix picks the schema: `{taskfleet}` → `bullmq_taskfleet`.
 * This keeps BullMQ's tables (job, meta, event, migration, …) away from ours in `tms` and `ledger`.
 */
export function postgresSchemaForPrefix(prefix: string): string {
  const cleaned = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '');
  const schema = cleaned === '' ? 'bullmq' : `bullmq_${cleaned}`;
  if (schema.length > MAX_IDENTIFIER_LENGTH) {
    throw new Error(
      `The queue prefix ${JSON.stringify(prefix)} makes the Postgres schema name ${schema}, ` +
        `which is longer than ${MAX_IDENTIFIER_LENGTH} characters: use a shorter prefix.`,
    );
  }
  return schema;
}
