// The `taskfleet` command line. Each subcommand lives in src/cli/; this module wires them and turns
// errors the operator can fix into one clear line on stderr (no stack trace) and a non-zero exit.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { PACKAGE_ROOT } from './config/package-root.js';
import { ConfigError } from './config/errors.js';
import { LegacyDataError } from './legacy/errors.js';
import { GateError } from './lifecycle/phase-events.js';
import { TransportUnavailableError } from './queue/errors.js';
import { DatabaseUnavailableError, prepareDatabase } from './store/database.js';
import { registerBoardCommand } from './cli/board-command.js';
import { builtInUrlHint } from './cli/built-in-url-hint.js';
import { settingsFrom, withConnectionOptions, type ConnectionFlags } from './cli/common-options.js';
import { registerDecommissionCommand } from './cli/decommission-command.js';
import { registerFollowCommand } from './cli/follow-command.js';
import { registerGenerateCommand } from './cli/generate-command.js';
import { registerMigrateCommands } from './cli/migrate-command.js';
import { registerOptimizeCommand } from './cli/optimize-command.js';
import { registerPrepareCommand } from './cli/prepare-command.js';
import { registerRollbackCommand } from './cli/rollback-command.js';
import { registerRunCommand } from './cli/run-command.js';
import { registerServerCommand, type ServerEnv } from './cli/server-command.js';
import { registerStatusCommands } from './cli/status-command.js';
import { registerUsersCommand } from './cli/users-command.js';
import { registerVerifyCommands } from './cli/verify-command.js';
import { registerWorkerCommand } from './cli/worker-command.js';

const EXIT_USAGE = 2;

// A reader that stops early (`taskfleet rejects RUN | head`, `migrate 2>&1 | head`) closes the pipe.
// The command carries on (a migration must not stop half way, leaving its workers behind) with that
// output discarded, instead of dying on an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    if (stream === process.stdout) process.stderr.write(`taskfleet: cannot write to standard output: ${err.message}\n`);
    process.exitCode = 1;
  });
}

const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };

const program = new Command('taskfleet')
  .description('Migrate a legacy task-management system into the new Task Management System on Postgres, with a BullMQ worker fleet')
  .version(version, '-V, --version', 'print taskfleet\'s version')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerRunCommand(program);
registerPrepareCommand(program);
registerMigrateCommands(program);
registerWorkerCommand(program);
registerStatusCommands(program);
registerVerifyCommands(program);
// The operations server's secrets come from the environment; this is the edge that reads it.
const serverEnv: ServerEnv = { TASKFLEET_JWT_SECRET: process.env.TASKFLEET_JWT_SECRET, TASKFLEET_METRICS_TOKEN: process.env.TASKFLEET_METRICS_TOKEN };
registerServerCommand(program, serverEnv);
registerBoardCommand(program, serverEnv);
registerUsersCommand(program);
registerFollowCommand(program);
registerGenerateCommand(program);
registerOptimizeCommand(program);
registerDecommissionCommand(program);
registerRollbackCommand(program);

const db = program.command('db').description('Database schema commands');
withConnectionOptions(db.command('migrate'))
  .description('Apply the new system\'s and the ledger\'s schema migrations (every command also does this on first use)')
  .action(async (flags: ConnectionFlags) => {
    const settings = settingsFrom(flags);
    const applied = await prepareDatabase(settings.databaseUrl);
    process.stdout.write(applied.length > 0 ? `Applied ${applied.join(', ')}\n` : 'Schema is up to date\n');
  });

const KNOWN_ERRORS = [ConfigError, LegacyDataError, GateError, TransportUnavailableError, DatabaseUnavailableError];

// A command run with --json answers on stdout however it ends: a script reading it gets the refusal or
// failure as its last line, not nothing. So does `run`, whose stdout is always its one JSON line. (Before
// the action runs, as for a usage error, argv says.)
let jsonOutput = process.argv.includes('--json') || process.argv.slice(2).find((a) => !a.startsWith('-')) === 'run';
program.hook('preAction', (_program, action) => { jsonOutput = action.opts<{ json?: unknown }>().json === true || action.name() === 'run'; });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed its message (unknown flag, missing argument); --help and --version exit 0.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    if (jsonOutput && err.exitCode !== 0) writeErrorLine(err.message.replace(/^error: /, ''));
  } else {
    const error = err as Error;
    const known = KNOWN_ERRORS.some((type) => err instanceof type);
    if (err instanceof DatabaseUnavailableError) error.message += builtInUrlHint(error.message, process.env, process.argv);
    process.stderr.write(`taskfleet: ${error.message}\n`);
    if (!known && (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace')) process.stderr.write(`${error.stack ?? ''}\n`);
    process.exitCode = known ? EXIT_USAGE : 1;
    if (jsonOutput) writeErrorLine(error.message);
  }
}

function writeErrorLine(message: string): void {
  process.stdout.write(`${JSON.stringify({ event: 'error', error: message, exitCode: process.exitCode })}\n`);
}
