// Runs the real `taskfleet` command (the built bin, as a user would) in a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/taskfleet.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  cwd?: string;
  /** Runs the command under this one, e.g. `['ip', 'netns', 'exec', ns]` (test/helpers/netns.ts). */
  wrapper?: readonly string[];
}

function childEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  // Tests pass every connection explicitly: nothing leaks in from the developer's shell.
  const base = { ...process.env };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'TASKFLEET_PREFIX', 'TASKFLEET_QUEUE_BACKEND', 'TASKFLEET_CONFIG']) delete base[name];
  return { ...base, LOG_LEVEL: 'warn', ...env };
}

export interface RunningCli {
  child: ChildProcess;
  result: Promise<CliResult>;
  /** stdout/stderr so far. */
  output(): { stdout: string; stderr: string };
}

export function startCli(args: readonly string[], opts: CliOptions = {}): RunningCli {
  const [command, ...prefix] = [...(opts.wrapper ?? []), process.execPath];
  const child = spawn(command, [...prefix, BIN, ...args], { env: childEnv(opts.env), cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
  const result = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, result, output: () => ({ stdout, stderr }) };
}

export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  return startCli(args, { timeoutMs: 120_000, ...opts }).result;
}

/** Connection flags for a test's own database and queue prefix. */
export function connectionArgs(db: { url: string }, prefix: string, redisUrl?: string): string[] {
  return ['--new-data', db.url, '--prefix', prefix, ...(redisUrl ? ['--redis', redisUrl] : [])];
}
