// Whether a run's producer is alive. While a producer drives a run it holds a session lock of the run on
// a connection of its own; Postgres drops the lock when the session ends, however the process ended
// (SIGKILL, a lost host). A run that is 'running' with no one holding its lock has lost its producer:
// status, the API and /metrics say so at once, instead of showing it running for good.
import { resumeCommand, type RunQueue } from '../ledger/run-queue.js';
import { ConfigError } from '../config/errors.js';
import type { Logger } from '../logger.js';
import type { Run } from '../ledger/runs.js';
import { createPool, type Pool, type PoolClient } from '../store/pool.js';
import { advisoryKey } from '../store/session-lock.js';

/** The run's producer lock key, of a run id given as an SQL expression. */
const producerKey = (idSql: string): string => advisoryKey('producer', idSql);
/** How soon a lost presence connection is taken again. */
const RETRY_MS = 1000;
/** How soon the lock is tried again while another producer holds it (a takeover's overlap). */
const OTHER_RETRY_MS = 5000;

export interface ProducerPresence {
  /** Lets go of the run (the producer is done with it). */
  detach(): Promise<void>;
}

/**
 * Holds the run's producer lock until detach(), on a connection of its own that is taken again when
 * Postgres drops it. Refused at once when another producer holds it (two producers of one run would both
 * queue its chunks); a connection problem never fails the producer: the run only looks producer-less.
 */
export async function attachProducer(databaseUrl: string, runId: string, logger: Logger): Promise<ProducerPresence> {
  const pool = createPool(databaseUrl, 1);
  let held: PoolClient | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;
  let warned = false;

  const schedule = (ms: number): void => {
    if (!stopped && retry === null) retry = setTimeout(() => { retry = null; void hold(); }, ms);
  };
  const lose = (client: PoolClient): void => {
    if (held !== client) return;
    held = null;
    client.release(true);
    schedule(RETRY_MS);
  };
  const warnOnce = (why: string): void => {
    if (!warned) logger.warn({ runId, err: why }, `Cannot mark run ${runId} as driven by this producer (${why}); trying again`);
    warned = true;
  };
  /** 'held', 'other' (another producer holds the lock) or 'lost' (no connection). */
  const hold = async (): Promise<'held' | 'other' | 'lost'> => {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      warnOnce((err as Error).message);
      schedule(RETRY_MS);
      return 'lost';
    }
    try {
      const { rows: [row] } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${producerKey('$1')}) AS locked`, [runId]);
      if (!row!.locked) {
        client.release();
        warnOnce('another producer holds it');
        schedule(OTHER_RETRY_MS);
        return 'other';
      }
    } catch (err) {
      client.release(true);
      warnOnce((err as Error).message);
      schedule(RETRY_MS);
      return 'lost';
    }
    // The lock is the session's: this connection is never handed back to the pool until detach.
    if (stopped) { client.release(true); return 'held'; }
    client.once('error', () => lose(client));
    client.once('end', () => lose(client));
    held = client;
    warned = false;
    return 'held';
  };
  const detach = async (): Promise<void> => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const client = held;
    held = null;
    // Ending the session lets go of the lock.
    client?.release(true);
    await pool.end().catch(() => undefined);
  };

  if (await hold() === 'other') {
    await detach();
    throw new ConfigError(`Run ${runId} is driven by another producer right now (a migrate or resume still running, here or on another host): `
      + `follow it with taskfleet status ${runId}; resume is for a run whose producer stopped`);
  }
  return { detach };
}

/** SQL: whether the producer of run `idSql` holds its lock right now (any host, this database). */
const producerHolds = (idSql: string): string => `EXISTS (
  SELECT 1 FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     -- pg_locks shows a bigint advisory key as its high (classid) and low (objid) 32 bits, objsubid 1.
     AND ((l.classid::bigint << 32) | l.objid::bigint) = ${producerKey(idSql)})`;

/** The runs among `runIds` whose producer holds their lock right now. */
export async function runsWithProducer(db: Pool, runIds: readonly string[]): Promise<Set<string>> {
  if (runIds.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(`SELECT r.id FROM unnest($1::text[]) AS r(id) WHERE ${producerHolds('r.id')}`, [runIds]);
  return new Set(rows.map((r) => r.id));
}

/** Whether a running run's producer is alive; null for a run that is not running (nothing to drive). */
export async function producerAttachedTo(db: Pool, run: Pick<Run, 'id' | 'status'>): Promise<boolean | null> {
  return run.status === 'running' ? (await runsWithProducer(db, [run.id])).has(run.id) : null;
}

/** What status says of a running run with no producer. */
export function describeNoProducer(runId: string, queue: RunQueue | null = null): string {
  return `none: the process that drove this run stopped (killed, or its host lost). Workers finish the jobs it queued, `
    + `but nothing queues the rest: finish the run with ${resumeCommand(runId, queue)}`;
}

/** The runs that are 'running' with no producer driving them. */
export async function runningWithoutProducer(db: Pool): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(`SELECT r.id FROM ledger.runs r WHERE r.status = 'running' AND NOT ${producerHolds('r.id')} ORDER BY r.created_at`);
  return rows.map((r) => r.id);
}
