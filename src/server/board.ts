// Bull Board over the taskfleet queues, mounted on an Express app.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import type { Settings } from '../config/settings.js';
import { createQueue, ensureTransportReady } from '../queue/index.js';
import { ConfigError } from '../config/errors.js';
import { transportOf } from '../queue/queue-names.js';

export interface BoardServer {
  url: string;
  close(): Promise<void>;
}

export async function startBoardServer(settings: Settings, queueNames: readonly string[], opts: { port: number; host: string }): Promise<BoardServer> {
  const transport = transportOf(settings);
  await ensureTransportReady(transport);
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
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      // Express 5 passes a listen error to this callback too.
      const s = app.listen(opts.port, opts.host, (err?: Error) => (err ? reject(err) : resolve(s)));
      s.once('error', reject);
    });
  } catch (err) {
    await Promise.all(queues.map((q) => q.close()));
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'EADDRINUSE'
      ? `Cannot serve Bull Board on ${opts.host}:${opts.port}: the port is already in use (choose another with --port)`
      : `Cannot serve Bull Board on ${opts.host}:${opts.port}: ${(err as Error).message}`, { cause: err });
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${port}/board`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}
