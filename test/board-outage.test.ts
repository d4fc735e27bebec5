// Bull Board while the queues' Redis is away: its API answered 500 with the Redis client's own words
// ("Stream isn't writeable and enableOfflineQueue options is false"). It now answers 503, saying the board
// cannot reach Redis (password masked) and that it shows the queues again once Redis answers.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../src/config/settings.js';
import { closeQueue, createQueue, type TransportQueue } from '../src/queue/index.js';
import { transportOf, WORKER_QUEUES } from '../src/queue/queue-names.js';
import { BOARD_PATH, boardRouter } from '../src/server/board.js';
import { startRedisProxy } from './helpers/redis-proxy.js';
import { deleteQueueKeys, uniquePrefix } from './helpers/services.js';

const prefix = uniquePrefix('board_outage');
let proxy: Awaited<ReturnType<typeof startRedisProxy>>;
let queues: Map<string, TransportQueue<unknown>>;
let server: Server;
let base: string;

beforeAll(async () => {
  proxy = await startRedisProxy();
  const redisUrl = new URL(proxy.url);
  redisUrl.password = 'board-secret';
  // No Postgres is touched here: the board reads the queues only.
  const settings = loadSettings({ databaseUrl: 'postgres://127.0.0.1:1/unused', redisUrl: redisUrl.toString(), prefix, queueBackend: 'redis', logLevel: 'silent' }, { env: {} });
  const transport = transportOf(settings);
  queues = new Map(WORKER_QUEUES.map((name) => [name, createQueue<unknown>(name, transport)]));
  const app = express();
  app.use((_req, res, next) => { res.locals.principal = { username: 'op', role: 'operator' }; next(); });
  app.use(BOARD_PATH, boardRouter(queues, transport));
  server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${BOARD_PATH}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server ? server.close(() => resolve()) : resolve());
  await Promise.all([...(queues?.values() ?? [])].map((q) => closeQueue(q, 1000)));
  await deleteQueueKeys(prefix);
});

describe('Bull Board during a Redis outage', () => {
  it('lists the queues while Redis answers, and answers 503 saying why once it does not', async () => {
    const up = await fetch(`${base}/api/queues?page=1`);
    expect(up.status).toBe(200);
    expect(((await up.json()) as { queues: unknown[] }).queues).toHaveLength(WORKER_QUEUES.length);

    await proxy.cut();
    let down: Response | undefined;
    // The client notices the cut at its next command; the first request after it may still be under way.
    for (let i = 0; i < 20 && down?.status !== 503; i++) {
      down = await fetch(`${base}/api/queues?page=1`);
      if (down.status !== 503) await new Promise((r) => setTimeout(r, 250));
    }
    expect(down?.status).toBe(503);
    const body = (await down!.json()) as { message: string };
    expect(body.message).toMatch(/^The board cannot reach Redis at redis:\/\/:\*+@127\.0\.0\.1:\d+\/?\d* \(.+\); it shows the queues again once it answers \(see \/readyz\)$/);
    expect(body.message).not.toContain('board-secret');
  });
});
