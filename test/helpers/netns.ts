// "Hosts" for multi-host tests: Linux network namespaces joined to this (the root) namespace by veth pairs,
// each pair its own /24 (root side 10.R.i.1, host side 10.R.i.2), plus a dedicated redis-server bound to
// the root-side addresses. Needs root (or CAP_NET_ADMIN) and iproute2; `netnsPermitted()` says whether
// this machine allows it, and why not.
//
// Every name carries a random id of the run (namespace `tf-<id>-h1`, root-side link `tf<id>h1`), so
// parallel runs never collide, and `teardown()` removes exactly what this run created: the processes it
// started (by handle, never by name), then the namespaces (which removes their veth pairs), then any
// root-side link left over. A process exit hook deletes the namespaces too if a test never reached its
// teardown.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../../src/embedded/free-port.js';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  try {
    return (await run('ip', args, { timeout: 15_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}

/**
 * Whether this process may create network namespaces and veth pairs (tries one of each, removes them).
 * `reason` says what failed, for the test's skip message.
 */
export async function netnsPermitted(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces are Linux-only (platform ${process.platform})` };
  const id = randomBytes(3).toString('hex');
  const ns = `tf-probe-${id}`;
  try {
    await ip('netns', 'add', ns);
  } catch (err) {
    return { ok: false, reason: `cannot create a network namespace (needs root or CAP_SYS_ADMIN + CAP_NET_ADMIN, and iproute2): ${(err as Error).message}` };
  }
  try {
    await ip('link', 'add', `tfp${id}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `cannot create a veth pair into a network namespace: ${(err as Error).message}` };
  } finally {
    await ip('netns', 'del', ns).catch(() => undefined);
    await ip('link', 'del', `tfp${id}`).catch(() => undefined);
  }
}

export interface NetHost {
  /** h1, h2, … */
  label: string;
  /** The network namespace. */
  ns: string;
  /** The veth end in the root namespace, and its address (where the host reaches the services). */
  rootLink: string;
  rootAddress: string;
  /** The veth end inside the namespace, and the host's own address. */
  hostLink: string;
  address: string;
  /** The pair's subnet, CIDR. */
  subnet: string;
}

export interface HostNetwork {
  id: string;
  hosts: NetHost[];
  /** Root-side addresses of every link: what the services bind to. */
  rootAddresses: string[];
  subnets: string[];
  /** Cuts a host off: its network interface goes down; nothing it sends or is sent to it arrives. */
  cut(host: NetHost): Promise<void>;
  /** Command prefix that runs a program inside the host's namespace. */
  execPrefix(host: NetHost): string[];
  /** Processes started for this network that teardown ends (if still running) by their handle. */
  track(child: ChildProcess): ChildProcess;
  teardown(): Promise<void>;
}

/** An unused 10.R.0.0/16 (checked against this machine's addresses and routes). */
async function freeSecondOctet(): Promise<number> {
  const inUse = `${await ip('-4', 'addr')}\n${await ip('-4', 'route')}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = 64 + (randomBytes(1)[0]! % 190);
    if (!inUse.includes(`10.${r}.`)) return r;
  }
  throw new Error('no free 10.x.0.0/16 for the test network');
}

const liveNamespaces = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const ns of liveNamespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
      } catch {
        // already gone
      }
    }
  });
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGKILL');
  });
}

/** Builds `count` hosts. On failure, whatever was built is removed before the error is thrown. */
export async function createHostNetwork(count: number): Promise<HostNetwork> {
  installExitHook();
  const id = randomBytes(3).toString('hex');
  const octet = await freeSecondOctet();
  const processes: ChildProcess[] = [];
  const hosts: NetHost[] = Array.from({ length: count }, (_, i) => ({
    label: `h${i + 1}`,
    ns: `tf-${id}-h${i + 1}`,
    rootLink: `tf${id}h${i + 1}`,
    rootAddress: `10.${octet}.${i + 1}.1`,
    hostLink: 'eth0',
    address: `10.${octet}.${i + 1}.2`,
    subnet: `10.${octet}.${i + 1}.0/24`,
  }));

  const teardown = async (): Promise<void> => {
    await Promise.all(processes.map(killAndWait));
    const problems: string[] = [];
    for (const h of hosts) {
      // Deleting the namespace destroys its end of the pair, and with it the root end.
      await ip('netns', 'del', h.ns).catch((err: Error) => {
        if (!/No such file|Invalid netns|not exist/i.test(err.message)) problems.push(err.message);
      });
      liveNamespaces.delete(h.ns);
      await ip('link', 'del', h.rootLink).catch(() => undefined);
    }
    const left = (await ip('netns', 'list')).split('\n').filter((l) => l.startsWith(`tf-${id}-`));
    if (left.length > 0 || problems.length > 0) throw new Error(`network teardown left ${left.join(', ')}: ${problems.join('; ')}`);
  };

  try {
    for (const h of hosts) {
      await ip('netns', 'add', h.ns);
      liveNamespaces.add(h.ns);
      await ip('link', 'add', h.rootLink, 'type', 'veth', 'peer', 'name', h.hostLink, 'netns', h.ns);
      await ip('addr', 'add', `${h.rootAddress}/24`, 'dev', h.rootLink);
      await ip('link', 'set', h.rootLink, 'up');
      await ip('-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', h.hostLink);
      await ip('-n', h.ns, 'link', 'set', h.hostLink, 'up');
      await ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }

  return {
    id,
    hosts,
    rootAddresses: hosts.map((h) => h.rootAddress),
    subnets: hosts.map((h) => h.subnet),
    async cut(host) {
      await ip('-n', host.ns, 'link', 'set', host.hostLink, 'down');
    },
    execPrefix: (host) => ['ip', 'netns', 'exec', host.ns],
    track(child) {
      processes.push(child);
      return child;
    },
    teardown,
  };
}

export interface RedisServer {
  port: number;
  /** redis://<address>:<port>/0 */
  url(address: string): string;
  stop(): Promise<void>;
}

/**
 * A redis-server of the test's own, bound to loopback and the given addresses: no persistence, protected
 * mode off (it is reached from other "hosts" without a password, on links that exist only for the test).
 */
export async function startRedisServer(bind: readonly string[], dir: string): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn('redis-server', [
      '--port', String(port), '--bind', ['127.0.0.1', ...bind].join(' '), '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    };
    const deadline = Date.now() + 15_000;
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      ready = await probe.connect().then(() => probe.ping()).then((r) => r === 'PONG', () => false);
      probe.disconnect();
      if (ready) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (ready) return { port, url: (address) => `redis://${address}:${port}/0`, stop };
    await stop();
    if (attempt < 3 && output.includes('Address already in use')) continue;
    throw new Error(`redis-server did not start on port ${port}:\n${output.slice(-2000)}`);
  }
}
