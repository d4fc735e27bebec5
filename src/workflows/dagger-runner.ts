// The Dagger implementation of WorkflowRunner: each step is `container().from(image)` with the template's
// and the task's environment, the task JSON as a read-only file, its cache volume, and `withExec(command)`.
// One engine connection per process, opened on the first run and closed by close().
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as DaggerSdk from '@dagger.io/dagger';
import { readDaggerEnvironment, useDaggerCli } from '../config/dagger-environment.js';
import { ConfigError } from '../config/errors.js';
import type { Logger } from '../logger.js';
import { cacheDirVariable } from './local-runner.js';
import {
  abortError,
  TASK_FILE_PATH,
  TransientRunnerError,
  type RunResult,
  type StepResult,
  type TaskInputs,
  type WorkflowDefinition,
  type WorkflowRunner,
  type WorkflowStep,
} from './types.js';

type Sdk = typeof DaggerSdk;
type Client = DaggerSdk.Client;
type Container = DaggerSdk.Container;

export interface DaggerRunnerOptions {
  /** Transient engine errors: attempts in all per step, and the first backoff (doubled per attempt). */
  retry: { attempts: number; backoffMs: number };
  logger?: Logger;
}

/** How much of the end of the combined output a result keeps for the operator. */
export const OUTPUT_TAIL_BYTES = 4096;

// The task file is data for the step, not something it should change.
const TASK_FILE_PERMISSIONS = 0o444;

// Socket-level failures between us and the engine: worth another attempt.
const TRANSIENT_SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

// Importing the SDK costs ~1.3 s (it loads the TypeScript compiler): once per process, and only when used.
let sdkLoading: Promise<Sdk> | undefined;
function loadSdk(): Promise<Sdk> {
  sdkLoading ??= import('@dagger.io/dagger');
  return sdkLoading;
}

interface OpenSession {
  client: Client;
  /** Ends the connect() callback, which lets the SDK close the session. */
  release: () => void;
  /** Settles when the SDK has closed the session. */
  finished: Promise<void>;
}

/** Checks, before the SDK looks, that it will find an engine: without one it would download a CLI from the internet. */
function describeEngine(): string {
  const env = readDaggerEnvironment();
  if (env.sessionPort !== undefined) {
    if (env.sessionToken === undefined) {
      throw new ConfigError('DAGGER_SESSION_PORT is set but DAGGER_SESSION_TOKEN is not: set both (as `dagger run` does) or neither');
    }
    return `the Dagger session on 127.0.0.1:${env.sessionPort}`;
  }
  if (env.cliPath !== undefined) {
    useDaggerCli(env.cliPath);
    return `a Dagger session started by ${env.cliPath}`;
  }
  throw new ConfigError(
    'runner: dagger needs a Dagger engine: run the worker under `dagger run` (it sets DAGGER_SESSION_PORT and ' +
      'DAGGER_SESSION_TOKEN), put the dagger CLI on PATH or in DAGGER_CLI, or set runner: local',
  );
}

/** The process's one engine connection: the SDK's connect(cb) held open until close(). */
class EngineConnection {
  private opening: Promise<OpenSession> | null = null;
  private closed = false;

  constructor(private readonly logger: Logger | undefined) {}

  async client(): Promise<{ sdk: Sdk; client: Client }> {
    if (this.closed) {
      throw new Error('The Dagger runner is closed: its engine connection ended with close(); create a new runner');
    }
    this.opening ??= this.open();
    try {
      const [sdk, session] = await Promise.all([loadSdk(), this.opening]);
      return { sdk, client: session.client };
    } catch (err) {
      this.opening = null; // the next run tries again
      throw err;
    }
  }

  private async open(): Promise<OpenSession> {
    const engine = describeEngine();
    const sdk = await loadSdk();
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    return new Promise<OpenSession>((resolve, reject) => {
      let delivered = false;
      // connect() calls back only after its own awaits (the version check), so `finished` is set by then.
      const finished = sdk.connect(async (client) => {
        delivered = true;
        resolve({ client, release, finished });
        await released;
      });
      finished.then(
        () => {
          if (!delivered) reject(new Error('The Dagger SDK ended its session before handing out a client'));
        },
        (err: unknown) => {
          if (delivered) {
            this.logger?.warn({ err }, 'The Dagger engine session ended with an error');
          } else {
            reject(new TransientRunnerError(`Cannot open ${engine}: ${errorMessage(err)}`, { cause: err }));
          }
        },
      );
      this.logger?.info({ engine }, `Connecting to ${engine}`);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const opening = this.opening;
    this.opening = null;
    if (opening === null) return;
    try {
      const session = await opening;
      session.release();
      await session.finished;
    } catch {
      // never opened, or already reported: nothing left to close
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One step as the engine sees it: a single GraphQL query chain (the cache volume is resolved first, separately). */
function stepContainer(client: Client, step: WorkflowStep, inputs: TaskInputs): Container {
  let container = client.container().from(step.image);
  // Task data reaches the step only as environment values and a file, never inside the exec arguments.
  for (const [name, value] of Object.entries(step.env)) container = container.withEnvVariable(name, value);
  for (const [name, value] of Object.entries(inputs.env)) container = container.withEnvVariable(name, value);
  container = container.withNewFile(TASK_FILE_PATH, inputs.file, { permissions: TASK_FILE_PERMISSIONS });
  if (step.cache !== null) {
    // The same variable the local runner sets, so a template finds its cache the same way on both.
    container = container
      .withEnvVariable(cacheDirVariable(step.cache.key), step.cache.path)
      .withMountedCache(step.cache.path, client.cacheVolume(step.cache.key));
  }
  return container.withExec(step.command);
}

type StepOutcome =
  | { kind: 'exited'; exitCode: number; stdout: string; stderr: string }
  | { kind: 'timed-out' }
  | { kind: 'engine-error'; message: string };

type Failure = { kind: 'transient'; reason: string } | { kind: 'engine-error'; message: string };

/** Sorts an SDK error: retry it, record it as the step's failure, or (returning null) let it propagate. */
function classify(sdk: Sdk, err: unknown): Failure | null {
  if (err instanceof sdk.NotAwaitedRequestError) return { kind: 'transient', reason: 'connection refused' };
  if (err instanceof sdk.UnknownDaggerError) {
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code) ? { kind: 'transient', reason: code } : null;
  }
  if (err instanceof sdk.GraphQLRequestError) {
    const status = err.response?.status ?? 0;
    if (status >= 500 || status === 429 || status === 408) return { kind: 'transient', reason: `HTTP ${status}` };
    // HTTP 200 with errors: the engine ran the query and refused it (an image that cannot be pulled, …).
    if (status === 200) return { kind: 'engine-error', message: err.message };
  }
  return null;
}

/** A clearer message for the errors an operator can fix. */
function explain(sdk: Sdk, err: unknown): unknown {
  if (err instanceof sdk.GraphQLRequestError && (err.response?.status === 401 || err.response?.status === 403)) {
    return new ConfigError(
      `The Dagger session refused our requests (HTTP ${err.response.status}): DAGGER_SESSION_TOKEN does not match the session on DAGGER_SESSION_PORT`,
      { cause: err },
    );
  }
  return err;
}

const TIMED_OUT = Symbol('timed out');

/**
 * Waits for `work` at most `ms`, or until the job is aborted. The engine-side exec cannot be killed from
 * here (the SDK's request takes no AbortSignal and the API has no cancel): on a timeout we stop waiting
 * and report it; the engine finishes or discards that exec on its own.
 */
function withinDeadline<T>(work: Promise<T>, ms: number, signal: AbortSignal): Promise<T | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      cleanup();
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      cleanup();
      resolve(TIMED_OUT);
    }, ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // Both handlers stay attached, so a query abandoned after a timeout never becomes an unhandled rejection.
    work.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (err: unknown) => {
        cleanup();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** Combined output of every step: its digest over all of it, and a tail for the operator. */
class OutputLog {
  private readonly hash = createHash('sha256');
  private tailText = '';

  append(stdout: string, stderr: string): void {
    this.hash.update(stdout).update(stderr);
    // The engine returns the two streams apart: a line break between them keeps `out` + `boom` from reading `outboom`.
    this.note(stdout !== '' && stderr !== '' && !stdout.endsWith('\n') ? `${stdout}\n${stderr}` : stdout + stderr);
  }

  /** Text for the operator only (not part of the digest). */
  note(text: string): void {
    this.tailText = (this.tailText + text).slice(-OUTPUT_TAIL_BYTES); // ≥ that many bytes
  }

  get digest(): string {
    return this.hash.copy().digest('hex');
  }

  /** The last OUTPUT_TAIL_BYTES bytes, like the local runner's tail. */
  get tail(): string {
    const bytes = Buffer.from(this.tailText, 'utf8');
    return bytes.subarray(Math.max(0, bytes.length - OUTPUT_TAIL_BYTES)).toString('utf8');
  }
}

export function createDaggerRunner(opts: DaggerRunnerOptions): WorkflowRunner {
  const { logger } = opts;
  const attempts = Math.max(1, opts.retry.attempts);
  const connection = new EngineConnection(logger);

  async function attemptStep(sdk: Sdk, client: Client, step: WorkflowStep, inputs: TaskInputs, signal: AbortSignal): Promise<StepOutcome> {
    const container = stepContainer(client, step, inputs);
    let abandoned = false;
    const execute = async (): Promise<StepOutcome> => {
      try {
        // Two queries on the same chain; the engine answers the second from its cache of the first.
        const stdout = await container.stdout();
        // Past the timeout (or aborted) nobody waits for the rest: send nothing more.
        const stderr = abandoned ? '' : await container.stderr();
        return { kind: 'exited', exitCode: 0, stdout, stderr };
      } catch (err) {
        if (err instanceof sdk.ExecError) {
          return { kind: 'exited', exitCode: err.exitCode, stdout: err.stdout, stderr: err.stderr };
        }
        throw err;
      }
    };
    try {
      const outcome = await withinDeadline(execute(), step.timeoutSeconds * 1000, signal);
      return outcome === TIMED_OUT ? { kind: 'timed-out' } : outcome;
    } finally {
      abandoned = true;
    }
  }

  /** A step, retried with exponential backoff while the engine has transient trouble. */
  async function runStep(sdk: Sdk, client: Client, step: WorkflowStep, inputs: TaskInputs, signal: AbortSignal): Promise<StepOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await attemptStep(sdk, client, step, inputs, signal);
      } catch (err) {
        const failure = classify(sdk, err);
        if (failure === null) throw explain(sdk, err);
        if (failure.kind === 'engine-error') return failure;
        if (attempt >= attempts) {
          throw new TransientRunnerError(
            `The Dagger engine failed step "${step.name}" ${attempts} time(s) (${failure.reason}): ${errorMessage(err)}`,
            { cause: err },
          );
        }
        const delayMs = opts.retry.backoffMs * 2 ** (attempt - 1);
        logger?.warn(
          { step: step.name, attempt, attempts, delayMs, reason: failure.reason },
          `The Dagger engine failed step "${step.name}" (${failure.reason}); retrying in ${delayMs} ms (attempt ${attempt} of ${attempts})`,
        );
        await sleep(delayMs, undefined, { signal });
      }
    }
  }

  return {
    name: 'dagger',

    async run(definition: WorkflowDefinition, { signal }: { signal: AbortSignal }): Promise<RunResult> {
      const { sdk, client } = await connection.client();
      const startedAt = performance.now();
      const output = new OutputLog();
      const steps: StepResult[] = [];
      const finish = (status: RunResult['status'], exitCode: number | null, timedOut: boolean): RunResult => ({
        status,
        exitCode,
        durationMs: Math.round(performance.now() - startedAt),
        outputDigest: output.digest,
        outputTail: output.tail,
        steps,
        runner: 'dagger',
        imageUsed: true,
        timedOut,
      });

      for (const step of definition.steps) {
        const stepStartedAt = performance.now();
        const outcome = await runStep(sdk, client, step, definition.inputs, signal);
        const durationMs = Math.round(performance.now() - stepStartedAt);
        if (outcome.kind === 'exited') {
          output.append(outcome.stdout, outcome.stderr);
          steps.push({ name: step.name, exitCode: outcome.exitCode, durationMs, timedOut: false });
          if (outcome.exitCode !== 0) return finish('failed', outcome.exitCode, false);
        } else if (outcome.kind === 'timed-out') {
          output.note(`\ntaskfleet: step ${step.name} ran past its timeout of ${step.timeoutSeconds}s; stopped waiting for the engine\n`);
          steps.push({ name: step.name, exitCode: null, durationMs, timedOut: true });
          return finish('failed', null, true);
        } else {
          output.note(`\ntaskfleet: the Dagger engine could not run step ${step.name}: ${outcome.message}\n`);
          steps.push({ name: step.name, exitCode: null, durationMs, timedOut: false });
          return finish('failed', null, false);
        }
      }
      return finish('succeeded', 0, false);
    },

    close(): Promise<void> {
      return connection.close();
    },
  };
}
