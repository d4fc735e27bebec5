// The worker's health endpoint: /healthz answers while the process lives; /readyz checks that Postgres
// and the queue answer (for orchestrators' probes and the Docker HEALTHCHECK); /metrics serves the
// process's own metrics (worker-metrics.ts) in the Prometheus text format.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../config/errors.js';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(port: number, ready: () => Promise<void>, host = '0.0.0.0', metrics: Registry | null = null): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/healthz') return send(200, { status: 'ok' });
    if (req.url === '/readyz') {
      ready().then(() => send(200, { status: 'ready' }), (err: unknown) => send(503, { status: 'not ready', error: (err as Error).message }));
      return;
    }
    if (req.url === '/metrics' && metrics) {
      metrics.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(text);
      }, (err: unknown) => send(500, { error: (err as Error).message }));
      return;
    }
    send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
      ? new ConfigError(`Health port ${port} (--health-port, TASKFLEET_HEALTH_PORT) is already in use on ${host}`, { cause: err })
      : err));
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
