// Where a Dagger engine can be found, read from the environment: a running session (`dagger run …`
// sets DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN) or a dagger CLI that can start one. The Dagger
// SDK reads these same variables itself; this module only lets the fleet decide before the SDK does.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface DaggerEnvironment {
  /** DAGGER_SESSION_PORT: a session already running on 127.0.0.1. */
  sessionPort?: string;
  /** DAGGER_SESSION_TOKEN: the session's secret (sent as Basic auth). */
  sessionToken?: string;
  /** A dagger CLI the SDK may start a session with: DAGGER_CLI, the SDK's own variable, or `dagger` on PATH. */
  cliPath?: string;
}

// The SDK's own variable naming the CLI to run; without it (and without a session) the SDK downloads one.
const SDK_CLI_VARIABLE = '_EXPERIMENTAL_DAGGER_CLI_BIN';

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined;
}

function executableOnPath(name: string, pathList: string | undefined): string | undefined {
  for (const dir of (pathList ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: try the next directory
    }
  }
  return undefined;
}

export function readDaggerEnvironment(env: NodeJS.ProcessEnv = process.env): DaggerEnvironment {
  const cliPath = nonEmpty(env.DAGGER_CLI) ?? nonEmpty(env[SDK_CLI_VARIABLE]) ?? executableOnPath('dagger', env.PATH);
  return {
    sessionPort: nonEmpty(env.DAGGER_SESSION_PORT),
    sessionToken: nonEmpty(env.DAGGER_SESSION_TOKEN),
    cliPath,
  };
}

/** Points the SDK at this CLI, so it starts a session with it instead of downloading its own. */
export function useDaggerCli(cliPath: string): void {
  process.env[SDK_CLI_VARIABLE] = cliPath;
}
