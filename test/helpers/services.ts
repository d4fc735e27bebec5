// The real services every test talks to, and per-file isolation: each test file gets its own
// database (created here, dropped after) and its own queue prefix.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export const ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export function uniqueName(label: string): string {
  return `tf_${label.replace(/\W/g, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
}

export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = uniqueName(label);
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const base = new URL(ADMIN_URL);
  base.pathname = `/${name}`;
  const url = base.toString();
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A queue prefix of the test's own (a Redis Cluster hash tag, like the default). */
export function uniquePrefix(label: string): string {
  return `{${uniqueName(label)}}`;
}

/** Deletes every Redis key of a prefix: "the queue's Redis data is flushed". */
export async function deleteQueueKeys(prefix: string, redisUrl = REDIS_URL): Promise<number> {
  const redis = new Redis(redisUrl);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/**
 * Room a "gives up at its deadline" check allows beyond the deadline. The suite runs two files at once on
 * a 2-core machine that Redis and Postgres share, and a busy moment can delay a timer by a second or more;
 * without a deadline these calls would wait ioredis' 10 s connect timeout or forever, so this still tells.
 */
export const LOADED_MACHINE_SLACK_MS = 3000;
