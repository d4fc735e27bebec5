// What the deployment tests (docker-compose, Kubernetes, the Dockerfile) ask of the code: which
// environment variables it reads, and how its CLI parses a container's command line. Both come from the
// code itself, so a renamed variable or flag breaks the tests, not a deployment.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadSettings } from '../../src/config/settings.js';
import { registerBoardCommand } from '../../src/cli/board-command.js';
import { registerMigrateCommands } from '../../src/cli/migrate-command.js';
import { registerRunCommand } from '../../src/cli/run-command.js';
import { registerServerCommand } from '../../src/cli/server-command.js';
import { registerWorkerCommand } from '../../src/cli/worker-command.js';

export const REPO = new URL('../../', import.meta.url);

export function repoFile(path: string): string {
  return readFileSync(new URL(path, REPO), 'utf8');
}

/** The variables src/cli.ts, the one edge outside src/config, reads (the server's secrets and the like). */
function readAtTheCliEdge(): Set<string> {
  return new Set([...repoFile('src/cli.ts').matchAll(/process\.env\.([A-Z0-9_]+)/g)].map((m) => m[1]!));
}

/**
 * Whether the code reads an environment variable: src/cli.ts names it, or the settings loader rejects a
 * nonsense value of it naming the variable (so the variable feeds a setting).
 */
export function codeReadsEnv(name: string): boolean {
  if (readAtTheCliEdge().has(name)) return true;
  try {
    loadSettings({}, { env: { [name]: 'not a valid value \u0000' } });
  } catch (err) {
    return (err as Error).message.includes(name);
  }
  return false;
}

/** The roles an image runs, registered as src/cli.ts registers them. */
function roleProgram(): Command {
  const program = new Command('taskfleet').exitOverride();
  registerRunCommand(program);
  registerMigrateCommands(program);
  registerWorkerCommand(program);
  registerServerCommand(program, {});
  registerBoardCommand(program, {});
  return program;
}

export interface ParsedRole {
  role: string;
  /** The options as the command parsed them, defaults included (camelCase keys, parsed values). */
  opts: Record<string, unknown>;
  unknown: string[];
  operands: string[];
}

/** Parses a container's arguments (`worker --health-port 9464`) with the real command definitions. */
export function parseRole(args: readonly string[]): ParsedRole {
  const [role, ...rest] = args;
  const cmd = roleProgram().commands.find((c) => c.name() === role || c.aliases().includes(role ?? ''));
  if (!cmd) throw new Error(`${String(role)} is not a taskfleet command`);
  cmd.exitOverride();
  const { operands, unknown } = cmd.parseOptions(rest);
  return { role: cmd.name(), opts: cmd.opts(), operands, unknown };
}

/** Seconds in a compose or Go duration ("360s", "6m", "1m30s"), or a plain number of seconds. */
export function durationSeconds(value: string | number): number {
  if (typeof value === 'number') return value;
  let total = 0;
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw new Error(`not a duration: ${value}`);
  for (const [, n, unit] of parts) total += Number(n) * units[unit!]!;
  return total;
}
