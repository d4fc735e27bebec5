// Start-up probes: is the transport's datastore there, and (Postgres) is BullMQ's schema in place?
import { Redis } from 'ioredis';
import pg from 'pg';
import { runMigrations } from 'bullmq';
import { TransportUnavailableError } from './errors.js';
import { redactUrl } from '../redact-url.js';
import type { QueueTransport } from './transport.js';
import { postgresSchemaForPrefix } from './transport.js';

const DEFAULT_TIMEOUT_MS = 3000;
/** Migrations wait on an advisory lock while another process migrates; bound that wait too. */
const MIGRATION_TIMEOUT_MS = 60_000;

/**
 * Probes the transport within `timeoutMs`: PING on Redis; on Postgres, connects and brings BullMQ's
 * schema up to date. Migrations are idempotent and serialised by BullMQ's advisory lock, so several
 * processes may call this at once. Throws TransportUnavailableError, never hangs.
 */
export async function ensureTransportReady(transport: QueueTransport, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  try {
    if (transport.kind === 'redis') {
      await pingRedis(transport.url, timeoutMs);
    } else {
      await migratePostgres(transport.url, postgresSchemaForPrefix(transport.prefix), timeoutMs);
    }
  } catch (err) {
    throw new TransportUnavailableError(transport.kind, redactUrl(transport.url), scrubPassword(err, transport.url));
  }
}

/** For choosing the embedded default: use Redis when one answers, otherwise fall back to Postgres. */
export async function redisAnswers(url: string, timeoutMs: number): Promise<boolean> {
  try {
    await pingRedis(url, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

async function pingRedis(url: string, timeoutMs: number): Promise<void> {
  // One attempt, no reconnects, no offline queue: the probe must fail rather than wait for Redis to appear.
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  try {
    await withDeadline(
      (async () => {
        await client.connect();
        await client.ping();
      })(),
      timeoutMs,
      () => lastError,
    );
  } catch (err) {
    // ioredis reports a refused connection as "Connection is closed." after the socket error: keep the socket error.
    throw lastError ?? err;
  } finally {
    client.disconnect();
  }
}

async function migratePostgres(url: string, schema: string, timeoutMs: number): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: MIGRATION_TIMEOUT_MS,
  });
  client.on('error', () => {
    // A connection dropped while idle surfaces on the next query; the listener only prevents a crash.
  });
  try {
    await withDeadline(client.connect(), timeoutMs, () => undefined);
    // runMigrations needs one session (its advisory lock and transaction must share it), hence a Client, not a Pool.
    await runMigrations(client, schema);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Rejects after `ms` even if the operation never settles (a black-holed host, a stuck TLS handshake). */
async function withDeadline<T>(work: Promise<T>, ms: number, reason: () => unknown): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const cause = reason();
      reject(cause instanceof Error ? cause : new Error(`no answer within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Drivers may quote the connection string in their messages: keep the password out of ours. */
function scrubPassword(err: unknown, url: string): unknown {
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    return err;
  }
  if (password === '' || !(err instanceof Error) || !err.message.includes(password)) return err;
  const scrubbed = new Error(err.message.split(password).join('***'));
  scrubbed.name = err.name;
  return scrubbed;
}
