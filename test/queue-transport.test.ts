// The queue transport against real Redis and a real Postgres (BullMQ's Postgres backend): dedup by job id,
// exactly-once processing at concurrency 4, counts, db selection, and fast, password-free failures.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_QUEUE_PREFIX,
  EVENTS_STREAM_MAX_LEN,
  TransportUnavailableError,
  createQueue,
  createWorker,
  ensureTransportReady,
  obliterateQueues,
  postgresSchemaForPrefix,
  queueDepth,
  queuesReady,
  redactUrl,
  redisAnswers,
} from '../src/queue/index.js';
import type { QueueTransport, TransportQueue, TransportWorker } from '../src/queue/index.js';
import { ConfigError } from '../src/config/errors.js';
import { LOADED_MACHINE_SLACK_MS } from './helpers/services.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const suffix = (): string => randomBytes(4).toString('hex');

interface Payload {
  n: number;
}

/** Resolves once `count` jobs completed on the worker; rejects on the first failed job. */
function completions(worker: TransportWorker<Payload>, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    worker.on('completed', () => {
      done += 1;
      if (done === count) resolve();
    });
    worker.on('failed', (job, err) => reject(new Error(`job ${job?.id ?? '?'} failed: ${err.message}`)));
  });
}

function jobsFor(ids: string[]): { name: string; data: Payload; opts: { jobId: string } }[] {
  return ids.map((id, n) => ({ name: 'chunk', data: { n }, opts: { jobId: id } }));
}

// Postgres: a database of its own, dropped at the end.
const pgDatabase = `taskfleet_qt_${suffix()}`;
const pgUrl = (() => {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${pgDatabase}`;
  return url.toString();
})();

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await adminQuery(`CREATE DATABASE ${pgDatabase}`);
});

afterAll(async () => {
  await adminQuery(`DROP DATABASE IF EXISTS ${pgDatabase} WITH (FORCE)`);
});

const transports: { kind: QueueTransport['kind']; url: () => string }[] = [
  { kind: 'redis', url: () => REDIS_URL },
  { kind: 'postgres', url: () => pgUrl },
];

describe.each(transports)('BullMQ on $kind', ({ kind, url }) => {
  const transport = (): QueueTransport => ({ kind, url: url(), prefix: `{tf-qt-${suffix()}}` });

  it('adds 200 jobs once by id and processes each exactly once at concurrency 4', async () => {
    const t = transport();
    const name = `migrate-${suffix()}`;
    // Two processes starting together both run the migrations: BullMQ's advisory lock serialises them.
    await Promise.all([ensureTransportReady(t), ensureTransportReady(t)]);
    const queue: TransportQueue<Payload> = createQueue<Payload>(name, t);
    const ids = Array.from({ length: 200 }, (_, i) => `run1-chunk-${String(i).padStart(4, '0')}`);
    let worker: TransportWorker<Payload> | undefined;
    try {
      const started = performance.now();
      await queue.addBulk(jobsFor(ids));
      await queue.addBulk(jobsFor(ids)); // same ids again: nothing new
      await queue.add('chunk', { n: 0 }, { jobId: ids[0] });
      const addMs = performance.now() - started;
      expect(await queueDepth(queue)).toMatchObject({ waiting: 200, active: 0, completed: 0, failed: 0 });

      const seen = new Map<string, number>();
      let running = 0;
      let maxRunning = 0;
      worker = createWorker<Payload>(
        name,
        async (job) => {
          running += 1;
          maxRunning = Math.max(maxRunning, running);
          seen.set(job.id ?? '?', (seen.get(job.id ?? '?') ?? 0) + 1);
          // Yield to the event loop a few times so that the four slots really overlap.
          for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
          running -= 1;
          return { doubled: job.data.n * 2 };
        },
        t,
        { concurrency: 4 },
      );
      const processStarted = performance.now();
      await completions(worker, 200);
      const processMs = performance.now() - processStarted;

      expect(seen.size).toBe(200);
      expect([...seen.values()].every((times) => times === 1)).toBe(true);
      expect(maxRunning).toBe(4);
      expect(await queueDepth(queue)).toEqual({
        waiting: 0,
        active: 0,
        delayed: 0,
        failed: 0,
        completed: 200,
        prioritized: 0,
      });
      const job = await queue.getJob('run1-chunk-0007');
      expect(job?.returnvalue).toEqual({ doubled: 14 });

      // A completed job still blocks its id: re-running the producer adds nothing.
      await queue.addBulk(jobsFor(ids));
      expect(await queueDepth(queue)).toMatchObject({ waiting: 0, completed: 200 });

      console.info(
        `[${kind}] added 200 jobs (3 times) in ${addMs.toFixed(0)} ms; processed 200 in ${processMs.toFixed(0)} ms ` +
          `(${((200 / processMs) * 1000).toFixed(0)} jobs/s at concurrency 4)`,
      );
    } finally {
      await worker?.close();
      await queue.close();
      await obliterateQueues(t, [name]);
    }
  });

  it('frees the id of a job removed on completion, and still counts the jobs of a paused queue', async () => {
    const t = transport();
    const name = `remove-${suffix()}`;
    await ensureTransportReady(t);
    const queue = createQueue<Payload>(name, t);
    let worker: TransportWorker<Payload> | undefined;
    try {
      await queue.add('chunk', { n: 1 }, { jobId: 'once-a', removeOnComplete: true });
      worker = createWorker<Payload>(name, () => Promise.resolve('ok'), t, { concurrency: 1 });
      await completions(worker, 1);
      expect(await queue.getJob('once-a')).toBeUndefined();
      expect(await queueDepth(queue)).toMatchObject({ completed: 0, waiting: 0 });
      await worker.close();
      worker = undefined;

      await queue.add('chunk', { n: 2 }, { jobId: 'once-a' });
      await queue.pause();
      expect(await queueDepth(queue)).toMatchObject({ waiting: 1 });
      await queue.resume();
      expect(await queueDepth(queue)).toMatchObject({ waiting: 1 });
    } finally {
      await worker?.close();
      await queue.close();
      await obliterateQueues(t, [name]);
    }
  });

  it('fails within the timeout with the URL and no password when nothing listens', async () => {
    const deadUrl = kind === 'redis' ? 'redis://taskfleet:s3cret-pw@127.0.0.1:6390/0' : 'postgres://postgres:s3cret-pw@127.0.0.1:5499/test';
    const t: QueueTransport = { kind, url: deadUrl, prefix: DEFAULT_QUEUE_PREFIX };
    const started = performance.now();
    const err: unknown = await ensureTransportReady(t, 1000).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(1000 + LOADED_MACHINE_SLACK_MS);
    expect(err).toBeInstanceOf(TransportUnavailableError);
    const message = (err as Error).message;
    const label = kind === 'redis' ? 'Redis' : 'Postgres';
    expect(message).toContain(`Cannot reach ${label} at ${redactUrl(deadUrl)}: `);
    expect(message).toContain('ECONNREFUSED');
    expect(message).not.toContain('s3cret-pw');
  });

  it('gives up at the deadline on a server that accepts connections but never answers', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const scheme = kind === 'redis' ? 'redis' : 'postgres';
      const t: QueueTransport = { kind, url: `${scheme}://u:s3cret-pw@127.0.0.1:${port}/0`, prefix: DEFAULT_QUEUE_PREFIX };
      const started = performance.now();
      const err: unknown = await ensureTransportReady(t, 500).catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(500 + LOADED_MACHINE_SLACK_MS);
      expect(err).toBeInstanceOf(TransportUnavailableError);
      expect((err as Error).message).not.toContain('s3cret-pw');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('Redis specifics', () => {
  it('puts the jobs of a redis://…/5 URL in db 5, under the braced prefix', async () => {
    const prefix = `{tf-qt-${suffix()}}`;
    const name = `db5-${suffix()}`;
    const t: QueueTransport = { kind: 'redis', url: `${REDIS_URL.replace(/\/\d*$/, '')}/5`, prefix };
    const raw5 = new Redis(t.url);
    const raw0 = new Redis(`${REDIS_URL.replace(/\/\d*$/, '')}/0`);
    const queue = createQueue<Payload>(name, t);
    try {
      await queue.add('chunk', { n: 1 }, { jobId: 'in-db-5' });
      expect(await raw5.exists(`${prefix}:${name}:in-db-5`)).toBe(1);
      expect(await raw5.lrange(`${prefix}:${name}:wait`, 0, -1)).toEqual(['in-db-5']);
      expect(await raw0.keys(`${prefix}*`)).toEqual([]);
    } finally {
      await queue.close();
      await obliterateQueues(t, [name]);
      expect(await raw5.keys(`${prefix}*`)).toEqual([]);
      raw5.disconnect();
      raw0.disconnect();
    }
  });

  it('caps the events stream of every queue it creates (the stream would otherwise grow with the jobs)', async () => {
    const t: QueueTransport = { kind: 'redis', url: REDIS_URL, prefix: `{tf-qt-${suffix()}}` };
    const name = `events-${suffix()}`;
    const queue = createQueue<Payload>(name, t);
    const redis = new Redis(REDIS_URL);
    try {
      await queuesReady(queue); // the producer's first add waits for this too (migrate-command.ts)
      await queue.addBulk(jobsFor(Array.from({ length: 3000 }, (_, i) => `ev-${i}`)));
      expect(await redis.hget(`${t.prefix}:${name}:meta`, 'opts.maxLenEvents')).toBe(String(EVENTS_STREAM_MAX_LEN));
      // 3000 "added" and "waiting" events; XTRIM's approximate cap keeps a little more than the cap, not all of them.
      const length = await redis.xlen(`${t.prefix}:${name}:events`);
      expect(length).toBeGreaterThan(0);
      expect(length).toBeLessThan(2 * EVENTS_STREAM_MAX_LEN);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();
    }
  });

  it('refuses a database number the server does not have (ioredis would go on in db 0)', async () => {
    const redis = new Redis(REDIS_URL);
    const databases = Number((await redis.config('GET', 'databases').finally(() => redis.disconnect()))[1]);
    const t: QueueTransport = { kind: 'redis', url: `${REDIS_URL.replace(/\/\d*$/, '')}/${databases}`, prefix: `{tf-qt-${suffix()}}` };
    const err: unknown = await ensureTransportReady(t, 3000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`The Redis URL names database ${databases}, which this Redis server refuses (ERR DB index is out of range)`);
    // The last one it has is fine.
    await ensureTransportReady({ ...t, url: `${REDIS_URL.replace(/\/\d*$/, '')}/${databases - 1}` }, 3000);
  });

  it('tells whether Redis answers', async () => {
    expect(await redisAnswers(REDIS_URL, 1000)).toBe(true);
    expect(await redisAnswers('redis://127.0.0.1:6390', 500)).toBe(false);
  });
});

describe('Postgres specifics', () => {
  it('keeps BullMQ tables in a schema named after the prefix, out of public, tms and ledger', async () => {
    const prefix = `{tf-qt-${suffix()}}`;
    const schema = postgresSchemaForPrefix(prefix);
    expect(schema).toMatch(/^bullmq_tfqt[0-9a-f]{8}$/);
    expect(postgresSchemaForPrefix(DEFAULT_QUEUE_PREFIX)).toBe('bullmq_taskfleet');
    await ensureTransportReady({ kind: 'postgres', url: pgUrl, prefix });
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_schema: string; table_name: string }>(
        `select table_schema, table_name from information_schema.tables
          where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2`,
      );
      expect(new Set(rows.map((r) => r.table_schema)).has('public')).toBe(false);
      const ours = rows.filter((r) => r.table_schema === schema).map((r) => r.table_name);
      expect(ours).toEqual(expect.arrayContaining(['job', 'meta', 'migration', 'event', 'dedup']));
    } finally {
      await client.end();
    }
  });
});

describe('redactUrl', () => {
  it('hides passwords and nothing else', () => {
    expect(redactUrl('redis://:secret@127.0.0.1:6379/5')).toBe('redis://:***@127.0.0.1:6379/5');
    expect(redactUrl('rediss://default:p%40ss@cache.example:6380/0')).toBe('rediss://default:***@cache.example:6380/0');
    expect(redactUrl('postgres://app:pw@db:5432/taskfleet?sslmode=require')).toBe('postgres://app:***@db:5432/taskfleet?sslmode=require');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactUrl('not a url user:pw@host')).toBe('not a url user:pw@host');
  });
});
