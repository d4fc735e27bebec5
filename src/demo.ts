// `npm run demo`: the whole fleet on a machine with nothing but Node. Generates a sample legacy dump,
// starts an embedded Postgres (real binaries from npm), uses Redis when one answers (REDIS_URL, or
// 127.0.0.1:6379) and otherwise BullMQ's Postgres queue backend on the same embedded database, runs
// workers, migrates, prints the summary, and serves Bull Board until Ctrl-C (or exits with --exit).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from './config/errors.js';
import { PACKAGE_ROOT } from './config/package-root.js';
import { loadSettings } from './config/settings.js';
import { startEmbeddedPostgres } from './embedded/postgres.js';
import { generateLegacyData } from './generator/generate.js';
import { WORKER_QUEUES } from './queue/queue-names.js';
import { redisAnswers } from './queue/index.js';
import { startBoardServer } from './server/board.js';
import { makeDirectorySync } from './make-directory.js';
import { shellWord } from './shell-word.js';

/** An operator's mistake: one line on stderr, no stack trace, exit 2 (as the CLI does). */
function usageError(message: string): never {
  process.stderr.write(`demo: ${message} (npm run demo -- --help)\n`);
  process.exit(2);
}

function parseFlags() {
  try {
    return parseArgs({
      options: {
        dir: { type: 'string', default: join(PACKAGE_ROOT, '.taskfleet', 'demo') },
        tasks: { type: 'string', default: '20000' },
        workers: { type: 'string', default: '2' },
        'no-redis': { type: 'boolean', default: false },
        exit: { type: 'boolean', default: false },
        port: { type: 'string', default: '3000' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    return usageError((err as Error).message);
  }
}

function wholeNumber(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) usageError(`--${flag} must be a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

const flags = parseFlags();
if (flags.help) {
  process.stdout.write(`npm run demo -- [--tasks 20000] [--workers 2] [--no-redis] [--exit] [--port 3000] [--dir .taskfleet/demo]
  --tasks N    tasks in the generated sample dump (2% bad records among them); generated once per size
  --workers N  worker processes the migration starts on this machine (1-64)
  --no-redis   use BullMQ's Postgres queue backend even if a Redis answers
  --exit       stop after the summary instead of serving Bull Board
  --port P     where Bull Board is served, on 127.0.0.1 (checked before the migration starts)
  --dir DIR    where the sample dump (DIR/legacy-N) and the embedded Postgres (DIR/postgres) live; reused by later runs
Environment: REDIS_URL (default redis://127.0.0.1:6379/0), TASKFLEET_PREFIX (the queues' key prefix, default {taskfleet-demo}).
`);
  process.exit(0);
}

const tasks = wholeNumber('tasks', flags.tasks, 1, 10_000_000);
const workers = wholeNumber('workers', flags.workers, 1, 64);
const port = wholeNumber('port', flags.port, 1, 65_535);
// The board's port is checked now, not after a migration that may take minutes.
const portProblem = flags.exit ? null : await portProblemOf(port);
if (portProblem) usageError(`--port ${port}: ${portProblem} on 127.0.0.1: pick another, or pass --exit`);

const say = (line: string) => process.stdout.write(`${line}\n`);
const dir = resolve(flags.dir);
makeDirectorySync(dir);

const dataDir = join(dir, `legacy-${tasks}`);
if (!existsSync(join(dataDir, '_generator_manifest.json'))) {
  say(`1. Generating a sample legacy dump: ${tasks} tasks, 2% bad records, in ${dataDir}`);
  await generateLegacyData({ out: dataDir, projects: Math.max(1, Math.round(tasks / 100)), phasesPerProject: 4, tasks, format: 'jsonl', seed: 7, badRatio: 0.02 });
} else {
  say(`1. Using the sample legacy dump in ${dataDir}`);
}

say(`2. Starting an embedded Postgres in ${join(dir, 'postgres')}`);
const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'postgres') });
let exitCode = 1;
try {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const useRedis = !flags['no-redis'] && (await redisAnswers(redisUrl, 1000));
  say(useRedis
    ? `3. Queues: Redis at ${redisUrl.replace(/\/\/[^@]*@/, '//')}`
    : '3. Queues: no Redis used, BullMQ\'s Postgres backend in the embedded database');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: pg.url,
    TASKFLEET_QUEUE_BACKEND: useRedis ? 'redis' : 'postgres',
    TASKFLEET_PREFIX: process.env.TASKFLEET_PREFIX ?? '{taskfleet-demo}',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...(useRedis ? { REDIS_URL: redisUrl } : {}),
  };
  say(`4. Migrating with ${workers} worker processes`);
  // The run lives in the embedded Postgres, stopped when the demo ends: `taskfleet resume` elsewhere cannot
  // find it, the same demo command can (it starts that Postgres again and continues the run).
  const again = `npm run demo -- ${demoArgs()}`;
  const migrate = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'taskfleet.js'), 'migrate', '--skip-prepare', '--legacy-data', dataDir, '--workers', String(workers),
    '--resume-hint', `${again} (the same demo command: the run is in the demo's embedded Postgres, stopped with it)`], { env, stdio: 'inherit' });
  exitCode = await new Promise<number>((done) => migrate.on('exit', (code) => done(code ?? 1)));
  if (exitCode !== 0) {
    say(`The migration exited with ${exitCode}. To finish its run, run the same demo again: ${again}`);
  } else if (!flags.exit) {
    const settings = loadSettings({}, { env });
    const board = await startBoardServer(settings, WORKER_QUEUES, { port, host: '127.0.0.1' });
    say(`5. Bull Board: ${board.url}`);
    say('   Ctrl-C stops the board and the embedded Postgres.');
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    await board.close();
  } else {
    say(`5. Bull Board: run \`npm run demo\` without --exit to serve it on http://127.0.0.1:${port}/board`);
  }
} catch (err) {
  // One line, as the CLI prints its errors (the board's port taken since the check, say).
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  exitCode = err instanceof ConfigError ? 2 : 1;
} finally {
  await pg.stop();
}
process.exitCode = exitCode;

/** The demo's own flags, as the shell takes them back (with --dir made absolute: it holds the run). */
function demoArgs(): string {
  const args = ['--tasks', String(tasks), '--workers', String(workers), '--dir', dir, ...(flags['no-redis'] ? ['--no-redis'] : []),
    ...(flags.exit ? ['--exit'] : ['--port', String(port)])];
  return args.map(shellWord).join(' ');
}

/** Why 127.0.0.1:port cannot be listened on now, or null if it can. */
function portProblemOf(port: number): Promise<string | null> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EADDRINUSE' ? 'already in use'
      : err.code === 'EACCES' ? 'not allowed (ports below 1024 need privileges)' : err.message));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(null)));
  });
}
