// The helper process of the forked local runner (src/workflows/forked-local-runner.ts): it runs the
// local runner's steps for one worker, which sends each workflow over the IPC channel. Forking a child
// from this small, mostly idle process is cheap; forking it from a worker, whose big heap is written all
// the time, made every page the worker wrote next fault and be copied (measured: fork costs were most of
// a workflow's CPU). The worker's environment is not passed on: this process holds no secret.
import type { Logger } from '../logger.js';
import { createLogger } from '../logger.js';
import { createLocalRunner } from './local-runner.js';
import type { HostReply, HostRequest, HostSettings } from './local-runner-protocol.js';

function send(reply: HostReply): void {
  // The worker may be gone already ('disconnect' below ends this process).
  if (process.connected) process.send?.(reply);
}

function main(): void {
  const settings = JSON.parse(process.argv[2] ?? '{}') as HostSettings;
  const logger: Logger = createLogger(settings.logLevel ?? 'info', { role: 'local-runner' });
  const runner = createLocalRunner({
    cacheRoot: settings.cacheRoot, path: settings.path, logger,
    onStepGroup: (event, pgid) => send({ type: 'step', event, pgid }),
  });
  const running = new Map<number, { controller: AbortController; done: Promise<void> }>();

  // The worker drains its running workflows on SIGINT and SIGTERM, so this process must outlive them. It
  // is forked into a process group of its own (a signal to the worker's group misses it); these cover a
  // signal sent to it directly. It ends when the worker disconnects.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);

  process.on('message', (request: HostRequest) => {
    if (request.type === 'abort') {
      running.get(request.id)?.controller.abort();
      return;
    }
    const controller = new AbortController();
    const done = runner.run(request.definition, { signal: controller.signal }).then(
      (result) => send({ type: 'result', id: request.id, result }),
      (err: unknown) => send({ type: 'error', id: request.id, aborted: controller.signal.aborted, message: (err as Error).message }),
    ).finally(() => running.delete(request.id));
    running.set(request.id, { controller, done });
  });
  // The worker stopped or died: its runs end with it (each step's process group is killed), then so does this process.
  process.on('disconnect', () => {
    const runs = [...running.values()];
    for (const { controller } of runs) controller.abort();
    void Promise.allSettled(runs.map((r) => r.done)).then(() => process.exit(0));
  });
}

main();
