// The local WorkflowRunner, for machines without a Dagger engine: every step is a child process started
// from its argument list (no shell), in a fresh temporary directory, with a minimal environment (PATH,
// HOME, LANG, the template's env and the task's TASK_* variables — nothing inherited from the worker, so
// no secret leaks into a step), its timeout (the whole process group is killed) and its output captured.
// The step's image is not used: the result says so (imageUsed: false).
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../logger.js';
import { abortError, type RunResult, type StepResult, type WorkflowDefinition, type WorkflowRunner, type WorkflowStep } from './types.js';

export interface LocalRunnerOptions {
  /** Cache volumes live in CACHE_ROOT/<key>/ (default: <os tmpdir>/taskfleet-cache). */
  cacheRoot?: string;
  /** The PATH steps get (default: this Node's directory, then the usual system directories). */
  path?: string;
  logger?: Logger;
  /** Told of each step's process group as it starts and once it is gone (the helper process reports them to its worker). */
  onStepGroup?: (event: 'started' | 'ended', pgid: number) => void;
}

/** How much of the end of the output a result keeps for the operator. */
export const OUTPUT_TAIL_BYTES = 4096;

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `npm-cache` → CACHE_DIR_NPM_CACHE: where a step finds its cache volume when run locally. */
export function cacheDirVariable(key: string): string {
  return `CACHE_DIR_${key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The last `limit` bytes of everything appended (the output tail). */
class TailBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= this.limit) this.bytes -= this.chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/** SIGKILL to a step's whole process group (it runs detached: its pid is the group's id). */
export function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch { /* the group is gone already */ }
}

/** Stderr a step may hold in memory until its end; beyond, it is spilled to a file (its digest comes after stdout's). */
const STDERR_MEMORY_BYTES = 8 * 1024 * 1024;

/** A step's stderr, kept until the step ends: in memory, then in `spillPath` once it grows large. */
class HeldOutput {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private spill: WriteStream | null = null;
  private spillError: Error | null = null;
  constructor(private readonly spillPath: string) {}
  push(chunk: Buffer): void {
    if (this.spill) {
      this.spill.write(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes > STDERR_MEMORY_BYTES) {
      this.spill = createWriteStream(this.spillPath);
      // A write error (disk full) surfaces in feed(), not as an unhandled 'error' event.
      this.spill.on('error', (err) => {
        this.spillError ??= err;
      });
      for (const c of this.chunks) this.spill.write(c);
      this.chunks = [];
    }
  }
  async feed(hash: Hash): Promise<void> {
    if (!this.spill) {
      for (const c of this.chunks) hash.update(c);
      return;
    }
    const spill = this.spill;
    await new Promise<void>((done, fail) => spill.end((err?: Error | null) => {
      const problem = err ?? this.spillError;
      if (problem) fail(problem);
      else done();
    }));
    for await (const c of createReadStream(this.spillPath)) hash.update(c as Buffer);
  }
}

interface StepContext {
  env: Record<string, string>;
  cwd: string;
  /** Where a large stderr is spilled. */
  stderrSpill: string;
  /** stdout is hashed as it arrives; stderr after it, when the step ends (a digest independent of interleaving). */
  digest: Hash;
  tail: TailBuffer;
  signal: AbortSignal;
  onStepGroup: LocalRunnerOptions['onStepGroup'];
}

/** Linux's limit on one environment string (MAX_ARG_STRLEN: 32 pages), "NAME=value" and its NUL included. */
const MAX_ENV_STRING_BYTES = 128 * 1024;

/** Why spawn refused with E2BIG: the variables over Linux's limit. */
function tooLargeToSpawn(err: NodeJS.ErrnoException, env: Record<string, string>): string {
  const large = Object.entries(env)
    .map(([name, value]) => [name, Buffer.byteLength(`${name}=${value}`) + 1] as const)
    .filter(([, bytes]) => bytes > MAX_ENV_STRING_BYTES)
    .map(([name, bytes]) => `${name} (${bytes} bytes)`);
  return `${err.message}: ${large.length > 0 ? large.join(', ') : 'the variables and arguments together'} exceed what Linux lets one process `
    + `receive (${MAX_ENV_STRING_BYTES} bytes a variable)`;
}

async function runStep(step: WorkflowStep, ctx: StepContext): Promise<StepResult & { aborted: boolean }> {
  const started = performance.now();
  const stderr = new HeldOutput(ctx.stderrSpill);
  let child: ChildProcessByStdio<null, Readable, Readable>;
  try {
    child = spawn(step.command[0]!, step.command.slice(1), {
      cwd: ctx.cwd, env: ctx.env, shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    // Node throws (not emits) E2BIG (a template's env value over Linux's limit): every attempt fails the
    // same way, so it is the step's result (exit 127, as a program that cannot start), not a retry. A
    // task's long texts are cut before (render.ts). Any other thrown error (ENOMEM…) may pass: it retries.
    if ((err as NodeJS.ErrnoException).code !== 'E2BIG') throw err;
    ctx.tail.push(Buffer.from(`\ntaskfleet: cannot start ${step.command[0]!}: ${tooLargeToSpawn(err as NodeJS.ErrnoException, ctx.env)}\n`));
    return { name: step.name, exitCode: 127, durationMs: Math.round(performance.now() - started), timedOut: false, aborted: false };
  }
  if (child.pid !== undefined) ctx.onStepGroup?.('started', child.pid);
  let timedOut = false;
  let aborted = false;
  let spawnError: Error | null = null;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, step.timeoutSeconds * 1000);
  const onAbort = (): void => {
    aborted = true;
    killGroup(child.pid);
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();
  child.stdout.on('data', (d: Buffer) => {
    ctx.digest.update(d);
    ctx.tail.push(d);
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr.push(d);
    ctx.tail.push(d);
  });
  const exitCode = await new Promise<number | null>((done) => {
    child.on('error', (err) => {
      spawnError = err;
      done(127);
    });
    child.on('close', (code, sig) => done(code ?? (sig ? null : 1)));
  });
  clearTimeout(timer);
  ctx.signal.removeEventListener('abort', onAbort);
  // Whatever the step left running in the background ends with it.
  killGroup(child.pid);
  if (child.pid !== undefined) ctx.onStepGroup?.('ended', child.pid);
  await stderr.feed(ctx.digest);
  if (spawnError !== null) ctx.tail.push(Buffer.from(`\ntaskfleet: cannot start ${step.command[0]!}: ${(spawnError as Error).message}\n`));
  if (timedOut) ctx.tail.push(Buffer.from(`\ntaskfleet: step ${step.name} ran past its timeout of ${step.timeoutSeconds}s and was killed\n`));
  return {
    name: step.name, exitCode: timedOut ? null : exitCode, durationMs: Math.round(performance.now() - started), timedOut, aborted,
  };
}

export function createLocalRunner(opts: LocalRunnerOptions = {}): WorkflowRunner {
  const cacheRoot = opts.cacheRoot ?? join(tmpdir(), 'taskfleet-cache');
  const path = opts.path ?? `${dirname(process.execPath)}:${SYSTEM_PATH}`;
  const logger = opts.logger;

  return {
    name: 'local',
    async run(definition: WorkflowDefinition, { signal }): Promise<RunResult> {
      if (signal.aborted) throw abortError(signal);
      const started = performance.now();
      const runDir = await mkdtemp(join(tmpdir(), 'taskfleet-run-'));
      const digest = createHash('sha256');
      const tail = new TailBuffer(OUTPUT_TAIL_BYTES);
      const steps: StepResult[] = [];
      let failed: StepResult | null = null;
      try {
        // The container mounts the task JSON at TASK_FILE_PATH; here TASK_FILE names the real file.
        const taskFile = join(runDir, 'task.json');
        await writeFile(taskFile, definition.inputs.file, { mode: 0o444 });
        for (const [i, step] of definition.steps.entries()) {
          if (signal.aborted) throw abortError(signal);
          const cwd = join(runDir, `step-${i + 1}`);
          await mkdir(cwd);
          const env: Record<string, string> = { PATH: path, HOME: cwd, LANG: 'C.UTF-8', ...step.env, ...definition.inputs.env, TASK_FILE: taskFile };
          if (step.cache) {
            const dir = join(cacheRoot, step.cache.key);
            await mkdir(dir, { recursive: true });
            env[cacheDirVariable(step.cache.key)] = dir;
          }
          const result = await runStep(step, { env, cwd, stderrSpill: join(runDir, `step-${i + 1}.stderr`), digest, tail, signal, onStepGroup: opts.onStepGroup });
          if (result.aborted) throw abortError(signal);
          const { aborted: _aborted, ...stepResult } = result;
          steps.push(stepResult);
          logger?.debug({ template: definition.template, step: step.name, exitCode: stepResult.exitCode, ms: stepResult.durationMs, timedOut: stepResult.timedOut }, `Step ${step.name} finished`);
          if (stepResult.timedOut || stepResult.exitCode !== 0) {
            failed = stepResult;
            break;
          }
        }
      } finally {
        await rm(runDir, { recursive: true, force: true });
      }
      return {
        status: failed ? 'failed' : 'succeeded',
        exitCode: failed ? failed.exitCode : 0,
        durationMs: Math.round(performance.now() - started),
        outputDigest: digest.digest('hex'),
        outputTail: tail.text(),
        steps,
        runner: 'local',
        imageUsed: false,
        timedOut: failed?.timedOut ?? false,
      };
    },
    close(): Promise<void> {
      return Promise.resolve();
    },
  };
}
