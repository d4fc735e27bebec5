// A real Redis Cluster for a test: three masters from Debian's redis-server on free loopback ports, joined
// with `redis-cli --cluster create`, in a temporary directory; stopped and removed by stop().
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RedisClusterUnderTest {
  ports: number[];
  /** redis://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 */
  url: string;
  /** Runs redis-cli against one node (by port) and returns its output. */
  cli(port: number, ...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Is `port` free on loopback (for a listener)? */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `count` ports whose cluster bus ports (port + 10000) are free too. */
async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count && attempt < 500; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (ports.includes(port) || ports.includes(port + 10_000) || ports.includes(port - 10_000)) continue;
    if ((await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
  }
  if (ports.length < count) throw new Error('no free loopback ports for a Redis Cluster');
  return ports;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startRedisCluster(masters = 3): Promise<RedisClusterUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'tf-redis-cluster-'));
  const ports = await freePorts(masters);
  const servers: ChildProcess[] = [];
  const logs = new Map<number, string>();
  const cli = async (port: number, ...args: string[]): Promise<string> =>
    (await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 })).stdout;
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    })));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    ports.forEach((port, i) => {
      const child = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no',
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i + 1}.conf`), '--cluster-node-timeout', '5000',
        '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      const keep = (d: Buffer) => { log = (log + d.toString()).slice(-4000); logs.set(port, log); };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      servers.push(child);
    });
    for (const port of ports) {
      await waitFor(async () => (await cli(port, 'PING')).trim() === 'PONG', `redis-server on port ${port} (log: ${logs.get(port) ?? ''})`, 20_000);
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
    for (const port of ports) {
      await waitFor(async () => /^cluster_state:ok\s*$/m.test(await cli(port, 'CLUSTER', 'INFO')), `cluster_state:ok on port ${port}`, 30_000);
    }
    // Every node must know every other one (the gossip settles a little after the slots are assigned).
    for (const port of ports) {
      await waitFor(async () => (await cli(port, 'CLUSTER', 'NODES')).split('\n').filter((l) => /\bmaster\b/.test(l) && /\bconnected\b/.test(l)).length === masters,
        `${masters} connected masters seen from port ${port}`, 30_000);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, url: `redis://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, cli, stop };
}
