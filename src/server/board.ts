// Bull Board over the taskfleet queues, mounted on an Express app.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import type { Settings } from '../config/settings.js';
import { createQueue } from '../queue/index.js';
import { transportOf } from '../workers/chunk-worker.js';

export interface BoardServer {
  url: string;
  close(): Promise<void>;
}

export async function startBoardServer(settings: Settings, queueNames: readonly string[], opts: { port: number; host: string }): Promise<BoardServer> {
  const transport = transportOf(settings);
  const queues = queueNames.map((name) => createQueue(name, transport));
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/board');
  createBullBoard({
    // Bull Board's adapter types lag behind BullMQ 6's generics; the runtime API it uses is unchanged.
    queues: queues.map((q) => new BullMQAdapter(q as unknown as ConstructorParameters<typeof BullMQAdapter>[0], { readOnlyMode: false })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'taskfleet' } },
  });
  const app = express();
  app.get('/', (_req, res) => res.redirect('/board'));
  app.use('/board', serverAdapter.getRouter() as express.Router);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(opts.port, opts.host, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${port}/board`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}
