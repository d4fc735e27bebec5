// A TCP proxy in front of the test Redis that can be cut: every connection through it is destroyed and
// it stops listening, so clients that reconnect meet a refused connection (a Redis outage, without
// stopping the Redis other test files share).
import { createConnection, createServer, type Socket } from 'node:net';
import { REDIS_URL } from './services.js';

export async function startRedisProxy(): Promise<{ url: string; cut: () => Promise<void> }> {
  const target = new URL(REDIS_URL);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) { sockets.add(s); s.on('error', () => undefined); s.on('close', () => sockets.delete(s)); }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = new URL(REDIS_URL);
  url.host = `127.0.0.1:${port}`;
  return {
    url: url.toString(),
    cut: async () => {
      await new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of sockets) s.destroy(); });
    },
  };
}
