// Postgres advisory locks of taskfleet: one key space ('taskfleet.<namespace>.<id>'), and session locks
// held for the length of a piece of work on a connection of their own.
import type { Pool, PoolClient } from './pool.js';

/** The advisory lock key of `namespace` and an id given as SQL (`$1`, or a column such as `r.id`). */
export function advisoryKey(namespace: string, idSql: string): string {
  return `hashtextextended('taskfleet.${namespace}.' || ${idSql}, 0)`;
}

/**
 * Runs `fn` holding the session lock `namespace`/`id` on a connection of its own (given to `fn`), or
 * throws `busy()` at once when another session holds it. The connection is destroyed afterwards: ending
 * the session lets go of the lock even where an unlock would fail, and a session lock never goes back to
 * the pool with its connection.
 */
export async function whileHoldingSessionLock<T>(db: Pool, namespace: string, id: string, busy: () => Error, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    const { rows: [row] } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${advisoryKey(namespace, '$1')}) AS locked`, [id]);
    if (!row!.locked) throw busy();
    return await fn(client);
  } finally {
    client.release(true);
  }
}
