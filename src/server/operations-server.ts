// `taskfleet server`: binds its port, checks the queue transport and Postgres (applying the schema, ops
// included), opens every taskfleet queue once and serves the composed app. close() stops accepting,
// ends open streams, waits for the audit rows in flight, then closes the queues and the pool.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../config/errors.js';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../logger.js';
import { closeQueue, createQueue, ensureTransportReady, type TransportQueue } from '../queue/index.js';
import { transportOf, WORKER_QUEUES } from '../queue/queue-names.js';
import { prepareDatabase } from '../store/database.js';
import { createPool, type Pool } from '../store/pool.js';
import { createApp } from './app.js';
import { AuditLog } from './audit.js';
import type { AuthSettings } from './auth/auth-settings.js';
import type { ServerDeps } from './server-deps.js';

export interface OperationsServerOptions {
  settings: Settings;
  logger: Logger;
  port: number;
  host: string;
  /**
   * null: --no-auth, allowed on a loopback host only. A function is called once the port is bound and
   * the services answer, so that the clearest failure (port taken, Redis down) is reported first.
   */
  auth: AuthSettings | null | (() => AuthSettings | null);
  metricsToken?: string | null;
  trustProxy?: boolean | number | string;
  queueNames?: readonly string[];
}

export interface OperationsServer {
  /** http://host:port (no trailing slash). */
  url: string;
  port: number;
  deps: ServerDeps;
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost', '[::1]']);
export const isLoopback = (host: string): boolean => LOOPBACK_HOSTS.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);

/** The server's own connections: Bull Board's polling, progress streams (one LISTEN), audit writes. */
const DB_POOL_SIZE = 8;

function refuseNoAuthOn(host: string): void {
  if (!isLoopback(host)) {
    throw new ConfigError(`--no-auth serves everything to anyone who can connect, so it binds to loopback only: --host ${host} is refused (use 127.0.0.1, or set up users and drop --no-auth)`);
  }
}

async function listen(server: Server, port: number, host: string): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'EADDRINUSE'
      ? `Cannot serve on ${host}:${port}: the port is already in use (choose another with --port)`
      : `Cannot serve on ${host}:${port}: ${(err as Error).message}`, { cause: err });
  }
}

const closeServer = (server: Server): Promise<void> => new Promise<void>((resolve) => {
  if (!server.listening) { resolve(); return; }
  server.close(() => resolve());
  // Progress streams and keep-alive sockets would hold close() open for ever.
  server.closeIdleConnections();
  server.closeAllConnections();
});

/**
 * Binds the port first (answering 503 until ready), then checks the queue transport and Postgres
 * (applying the schema, ops included), resolves authentication, and only then serves the app.
 */
export async function startOperationsServer(opts: OperationsServerOptions): Promise<OperationsServer> {
  if (opts.auth === null) refuseNoAuthOn(opts.host);
  const { settings, logger } = opts;
  let handler: RequestListener = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(JSON.stringify({ error: 'The server is starting' }));
  };
  const server = createServer((req, res) => handler(req, res));
  await listen(server, opts.port, opts.host);
  server.on('error', (err) => logger.error({ err: err.message }, `The operations server failed: ${err.message}`));

  let db: Pool | null = null;
  const queues = new Map<string, TransportQueue<unknown>>();
  const release = async () => {
    // At most a few seconds each: with Redis gone, close() waits for a reconnect that may never come.
    await Promise.all([...queues.values()].map((q) => closeQueue(q)));
    await db?.end().catch(() => undefined);
  };
  let deps: ServerDeps;
  let audit: AuditLog;
  try {
    const transport = transportOf(settings);
    await ensureTransportReady(transport);
    await prepareDatabase(settings.databaseUrl);
    const auth = typeof opts.auth === 'function' ? opts.auth() : opts.auth;
    if (auth === null) refuseNoAuthOn(opts.host);

    db = createPool(settings.databaseUrl, DB_POOL_SIZE);
    const onQueueError = (err: Error) => logger.warn({ err: err.message }, `Queue connection error: ${err.message}`);
    for (const name of opts.queueNames ?? WORKER_QUEUES) queues.set(name, createQueue<unknown>(name, transport, { onError: onQueueError }));
    deps = { settings, logger, db, transport, queues };
    audit = new AuditLog(db, logger);
    handler = createApp(deps, { auth, metricsToken: opts.metricsToken ?? null, audit, trustProxy: opts.trustProxy });
  } catch (err) {
    await closeServer(server);
    await release();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const shownHost = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    deps,
    async close() {
      await closeServer(server);
      await audit.flush();
      await release();
    },
  };
}
