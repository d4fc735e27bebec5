// Reaching the new system's Postgres: a clear error when it cannot be reached, and the schema
// migrations applied on first use.
import pg from 'pg';
import { migrateToLatest } from '../../db/migrate.js';
import { redactUrl } from '../redact-url.js';

export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

export async function checkDatabase(url: string, timeoutMs = 5000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new DatabaseUnavailableError(`Cannot reach Postgres at ${redactUrl(url)}: ${e.message || e.code || 'connection failed'}`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Checks the database and applies pending schema migrations (every command does this first). */
export async function prepareDatabase(url: string): Promise<string[]> {
  await checkDatabase(url);
  return migrateToLatest(url);
}
