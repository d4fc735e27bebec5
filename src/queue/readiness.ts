// Start-up probes: is the transport's datastore there, and (Postgres) is BullMQ's schema in place?
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { runMigrations } from 'bullmq';
import { ConfigError } from '../config/errors.js';
import { TransportUnavailableError } from './errors.js';
import { redactUrl } from '../redact-url.js';
import { parseRedisUrl, redisEndpointFor, type RedisEndpoint } from './redis-url.js';
import type { QueueTransport } from './transport.js';
import { postgresSchemaForPrefix } from './transport.js';

const DEFAULT_TIMEOUT_MS = 3000;
/** Migrations wait on an advisory lock while another process migrates; bound that wait too. */
const MIGRATION_TIMEOUT_MS = 60_000;

/**
 * Probes the transport within `timeoutMs`: PING on Redis (on a cluster: the slots map, and CLUSTER INFO
 * must say the cluster is ok); on Postgres, connects and brings BullMQ's schema up to date. Migrations are
 * idempotent and serialised by BullMQ's advisory lock, so several processes may call this at once.
 * Throws TransportUnavailableError, never hangs; ConfigError for a URL or prefix that cannot work (a bad
 * URL, a cluster prefix without a hash tag, a cluster node addressed as a single Redis).
 */
export async function ensureTransportReady(transport: QueueTransport, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  try {
    if (transport.kind === 'redis') {
      await pingRedis(redisEndpointFor(transport.url, transport.prefix), transport.url, timeoutMs);
    } else {
      await migratePostgres(transport.url, postgresSchemaForPrefix(transport.prefix), timeoutMs);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new TransportUnavailableError(transport.kind, redactUrl(transport.url), scrubPassword(err, transport));
  }
}

/** For choosing the embedded default: use Redis when one answers, otherwise fall back to Postgres. */
export async function redisAnswers(url: string, timeoutMs: number): Promise<boolean> {
  try {
    await pingRedis(parseRedisUrl(url), url, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

async function pingRedis(endpoint: RedisEndpoint, url: string, timeoutMs: number): Promise<void> {
  if (endpoint.mode === 'cluster') {
    await pingCluster(endpoint, timeoutMs);
    return;
  }
  const { clusterEnabled } = await pingNode(new Redis(endpoint.singleUrl ?? url, probeOptions(timeoutMs)), timeoutMs);
  // A cluster node answers PING too, but BullMQ would then meet MOVED replies mid-run: say so now.
  if (clusterEnabled) throw new ConfigError(CLUSTER_NODE_AS_SINGLE);
}

const CLUSTER_NODE_AS_SINGLE =
  'The Redis URL names one node of a Redis Cluster: list the cluster\'s nodes (redis://host1:port1,host2:port2,…) ' +
  'or add ?cluster=true, so that the queues use a cluster client.';

/** One attempt, no reconnects, no offline queue: a probe must fail rather than wait for Redis to appear. */
function probeOptions(timeoutMs: number) {
  return {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  };
}

/** Connects, PINGs and reads INFO cluster (a server that refuses INFO is given the benefit of the doubt); always disconnects. */
async function pingNode(client: Redis, timeoutMs: number): Promise<{ clusterEnabled: boolean }> {
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  try {
    return await withDeadline(
      (async () => {
        await client.connect();
        await client.ping();
        await selectsItsDatabase(client);
        const info = await client.info('cluster').catch(() => '');
        return { clusterEnabled: /^cluster_enabled:1\s*$/m.test(info) };
      })(),
      timeoutMs,
      () => lastError,
    );
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    // ioredis reports a refused connection as "Connection is closed." after the socket error: keep the socket error.
    throw lastError ?? err;
  } finally {
    client.disconnect();
  }
}

/**
 * ioredis only logs a failed SELECT of the URL's database number and goes on in database 0: the queues
 * would land there, beside whatever else uses it. Select it again, here, where a refusal can stop the command.
 */
async function selectsItsDatabase(client: Redis): Promise<void> {
  const db = client.options.db ?? 0;
  if (db === 0) return;
  try {
    await client.select(db);
  } catch (err) {
    throw new ConfigError(`The Redis URL names database ${db}, which this Redis server refuses (${(err as Error).message}): `
      + `its \`databases\` setting (16 unless configured) bounds the number; use a lower one`);
  }
}

/**
 * A cluster probe, within `timeoutMs`, once, without reconnecting: first the seed nodes one by one (so
 * that a refused connection or a wrong password is reported as such; ioredis's Cluster only says
 * "Connection is closed."), then a Cluster client: the slots map, and CLUSTER INFO must say
 * cluster_state:ok (every slot served).
 */
async function pingCluster(endpoint: RedisEndpoint, timeoutMs: number): Promise<void> {
  const started = Date.now();
  const nodeOptions = {
    ...(endpoint.username !== undefined ? { username: endpoint.username } : {}),
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    ...(endpoint.tls ? { tls: {} } : {}),
  };
  const seeds = await Promise.allSettled(endpoint.nodes.map((node) =>
    pingNode(new Redis({ ...probeOptions(timeoutMs), ...nodeOptions, host: node.host, port: node.port }), timeoutMs)));
  const answered = seeds.filter((s) => s.status === 'fulfilled');
  if (answered.length === 0) {
    const errors = seeds.map((s) => (s.status === 'rejected' ? s.reason as unknown : undefined));
    throw errors.length === 1 ? errors[0] : new AggregateError(errors, 'no seed node of the cluster answered');
  }
  if (!answered.some((s) => s.value.clusterEnabled)) {
    throw new Error('the seed nodes are Redis servers without cluster support (INFO cluster: cluster_enabled:0): '
      + 'a URL with several hosts or ?cluster=true needs a Redis Cluster');
  }

  const remaining = Math.max(1, timeoutMs - (Date.now() - started));
  const client = new Cluster(endpoint.nodes, {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: () => null,
    slotsRefreshTimeout: remaining,
    ...(endpoint.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    redisOptions: { ...nodeOptions, connectTimeout: remaining, commandTimeout: remaining, maxRetriesPerRequest: 0 },
  });
  let lastError: unknown;
  const remember = (err: unknown) => {
    // "Failed to refresh slots cache." says little; the node's own error says more.
    const nodeError = (err as { lastNodeError?: unknown } | null)?.lastNodeError;
    lastError = nodeError ?? err;
  };
  client.on('error', remember);
  client.on('node error', remember);
  try {
    await withDeadline(
      (async () => {
        await client.connect();
        const info = await client.cluster('INFO');
        const state = /^cluster_state:(\w+)/m.exec(info)?.[1];
        if (state !== 'ok') throw new Error(`the cluster's state is ${state ?? 'unknown'}, not ok (CLUSTER INFO)`);
      })(),
      remaining,
      () => lastError,
    );
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    if (lastError instanceof Error && /None of startup nodes is available|Failed to refresh slots cache|Connection is closed/.test(message)) throw lastError;
    throw err;
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
function scrubPassword(err: unknown, transport: QueueTransport): unknown {
  let password = '';
  try {
    password = transport.kind === 'redis' ? (parseRedisUrl(transport.url).password ?? '') : decodeURIComponent(new URL(transport.url).password);
  } catch {
    return err;
  }
  if (password === '' || !(err instanceof Error) || !err.message.includes(password)) return err;
  const scrubbed = new Error(err.message.split(password).join('***'));
  scrubbed.name = err.name;
  return scrubbed;
}
