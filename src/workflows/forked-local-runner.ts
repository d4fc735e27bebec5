// The local WorkflowRunner as workers use it: the steps run from a helper process
// (src/workflows/local-runner-host.ts), forked on first use and shared by every job of the worker.
// Same results as the in-process local runner (src/workflows/local-runner.ts, which the helper runs);
// what changes is the cost: a fork from the worker's big, busy heap made the kernel copy page tables and
// fault on every page the worker wrote next (README, "Performance": the workflow bench before and after).
// If the helper dies, the runs it held fail as transient (their jobs retry), the steps it had running are
// killed, and the next run forks a new helper.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../config/package-root.js';
import { environmentSubset } from '../config/settings.js';
import { killGroup, type LocalRunnerOptions } from './local-runner.js';
import type { HostReply, HostRequest, HostSettings } from './local-runner-protocol.js';
import { abortError, TransientRunnerError, type RunResult, type WorkflowDefinition, type WorkflowRunner } from './types.js';

/** The compiled helper (workers run the compiled package, as `migrate --workers` starts them). */
export const LOCAL_RUNNER_HOST = join(PACKAGE_ROOT, 'dist', 'src', 'workflows', 'local-runner-host.js');

/** What the helper inherits: no secret of the worker's (steps get their own minimal environment anyway). */
const HOST_ENVIRONMENT = ['PATH', 'TMPDIR', 'TMP', 'TEMP', 'LANG'];

/** How long close() lets the helper finish what it holds before killing it. */
const CLOSE_GRACE_MS = 10_000;

interface Pending {
  resolve(result: RunResult): void;
  reject(err: Error): void;
  signal: AbortSignal;
}

/** One forked helper: its runs and the process groups of the steps it has running. */
interface Host {
  child: ChildProcess;
  pending: Map<number, Pending>;
  groups: Set<number>;
  exited: boolean;
}

export function createForkedLocalRunner(opts: Pick<LocalRunnerOptions, 'cacheRoot' | 'path' | 'logger'> = {}): WorkflowRunner {
  let current: Host | null = null;
  let closed = false;
  let nextId = 1;

  /** The helper is gone (or never started): its runs fail as transient, its steps are killed. */
  function lost(host: Host, why: string): void {
    if (host.exited) return;
    host.exited = true;
    if (current === host) current = null;
    for (const pgid of host.groups) killGroup(pgid);
    host.groups.clear();
    if (host.pending.size === 0) return;
    opts.logger?.warn({ runs: host.pending.size }, `${why}: its runs are retried`);
    const waiters = [...host.pending.values()];
    host.pending.clear();
    // A run already aborted (drain, job timeout) ends as aborted, as it would have in the helper.
    for (const waiter of waiters) waiter.reject(waiter.signal.aborted ? abortError(waiter.signal) : new TransientRunnerError(why));
  }

  /** An idle helper does not keep the worker's process alive; a run in it does. */
  function hold(host: Host): void {
    if (host.pending.size > 0) host.child.channel?.ref();
    else host.child.channel?.unref();
  }

  function start(): Host {
    const settings: HostSettings = { cacheRoot: opts.cacheRoot, path: opts.path, logLevel: opts.logger?.level ?? 'info' };
    const child = fork(LOCAL_RUNNER_HOST, [JSON.stringify(settings)], {
      // Not the worker's Node flags (its 64 MB young generation): the helper stays small.
      execArgv: [],
      env: environmentSubset(HOST_ENVIRONMENT),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Its own process group: Ctrl-C or a stop signalled to the worker's group must not reach it (the
      // worker drains its runs then), not even in the ~100 ms before its own handlers are installed.
      detached: true,
    });
    const host: Host = { child, pending: new Map(), groups: new Set(), exited: false };
    child.on('message', (reply: HostReply) => {
      if (reply.type === 'step') {
        if (reply.event === 'started') host.groups.add(reply.pgid);
        else host.groups.delete(reply.pgid);
        return;
      }
      const waiter = host.pending.get(reply.id);
      if (!waiter) return;
      host.pending.delete(reply.id);
      if (reply.type === 'result') waiter.resolve(reply.result);
      else if (reply.aborted) waiter.reject(abortError(waiter.signal));
      else waiter.reject(new Error(reply.message));
    });
    // A fork that fails (no pid: EAGAIN, EMFILE) gets 'error' and never 'exit'.
    child.on('error', (err) => {
      opts.logger?.error({ err: err.message }, `The local runner's helper process failed: ${err.message}`);
      if (child.pid === undefined) lost(host, `cannot start the local runner's helper process: ${err.message}`);
    });
    child.on('exit', (code, signal) => lost(host, `the local runner's helper process exited (${signal ?? `code ${String(code)}`}) during the run`));
    child.unref();
    hold(host);
    return host;
  }

  return {
    name: 'local',
    run(definition: WorkflowDefinition, { signal }): Promise<RunResult> {
      if (signal.aborted) return Promise.reject(abortError(signal));
      if (closed) return Promise.reject(new Error('The local runner is closed'));
      let host: Host;
      try {
        host = current ??= start();
      } catch (err) {
        return Promise.reject(new TransientRunnerError(`cannot start the local runner's helper process: ${(err as Error).message}`));
      }
      const id = nextId++;
      return new Promise<RunResult>((resolve, reject) => {
        const onAbort = () => {
          if (host.child.connected) host.child.send({ type: 'abort', id } satisfies HostRequest);
        };
        const settle = () => {
          signal.removeEventListener('abort', onAbort);
          hold(host);
        };
        const waiter: Pending = {
          signal,
          resolve: (result) => { settle(); resolve(result); },
          reject: (err) => { settle(); reject(err); },
        };
        const unreachable = (err: Error) => {
          if (host.pending.get(id) !== waiter) return;
          host.pending.delete(id);
          waiter.reject(new TransientRunnerError(`cannot reach the local runner's helper process: ${err.message}`));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        host.pending.set(id, waiter);
        hold(host);
        try {
          host.child.send({ type: 'run', id, definition } satisfies HostRequest, (err) => { if (err) unreachable(err); });
        } catch (err) {
          unreachable(err as Error);
        }
      });
    },
    async close(): Promise<void> {
      closed = true;
      const host = current;
      current = null;
      if (!host || host.exited) return;
      const { child } = host;
      // Disconnecting ends the helper once its runs end; a helper that does not is killed.
      await new Promise<void>((done) => {
        child.once('exit', () => done());
        child.ref(); // this wait keeps the process alive
        const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_GRACE_MS);
        child.once('exit', () => clearTimeout(timer));
        if (child.connected) child.disconnect();
        else child.kill('SIGKILL');
      });
    },
  };
}
