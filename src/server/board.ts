// Bull Board over every taskfleet queue, by role. Two boards share the base path /board: a read-only
// one (Bull Board hides its buttons and refuses its write endpoints) for viewers, and a writable one
// for operators and admins. Each request goes to the board of its role; every write is first checked
// here against board-writes.ts (retry, pause, resume and clean of finished jobs; nothing else, for
// any role), because the writable board offers more buttons than that and cannot hide them one by one.
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
import { noteAudit } from './audit.js';
import { CLEANABLE_STATES, classifyBoardWrite, mayWrite, type ClassifiedWrite } from './board-writes.js';

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

/** For a single clean: the job must be finished (see CLEANABLE_STATES); an unknown job is left to Bull Board's 404. */
async function cleanRefusal(queues: ReadonlyMap<string, TransportQueue<unknown>>, write: ClassifiedWrite): Promise<string | null> {
  const queue = write.queue === undefined ? undefined : queues.get(write.queue);
  if (write.endpoint !== 'clean' || !queue || write.jobId === undefined) return null;
  const state = await queue.getJobState(write.jobId);
  if (state === 'unknown' || CLEANABLE_STATES.includes(state)) return null;
  return `only completed or failed jobs are cleaned; job ${write.jobId} is ${state} and its run still waits for it`;
}

/** The board router, to mount at BOARD_PATH after authentication (res.locals.principal is set). */
export function boardRouter(queues: ReadonlyMap<string, TransportQueue<unknown>>, transport: QueueTransport): RequestHandler {
  const readOnly = buildBoard(queues, true);
  const writable = buildBoard(queues, false);
  const store = transport.kind === 'redis' ? `Redis at ${redactUrl(transport.url)}` : 'the queues\' Postgres';
  return (req, res, next) => {
    answerOutageWith503(res, store);
    const principal = res.locals.principal;
    const role = principal?.role ?? 'viewer';
    const board = role === 'viewer' ? readOnly : writable;
    if (req.method === 'GET' || req.method === 'HEAD') {
      board(req, res, next);
      return;
    }
    const write = classifyBoardWrite(req.method, req.path);
    if (write) noteAudit(res, { details: { queue: write.queue, jobId: write.jobId, status: write.status } });
    const refuse = (reason: string) => { res.status(403).json({ error: `forbidden for ${principal?.username ?? 'you'}: ${reason}` }); };
    const decision = mayWrite(role, write);
    if (!decision.allowed) { refuse(decision.reason); return; }
    cleanRefusal(queues, write!).then((reason) => {
      if (reason) refuse(reason);
      else board(req, res, next);
    }, next);
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
