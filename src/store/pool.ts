// The Postgres connection pool shared by one process's jobs. Dates stay text (YYYY-MM-DD) so no time
// zone shifts them; every session runs in UTC so timestamps without an offset read as UTC.
import pg from 'pg';

pg.types.setTypeParser(1082, (value: string) => value);

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/**
 * How long the Postgres server keeps the session of a client that went silent. A worker host that drops
 * off the network (cable, VM, partition) never closes its connections: by default the server only
 * notices after the kernel's TCP keepalive (2 h idle) or retransmission limit (~15 min), and until then the
 * dead client's open transaction keeps its chunk's row locks, so the worker BullMQ hands the stalled job to
 * blocks on them. These bounds make the server end such a session, rolling its transaction back, within
 * about `deadClientMs`.
 */
export interface SessionGuards {
  /** Silence (no byte, no keepalive answer, or sent data left unacknowledged) after which the server drops the client. 0: the server's defaults. */
  deadClientMs: number;
  /** idle_in_transaction_session_timeout: a live client that stops mid-transaction (a frozen process). 0: off. */
  idleInTransactionMs: number;
}

/**
 * For pools created without settings (commands other than `worker`). Idle-in-transaction stays off: verify
 * and the id-mapping export legitimately hold a snapshot transaction open while they stream other input.
 */
export const DEFAULT_SESSION_GUARDS: SessionGuards = Object.freeze({ deadClientMs: 60_000, idleInTransactionMs: 0 });

/** Per-session settings, sent in the startup packet (libpq `options`): no extra round trip. */
export function sessionOptions(guards: SessionGuards): string {
  // Dates and timestamps print as the per-chunk read-back and the workflow hash expect, whatever the
  // server's own DateStyle.
  const options = ['-c TimeZone=UTC', '-c DateStyle=ISO'];
  if (guards.deadClientMs > 0) {
    // Keepalive probes cover a silent peer while the server waits for it (idle, idle in transaction, COPY
    // FROM STDIN): first probe after half the budget, then 3 probes a sixth of it apart. tcp_user_timeout
    // covers the server sending to it (results, COPY TO) with nothing acknowledged.
    const idleS = Math.max(1, Math.round(guards.deadClientMs / 2000));
    const intervalS = Math.max(1, Math.round(guards.deadClientMs / 6000));
    options.push(`-c tcp_keepalives_idle=${idleS}`, `-c tcp_keepalives_interval=${intervalS}`, '-c tcp_keepalives_count=3',
      `-c tcp_user_timeout=${guards.deadClientMs}`);
  }
  if (guards.idleInTransactionMs > 0) options.push(`-c idle_in_transaction_session_timeout=${guards.idleInTransactionMs}`);
  return options.join(' ');
}

/** How often a busy backend checks that its client is still there (Postgres ≥ 14), given the guards. */
export function connectionCheckIntervalMs(guards: SessionGuards): number {
  return guards.deadClientMs > 0 ? Math.max(1000, Math.min(10_000, Math.round(guards.deadClientMs / 6))) : 0;
}

export function createPool(databaseUrl: string, max: number, guards: SessionGuards = DEFAULT_SESSION_GUARDS): pg.Pool {
  const checkMs = connectionCheckIntervalMs(guards);
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    options: sessionOptions(guards),
    connectionTimeoutMillis: 10_000,
    // Our side of the same problem: a query waiting on a server that vanished fails once keepalive gives
    // up, instead of holding its job's slot forever.
    keepAlive: guards.deadClientMs > 0,
    keepAliveInitialDelayMillis: Math.max(1000, Math.round(guards.deadClientMs / 2)),
    // A backend busy in one long statement reads nothing from its client; from Postgres 14 it can poll the
    // socket (and so see the keepalive's verdict) meanwhile. Older servers do not know the setting (it
    // would fail the connection in `options`), so it is set once connected, where the server has it; the
    // pool hands the client out after this hook (pg-pool awaits it; @types/pg still types it as void).
    ...(checkMs > 0 ? {
      // eslint-disable-next-line @typescript-eslint/no-misused-promises
      onConnect: async (client: pg.ClientBase): Promise<void> => {
        await client.query(`SELECT set_config('client_connection_check_interval', $1, false) WHERE current_setting('server_version_num')::int >= 140000`,
          [`${checkMs}ms`]).catch(() => undefined);
      },
    } : {}),
  });
  // A client losing its connection (a restarted or failed-over server, pg_terminate_backend, a cut network)
  // must not crash the process. Idle in the pool, the pool's listener hears it; checked out (a job's
  // transaction, the producer's LISTEN session), only the client's own listener does: its query fails
  // instead, the job retries on a new connection, and the pool drops the dead client when it is released.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => { client.on('error', () => undefined); });
  return pool;
}

export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Whether a query failed because its connection was lost (the server ended the session, restarted,
 * failed over, or cannot be reached): the same query on a new connection may well succeed.
 */
export function lostDatabaseConnection(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  // Class 08 (connection exception); 57P01-03: admin shutdown, crash shutdown, cannot connect now.
  if (typeof code === 'string' && (code.startsWith('08') || /^57P0[123]$/.test(code))) return true;
  return err instanceof Error && /Connection terminated|connection error|ECONNRESET|ECONNREFUSED/i.test(err.message);
}
