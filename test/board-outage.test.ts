// The operations server while the queues' Redis is away. Bull Board's API answered 500 with the Redis
// client's own words ("Stream isn't writeable and enableOfflineQueue options is false"); it now answers 503,
// saying the board cannot reach Redis (password masked) and that it shows the queues again once Redis
// answers. And `taskfleet server` given SIGTERM then stopped for good (its queue clients kept reconnecting);
// it now exits.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../src/config/settings.js';
import { closeQueue, createQueue, type TransportQueue } from '../src/queue/index.js';
import { transportOf, WORKER_QUEUES } from '../src/queue/queue-names.js';
import { BOARD_PATH, boardRouter } from '../src/server/board.js';
import { startCli } from './helpers/cli.js';
import { startRedisProxy } from './helpers/redis-proxy.js';
import { createTestDatabase, deleteQueueKeys, uniquePrefix } from './helpers/services.js';

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

  it('taskfleet server given SIGTERM exits though its Redis is gone', async () => {
    const db = await createTestDatabase('board_outage_server');
    const serverPrefix = uniquePrefix('board_outage_server');
    const cut = await startRedisProxy();
    try {
      const server = startCli(['server', '--no-auth', '--port', '0', '--new-data', db.url, '--redis', cut.url, '--prefix', serverPrefix], { timeoutMs: 90_000 });
      const deadline = Date.now() + 60_000;
      while (!server.output().stdout.includes('taskfleet server: http://') && server.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(server.output().stdout, server.output().stderr).toContain('taskfleet server: http://');
      await cut.cut();
      await new Promise((r) => setTimeout(r, 500));
      const signalled = Date.now();
      server.child.kill('SIGTERM');
      const result = await server.result;
      expect(result.signal, 'still running at the test\'s timeout: killed').toBeNull();
      expect(Date.now() - signalled).toBeLessThan(30_000);
    } finally {
      await db.drop().catch(() => undefined);
      await deleteQueueKeys(serverPrefix);
    }
  }, 120_000);
});
