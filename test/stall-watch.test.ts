// migrate's stall warning on a Redis that has CLIENT disabled (as some managed services do): BullMQ
// cannot count workers there and answers one placeholder instead, which must not pass for a worker.
// A private redis-server with CLIENT renamed away stands in for such a service.
import { spawn, type ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/embedded/free-port.js';
import { describeStall, stallWatch } from '../src/producers/drive-run.js';
import { waitFor } from './helpers/ledger.js';

describe('the stall warning where CLIENT LIST is disabled', () => {
  let server: ChildProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--rename-command', 'CLIENT', ''], { stdio: 'ignore' });
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined); // refused until the server listens: waitFor retries
    await waitFor(async () => (await probe.connect().then(() => probe.ping(), () => 'down').finally(() => probe.disconnect())) === 'PONG', 'the private redis-server', 20_000);
  });

  afterAll(() => { server.kill('SIGKILL'); });

  it('warns when nothing is active, as it cannot tell whether a worker is connected', async () => {
    const queue = new Queue('migrate', { connection: { host: '127.0.0.1', port }, prefix: 'tf-stall' });
    try {
      await queue.add('chunk', { n: 1 });
      expect(await queue.getWorkers()).toEqual([{ name: 'GCP does not support client list' }]);
      const watch = stallWatch(queue, 0);
      expect(await watch(0)).toBeNull(); // the first look only starts the clock
      const stall = await watch(0);
      expect(stall).toMatchObject({ waiting: 1, active: 0, cause: 'none active' });
      expect(describeStall('migrate', stall!)).toMatch(/^No worker has taken a job from queue migrate for \d+ s \(1 waiting, none active\): start workers/);
      expect(await watch(0)).toBeNull(); // once per stall
    } finally {
      await queue.close();
    }
  });
});
