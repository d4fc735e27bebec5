// Ties a child process's life to ours, so a killed parent leaves no server running behind it.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv'];

/**
 * The command that runs `command` and delivers `signal` to it when this process dies, however it dies
 * (SIGKILL, an unhandled SIGTERM): util-linux's `setpriv --pdeathsig` sets Linux's parent-death signal and
 * execs the command in place. Node cannot set that signal itself. Elsewhere the command runs as is, and only
 * stop() and the 'exit' hook stop it.
 */
export async function withParentDeathSignal(command: string, args: string[], signal: 'INT' | 'TERM'): Promise<[string, string[]]> {
  if (process.platform !== 'linux') return [command, args];
  for (const setpriv of SETPRIV_PATHS) {
    const usable = await access(setpriv, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (usable) return [setpriv, ['--pdeathsig', signal, '--', command, ...args]];
  }
  return [command, args];
}
