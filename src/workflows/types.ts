// The shapes shared by workflow templates, their rendering, the runners and the jobs that run them.
// One port (WorkflowRunner), two implementations: Dagger (src/workflows/dagger-runner.ts) and local
// child processes (src/workflows/local-runner.ts) for machines without a Dagger engine.

/** A cache volume mounted into a step (Dagger: a named cache volume; local: a directory kept per key). */
export interface CacheMount {
  /** Volume key, e.g. `npm-cache`. */
  key: string;
  /** Absolute path inside the container / the step's working directory. */
  path: string;
}

export interface WorkflowStep {
  name: string;
  image: string;
  /** An argument list: never a shell string; task data never enters it. */
  command: string[];
  /** The template's own static environment. */
  env: Record<string, string>;
  cache: CacheMount | null;
  timeoutSeconds: number;
}

export type RunMode = 'on-migrate' | 'manual';

/** A template file from --templates-dir, validated. */
export interface WorkflowTemplate {
  /** The task type it serves (the file name without .yaml); `default` is the fallback. */
  name: string;
  version: string;
  run: RunMode;
  steps: WorkflowStep[];
}

/** What a task contributes to its workflow: only as environment variables and a mounted JSON file. */
export interface TaskInputs {
  /** TASK_ID, TASK_LEGACY_ID, TASK_TITLE, TASK_TYPE, TASK_STATUS, TASK_PRIORITY, TASK_PROJECT_ID, … */
  env: Record<string, string>;
  /** The task as JSON, mounted read-only at TASK_FILE_PATH. */
  file: string;
}

/** The rendered workflow of one task (its stored template + its task: src/store/workflow-definitions.ts); its hash is the cache key. */
export interface WorkflowDefinition {
  template: string;
  templateVersion: string;
  run: RunMode;
  steps: WorkflowStep[];
  inputs: TaskInputs;
}

export const TASK_FILE_PATH = '/workflow/task.json';

export interface StepResult {
  name: string;
  exitCode: number | null;
  durationMs: number;
  timedOut: boolean;
}

export interface RunResult {
  status: 'succeeded' | 'failed';
  /** The failing step's exit code (null on timeout); 0 when all steps succeeded. */
  exitCode: number | null;
  durationMs: number;
  /** SHA-256 of the combined stdout+stderr of every step. */
  outputDigest: string;
  /** The last few KB of output, for the operator. */
  outputTail: string;
  steps: StepResult[];
  runner: 'dagger' | 'local';
  /** The local runner never uses the image: it says so here. */
  imageUsed: boolean;
  /** A step that ran past its timeout and was aborted. */
  timedOut: boolean;
}

/**
 * Transient runner trouble (engine unreachable, HTTP 5xx, connection reset): the job retries with
 * backoff. Anything else a runner throws is a bug; a step that exits non-zero is a *result*, not an error.
 */
export class TransientRunnerError extends Error {
  override name = 'TransientRunnerError';
}

export interface WorkflowRunner {
  readonly name: 'dagger' | 'local';
  run(definition: WorkflowDefinition, opts: { signal: AbortSignal }): Promise<RunResult>;
  close(): Promise<void>;
}

/** The error a runner rejects with when the job's signal aborts a run (the signal's own reason if it is an Error). */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('The workflow run was aborted');
  err.name = 'AbortError';
  return err;
}
