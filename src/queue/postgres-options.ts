// pg pool settings for BullMQ's Postgres backend.
import type { PostgresPoolConfig } from 'bullmq';
import { postgresSchemaForPrefix } from './transport.js';

/**
 * A config object, not a bare URL: only the object form carries `schema` (a bare string always uses the
 * `bullmq` schema). `max` bounds the pool each Queue or Worker opens; a Worker also holds one extra
 * LISTEN connection outside the pool.
 */
export function postgresPoolConfig(url: string, prefix: string, max: number): PostgresPoolConfig {
  return {
    connectionString: url,
    schema: postgresSchemaForPrefix(prefix),
    max,
    // Migrations run once in ensureTransportReady; a Queue or Worker only checks the schema version.
    skipMigrations: true,
  };
}
