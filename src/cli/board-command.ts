// `taskfleet board`: the old name of `taskfleet server` (Bull Board is now part of the operations server,
// with logins); it says so and runs the server with the same flags.
import type { Command } from 'commander';
import { runServer, withServerOptions, type ServerEnv, type ServerFlags } from './server-command.js';

export function registerBoardCommand(program: Command, env: ServerEnv): void {
  withServerOptions(program.command('board'))
    .description('Alias of `taskfleet server` (Bull Board is served there, behind logins)')
    .action((flags: ServerFlags) => runServer(flags, env, { alias: 'board' }));
}
