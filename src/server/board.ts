// Bull Board over every taskfleet queue, by role. Two boards share the base path /board: a read-only
// one (Bull Board hides its buttons and refuses its write endpoints) for viewers, and a writable one
// for operators and admins (retry, pause, resume, clean). Each request goes to the board of its role;
// as a second line of defence, a viewer's write request is refused here before reaching any board.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { RequestHandler, Response, Router } from 'express';
import { MIGRATE_QUEUE, WORKFLOWS_QUEUE } from '../queue/queue-names.js';
import type { TransportQueue } from '../queue/index.js';
import { lostQueueConnection } from '../queue/errors.js';
import type { QueueTransport } from '../queue/transport.js';
import { redactUrl } from '../redact-url.js';
import type { Settings } from '../config/settings.js';
import { createLogger } from '../logger.js';

export const BOARD_PATH = '/board';

const QUEUE_LABELS: Record<string, { displayName: string; description: string }> = {
  [MIGRATE_QUEUE]: { displayName: 'migrate', description: 'Migration chunk jobs: one per stage and chunk of a run' },
  [WORKFLOWS_QUEUE]: { displayName: 'workflows', description: 'Task workflow runs of the workflows stage' },
};

function buildBoard(queues: ReadonlyMap<string, TransportQueue<unknown>>, readOnlyMode: boolean): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: [...queues].map(([name, queue]) => {
      // Bull Board's adapter types lag behind BullMQ 6's generics; the runtime API it uses is unchanged.
      // Job names are already readable and carry the run id (src/producers: chunkJobName, workflowJobName).
      return new BullMQAdapter(queue as unknown as ConstructorParameters<typeof BullMQAdapter>[0], { readOnlyMode, ...QUEUE_LABELS[name] });
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: readOnlyMode ? 'taskfleet (read-only)' : 'taskfleet', hideDocsLink: true, miscLinks: [{ text: 'Log out', url: '/logout' }] } },
  });
  return serverAdapter.getRouter() as Router;
}

/**
 * While the queues' store is away, Bull Board answers its API calls with a 500 carrying the client's
 * message ("Stream isn't writeable…"): this response says 503 instead, and what it means for the board.
 */
function answerOutageWith503(res: Response, store: string): void {
  const send = res.send.bind(res);
  res.send = ((body?: unknown) => {
    const error = typeof body === 'object' && body !== null ? body as { message?: unknown } : undefined;
    if (res.statusCode === 500 && typeof error?.message === 'string' && lostQueueConnection(new Error(error.message))) {
      res.status(503);
      return send({ ...error, message: `The board cannot reach ${store} (${error.message}); it shows the queues again once it answers (see /readyz)` });
    }
    return send(body);
  }) as Response['send'];
}

/** The board router, to mount at BOARD_PATH after authentication (res.locals.principal is set). */
export function boardRouter(queues: ReadonlyMap<string, TransportQueue<unknown>>, transport: QueueTransport): RequestHandler {
  const readOnly = buildBoard(queues, true);
  const writable = buildBoard(queues, false);
  const store = transport.kind === 'redis' ? `Redis at ${redactUrl(transport.url)}` : 'the queues\' Postgres';
  return (req, res, next) => {
    answerOutageWith503(res, store);
    const role = res.locals.principal?.role;
    if (role === 'operator' || role === 'admin') {
      writable(req, res, next);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.status(403).json({ error: `forbidden: the board is read-only for ${res.locals.principal?.username ?? 'you'} (a viewer); retry, pause, resume and clean need the operator role` });
      return;
    }
    readOnly(req, res, next);
  };
}

/**
 * @deprecated The board alone, for `npm run demo`: the operations server with --no-auth on loopback.
 * Use startOperationsServer (src/server/operations-server.ts).
 */
export async function startBoardServer(settings: Settings, queueNames: readonly string[], opts: { port: number; host: string }): Promise<{ url: string; close(): Promise<void> }> {
  // Loaded here, not at the top: operations-server imports this module through app.ts.
  const { startOperationsServer } = await import('./operations-server.js');
  const server = await startOperationsServer({ settings, logger: createLogger(settings.logLevel, { role: 'server' }), port: opts.port, host: opts.host, auth: null, queueNames });
  return { url: `${server.url}${BOARD_PATH}`, close: () => server.close() };
}
