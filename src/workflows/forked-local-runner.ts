// The local WorkflowRunner as workers use it: the steps run from a helper process
// (src/workflows/local-runner-host.ts), forked on first use and shared by every job of the worker.
// Same results as the in-process local runner (src/workflows/local-runner.ts, which the helper runs);
// what changes is the cost: a fork from the worker's big, busy heap made the kernel copy page tables and
// fault on every page the worker wrote next. Measured on 1000 tasks' workflows (two workers):
// see README "Task workflows".
// If the helper dies, the runs it held fail as transient (their jobs retry) and the next run forks a new one.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../config/package-root.js';
import { environmentSubset } from '../config/settings.js';
import type { LocalRunnerOptions } from './local-runner.js';
import type { HostReply, HostRequest, HostSettings } from './local-runner-protocol.js';
import { abortError, TransientRunnerError, type RunResult, type WorkflowDefinition, type WorkflowRunner } from './types.js';

/** The compiled helper (workers run the compiled package, as `migrate --workers` starts them). */
export const LOCAL_RUNNER_HOST = join(PACKAGE_ROOT, 'dist', 'src', 'workflows', 'local-runner-host.js');

/** What the helper inherits: no secret of the worker's (steps get their own minimal environment anyway). */
const HOST_ENVIRONMENT = ['PATH', 'TMPDIR', 'LANG'];

interface Pending {
  resolve(result: RunResult): void;
  reject(err: Error): void;
  signal: AbortSignal;
}

export function createForkedLocalRunner(opts: Pick<LocalRunnerOptions, 'cacheRoot' | 'path' | 'logger'> = {}): WorkflowRunner {
  const pending = new Map<number, Pending>();
  let host: ChildProcess | null = null;
  let nextId = 1;

  function start(): ChildProcess {
    const settings: HostSettings = { cacheRoot: opts.cacheRoot, path: opts.path, logLevel: opts.logger?.level ?? 'info' };
    const child = fork(LOCAL_RUNNER_HOST, [JSON.stringify(settings)], {
      // Not the worker's Node flags (its 64 MB young generation): the helper stays small.
      execArgv: [],
      env: environmentSubset(HOST_ENVIRONMENT),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (reply: HostReply) => {
      const waiter = pending.get(reply.id);
      if (!waiter) return;
      pending.delete(reply.id);
      if (reply.type === 'result') waiter.resolve(reply.result);
      else if (reply.aborted) waiter.reject(abortError(waiter.signal));
      else waiter.reject(new Error(reply.message));
    });
    // Spawn failures arrive as 'error'; every end as 'exit': the runs it held are lost, not the jobs.
    child.on('error', (err) => opts.logger?.error({ err: err.message }, `The local runner's helper process failed: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (host === child) host = null;
      if (pending.size === 0) return;
      const why = `the local runner's helper process exited (${signal ?? `code ${String(code)}`}) during the run`;
      opts.logger?.warn({ code, signal, runs: pending.size }, `${why}: its runs are retried`);
      for (const waiter of pending.values()) waiter.reject(new TransientRunnerError(why));
      pending.clear();
    });
    // An idle helper does not keep the worker's process alive; a run in it does (hold() below).
    child.unref();
    child.channel?.unref();
    return child;
  }

  function hold(child: ChildProcess): void {
    if (pending.size === 1) child.channel?.ref();
    else if (pending.size === 0) child.channel?.unref();
  }

  return {
    name: 'local',
    run(definition: WorkflowDefinition, { signal }): Promise<RunResult> {
      if (signal.aborted) return Promise.reject(abortError(signal));
      host ??= start();
      const child = host;
      const id = nextId++;
      return new Promise<RunResult>((resolve, reject) => {
        const onAbort = () => { if (child.connected) child.send({ type: 'abort', id } satisfies HostRequest); };
        signal.addEventListener('abort', onAbort, { once: true });
        const settle = () => {
          signal.removeEventListener('abort', onAbort);
          hold(child);
        };
        pending.set(id, {
          signal,
          resolve: (result) => { settle(); resolve(result); },
          reject: (err) => { settle(); reject(err); },
        });
        hold(child);
        child.send({ type: 'run', id, definition } satisfies HostRequest, (err) => {
          if (!err || !pending.has(id)) return;
          pending.delete(id);
          settle();
          reject(new TransientRunnerError(`cannot reach the local runner's helper process: ${err.message}`));
        });
      });
    },
    async close(): Promise<void> {
      const child = host;
      host = null;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      // Disconnecting ends the helper (and any run still in it).
      await new Promise<void>((done) => {
        child.once('exit', () => done());
        if (child.connected) child.disconnect();
        else child.kill('SIGTERM');
      });
    },
  };
}
