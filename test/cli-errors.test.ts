// Every command fails clearly on what an operator gets wrong: one message naming the thing (path, flag,
// URL host:port with the password hidden), a non-zero exit, no stack trace, no dump of internals, and
// within seconds (a command still running after HANG_MS is killed and counts as hung).
// Cases run concurrently (vitest's maxConcurrency, 5 at a time): each is its own `taskfleet` process.
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile, cp } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli, startCli, type CliResult } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { REDIS_URL, createTestDatabase, deleteQueueKeys, uniquePrefix, type TestDatabase } from './helpers/services.js';

/**
 * A clean failure comes within a few seconds (0.3–3 s each on an idle machine; the Redis probe gives up
 * after 3 s). The limits leave room for a loaded machine running other test files: a command still
 * running after HANG_MS is killed and counts as hung; one that needs more than SLOW_MS waits on something
 * it should not (a long connect timeout, retries).
 */
const HANG_MS = 20_000;
const SLOW_MS = 15_000;

// Nothing listens on these ports; the URLs carry a password that must never be printed.
const SECRET = 's3cr3t-pw';
const DEAD_REDIS = `redis://:${SECRET}@127.0.0.1:6390/0`;
const DEAD_PG = `postgres://postgres:${SECRET}@127.0.0.1:5499/x`;
const DEAD_REDIS_AT = '127.0.0.1:6390';
const DEAD_PG_AT = '127.0.0.1:5499';

let root: string;
let db: TestDatabase;
let prefix: string;
let good: string; // a valid legacy directory
let planned: { runId: string; dir: string }; // a planned, unfinished run whose legacy directory was then removed
let busy: Server; // holds a port, for `board --port` on a taken port
let busyPort = 0;
const dirs = {
  missing: '',
  tasksIsDirectory: '',
  tasksDangling: '',
  tasksEmpty: '',
  regularFile: '',
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-cli-errors-'));
  db = await createTestDatabase('cli_errors');
  prefix = uniquePrefix('cli_errors');
  good = join(root, 'good');
  await generateLegacyData({ out: good, projects: 3, phasesPerProject: 2, tasks: 30, format: 'jsonl' });
  // Schema first, so the concurrent cases below do not all race to create it.
  const schema = await runCli(['db', 'migrate', '--new-data', db.url], { timeoutMs: 60_000 });
  expect(schema.code, schema.stderr).toBe(0);

  dirs.missing = join(root, 'no-such-dir');
  // An unreadable tasks file, in two ways that stop root too: a directory in its place, a dangling symlink.
  dirs.tasksIsDirectory = join(root, 'tasks-is-dir');
  dirs.tasksDangling = join(root, 'tasks-dangling');
  for (const dir of [dirs.tasksIsDirectory, dirs.tasksDangling]) {
    await mkdir(dir);
    await cp(join(good, 'projects.jsonl'), join(dir, 'projects.jsonl'));
    await cp(join(good, 'phases.jsonl'), join(dir, 'phases.jsonl'));
  }
  await mkdir(join(dirs.tasksIsDirectory, 'tasks.jsonl'));
  // What a failed export leaves: an empty tasks.json (not an array: refused, never "zero tasks").
  dirs.tasksEmpty = join(root, 'tasks-empty');
  await cp(dirs.tasksIsDirectory, dirs.tasksEmpty, { recursive: true });
  await rm(join(dirs.tasksEmpty, 'tasks.jsonl'), { recursive: true });
  await writeFile(join(dirs.tasksEmpty, 'tasks.json'), '');
  await symlink(join(root, 'nowhere', 'tasks.jsonl'), join(dirs.tasksDangling, 'tasks.jsonl'));
  dirs.regularFile = join(root, 'regular-file');
  await writeFile(dirs.regularFile, 'not a directory\n');
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;

  // A run planned by `migrate` (no workers, so it stays unfinished), whose producer then dies and whose
  // legacy directory then disappears: `resume` must say so.
  planned = { runId: 'cli-gone', dir: join(root, 'gone') };
  await cp(good, planned.dir, { recursive: true });
  const migrate = startCli(['migrate', '--skip-prepare', '--legacy-data', planned.dir, ...connectionArgs(db, prefix, REDIS_URL), '--run-id', planned.runId, '--workers', '0', '--no-progress'], { timeoutMs: 60_000 });
  await waitFor(async () => {
    if (migrate.child.exitCode !== null) throw new Error(`migrate ended early: ${migrate.output().stderr}`);
    const { rows } = await db.pool.query<{ status: string }>('SELECT status FROM ledger.runs WHERE id = $1', [planned.runId]).catch(() => ({ rows: [] }));
    return rows[0]?.status === 'running';
  }, 'the run to be planned', 30_000);
  migrate.child.kill('SIGKILL');
  await migrate.result;
  await rm(planned.dir, { recursive: true, force: true });
}, 90_000);

afterAll(async () => {
  if (busy) await new Promise<void>((resolve) => busy.close(() => resolve()));
  if (prefix) await deleteQueueKeys(prefix);
  if (db) await db.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

interface Outcome extends CliResult { ms: number }

async function run(args: readonly string[]): Promise<Outcome> {
  const started = Date.now();
  const result = await startCli(args, { timeoutMs: HANG_MS }).result;
  return { ...result, ms: Date.now() - started };
}

/** A clean failure: exits on its own, non-zero, fast, one readable message naming `mentions`, no internals. */
function expectCleanFailure(r: Outcome, mentions: readonly (string | RegExp)[]): void {
  const out = `--- stderr\n${r.stderr}\n--- stdout\n${r.stdout}`;
  expect(r.signal, `did not exit within ${HANG_MS} ms (killed): it hangs\n${out}`).toBeNull();
  expect(r.code, out).not.toBe(0);
  expect(r.code, out).not.toBeNull();
  expect(r.ms, `took ${r.ms} ms\n${out}`).toBeLessThan(SLOW_MS);
  expect(out, 'a stack trace').not.toMatch(/^\s+at /m);
  expect(out, 'an error dump ("SomethingError: …")').not.toMatch(/\b[A-Za-z]*Error:/);
  expect(out, 'a logged stack').not.toMatch(/"stack"/);
  expect(out, 'the password').not.toContain(SECRET);
  for (const m of mentions) {
    if (typeof m === 'string') expect(r.stderr, out).toContain(m);
    else expect(r.stderr, out).toMatch(m);
  }
}

type Case = [name: string, args: () => string[], mentions: () => (string | RegExp)[]];

const good_ = (): string[] => connectionArgs(db, prefix, REDIS_URL);
const legacy = (dir: string): string[] => ['--legacy-data', dir];
const unreachable = /cannot reach/i;

describe.concurrent('taskfleet fails clearly', () => {
  const missingLegacy: Case[] = [
    ['migrate: missing legacy directory', () => ['migrate', ...legacy(dirs.missing), ...good_()], () => [dirs.missing]],
    ['resume: the run\'s legacy directory is gone', () => ['resume', planned.runId, ...good_(), '--workers', '1', '--no-progress'], () => [planned.dir]],
  ];
  const unreadable: Case[] = [
    ['migrate: tasks.jsonl is a directory', () => ['migrate', ...legacy(dirs.tasksIsDirectory), ...good_()], () => [join(dirs.tasksIsDirectory, 'tasks.jsonl')]],
    ['migrate: tasks.jsonl is a dangling symlink', () => ['migrate', ...legacy(dirs.tasksDangling), ...good_()], () => [join(dirs.tasksDangling, 'tasks.jsonl')]],
  ];
  const deadRedis: Case[] = [
    ['migrate: unreachable Redis', () => ['migrate', ...legacy(good), '--new-data', db.url, '--prefix', prefix, '--redis', DEAD_REDIS], () => [unreachable, DEAD_REDIS_AT]],
    ['resume: unreachable Redis', () => ['resume', planned.runId, '--new-data', db.url, '--prefix', prefix, '--redis', DEAD_REDIS], () => [unreachable, DEAD_REDIS_AT]],
    ['worker: unreachable Redis', () => ['worker', '--new-data', db.url, '--prefix', prefix, '--redis', DEAD_REDIS], () => [unreachable, DEAD_REDIS_AT]],
    // The board once never probed Redis: it printed its URL and kept serving. Now it checks first.
    ['board: unreachable Redis', () => ['board', '--port', '0', '--prefix', prefix, '--redis', DEAD_REDIS], () => [unreachable, DEAD_REDIS_AT]],
  ];
  const deadPostgres: Case[] = [
    ['migrate: unreachable Postgres', () => ['migrate', ...legacy(good), '--new-data', DEAD_PG, '--prefix', prefix, '--redis', REDIS_URL], () => [unreachable, DEAD_PG_AT]],
    ['resume: unreachable Postgres', () => ['resume', 'any-run', '--new-data', DEAD_PG, '--prefix', prefix, '--redis', REDIS_URL], () => [unreachable, DEAD_PG_AT]],
    ['worker: unreachable Postgres', () => ['worker', '--new-data', DEAD_PG, '--prefix', prefix, '--redis', REDIS_URL], () => [unreachable, DEAD_PG_AT]],
    ['status: unreachable Postgres', () => ['status', '--new-data', DEAD_PG], () => [unreachable, DEAD_PG_AT]],
    ['status RUN: unreachable Postgres', () => ['status', 'any-run', '--new-data', DEAD_PG], () => [unreachable, DEAD_PG_AT]],
    ['rejects: unreachable Postgres', () => ['rejects', 'any-run', '--new-data', DEAD_PG], () => [unreachable, DEAD_PG_AT]],
    ['db migrate: unreachable Postgres', () => ['db', 'migrate', '--new-data', DEAD_PG], () => [unreachable, DEAD_PG_AT]],
    // The same with the queues in Postgres.
    ['board (queues in Postgres): unreachable Postgres', () => ['board', '--port', '0', '--queue-backend', 'postgres', '--new-data', DEAD_PG, '--prefix', prefix], () => [unreachable, DEAD_PG_AT]],
  ];
  const unknownFlag: Case[] = ([
    ['migrate', () => ['migrate', ...legacy(good), ...good_(), '--bogus-flag'], () => ['--bogus-flag']],
    ['resume', () => ['resume', planned.runId, ...good_(), '--bogus-flag'], () => ['--bogus-flag']],
    ['worker', () => ['worker', ...good_(), '--bogus-flag'], () => ['--bogus-flag']],
    ['status', () => ['status', '--new-data', db.url, '--bogus-flag'], () => ['--bogus-flag']],
    ['rejects', () => ['rejects', planned.runId, '--new-data', db.url, '--bogus-flag'], () => ['--bogus-flag']],
    ['board', () => ['board', '--port', '0', '--prefix', prefix, '--bogus-flag'], () => ['--bogus-flag']],
    ['db migrate', () => ['db', 'migrate', '--new-data', db.url, '--bogus-flag'], () => ['--bogus-flag']],
    ['generate', () => ['generate', '--out', join(root, 'never-written'), '--bogus-flag'], () => ['--bogus-flag']],
  ] as Case[]).map(([name, args, mentions]): Case => [`${name}: unknown flag`, args, mentions]);
  const generate: Case[] = [
    ['generate: --out under a regular file', () => ['generate', '--out', join(dirs.regularFile, 'sub'), '--tasks', '10'], () => [join(dirs.regularFile, 'sub')]],
    ['generate: --out is a regular file', () => ['generate', '--out', dirs.regularFile, '--tasks', '10'], () => [dirs.regularFile]],
  ];
  const others: Case[] = [
    ['unknown command', () => ['no-such-command'], () => ['no-such-command']],
    // A misspelt required flag is named as the typo it is (commander once reported only the missing flag).
    ['prepare: a misspelt required flag', () => ['prepare', '--legacy-dta', good, '--new-data', db.url], () => ["unknown option '--legacy-dta'", '--legacy-data']],
    ['migrate: the required flag left out', () => ['migrate', ...good_()], () => ["required option '--legacy-data <dir>' not specified"]],
    ['migrate: flag value of the wrong type', () => ['migrate', ...legacy(good), ...good_(), '--chunk-size', 'lots'], () => ['--chunk-size', 'lots']],
    ['resume: run not in the ledger', () => ['resume', 'no-such-run', ...good_()], () => ['no-such-run']],
    ['status: run not in the ledger', () => ['status', 'no-such-run', '--new-data', db.url], () => ['no-such-run']],
    ['rejects: run not in the ledger', () => ['rejects', 'no-such-run', '--new-data', db.url], () => ['no-such-run']],
    ['status: --new-data is not a URL', () => ['status', '--new-data', 'not a url'], () => [/--new-data|DATABASE_URL|databaseUrl/]],
    // A port in use once gave an internal TypeError and a process that never exited (Express 5 passes the
    // listen error to its callback); now "… port P is in use" and a non-zero exit.
    ['board: --port already in use', () => ['board', '--port', String(busyPort), '--prefix', prefix, '--redis', REDIS_URL], () => [String(busyPort), /in use/i]],
    // Checked before the worker takes any job, so nothing is left half started.
    ['worker: --health-port already in use', () => ['worker', '--health-port', String(busyPort), ...good_()], () => [String(busyPort), /in use/i, '--health-port']],
  ];

  describe('a missing legacy directory', () => {
    it.each(missingLegacy)('%s', async (_name, args, mentions) => expectCleanFailure(await run(args()), mentions()));
  });
  describe('an unreadable legacy file', () => {
    it.each(unreadable)('%s', async (_name, args, mentions) => expectCleanFailure(await run(args()), mentions()));
  });
  describe('an unreachable Redis', () => {
    it.each(deadRedis)('%s', async (_name, args, mentions) => expectCleanFailure(await run(args()), mentions()));
  });
  describe('an unreachable Postgres', () => {
    it.each(deadPostgres)('%s', async (_name, args, mentions) => expectCleanFailure(await run(args()), mentions()));
  });
  describe('an unknown flag', () => {
    it.each(unknownFlag)('%s', async (_name, args, mentions) => expectCleanFailure(await run(args()), mentions()));
  });
  describe('generate', () => {
    it.each(generate)('%s', async (_name, args, mentions) => expectCleanFailure(await run(args()), mentions()));
  });
  describe('other operator mistakes', () => {
    it.each(others)('%s', async (_name, args, mentions) => expectCleanFailure(await run(args()), mentions()));
  });
  // With --skip-prepare nothing refuses the file before planning: planning does, and leaves no run behind
  // (one stuck in 'planning' used to stay in `taskfleet status` for good).
  it('migrate --skip-prepare: an empty tasks.json is refused when planned, and no run is left in the ledger', async () => {
    const r = await run(['migrate', '--skip-prepare', ...legacy(dirs.tasksEmpty), ...good_(), '--run-id', 'empty-tasks']);
    expectCleanFailure(r, ['tasks.json:1: the file holds no JSON array (it is empty or blank): is the export incomplete?']);
    const { rows } = await db.pool.query(`SELECT 1 FROM ledger.runs WHERE id = 'empty-tasks'`);
    expect(rows).toHaveLength(0);
  });
  // Found by the README probe: a bad option combination exited 1 (the code of a failed run), not 2.
  it('generate: options that cannot work together are a usage error (exit 2)', async () => {
    const r = await run(['generate', '--out', join(dirs.regularFile, '..', 'never-made'), '--projects', '0', '--tasks', '10']);
    expectCleanFailure(r, ['Invalid generator options: tasks need at least one project: set projects ≥ 1.']);
    expect(r.code).toBe(2);
  });
  // `generate --out` replaces its directory's legacy files; one the generator did not write may be a real dump.
  it('generate: refuses to overwrite legacy files it did not write (exit 2, files untouched), unless --force', async () => {
    const dump = join(root, 'real-dump');
    await mkdir(dump);
    await cp(join(good, 'projects.jsonl'), join(dump, 'projects.jsonl'));
    await cp(join(good, 'tasks.jsonl'), join(dump, 'tasks.jsonl'));
    const before = await readFile(join(dump, 'tasks.jsonl'), 'utf8');
    const r = await run(['generate', '--out', dump, '--projects', '1', '--tasks', '5', '--format', 'csv']);
    expectCleanFailure(r, [`${join(dump, 'projects.jsonl')} (and tasks.jsonl) was not written by taskfleet generate`, 'pass --force']);
    expect(r.code).toBe(2);
    expect(await readFile(join(dump, 'tasks.jsonl'), 'utf8')).toBe(before);
    expect(await readdir(dump)).toEqual(['projects.jsonl', 'tasks.jsonl']);
    // A generated directory is regenerated without --force; a real dump with it.
    const twice = join(root, 'generated-twice');
    for (const seed of ['1', '2']) {
      const again = await run(['generate', '--out', twice, '--projects', '1', '--tasks', '5', '--seed', seed]);
      expect(again.code, again.stderr).toBe(0);
    }
    const forced = await run(['generate', '--out', dump, '--projects', '1', '--tasks', '5', '--format', 'csv', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect((await readdir(dump)).filter((f) => /^(projects|tasks)\./.test(f)).sort()).toEqual(['projects.csv', 'tasks.csv']);
  });
  // Found by the README probe: `run` promises one JSON line on stdout for scripts, and a usage error left it empty.
  it('run: a usage error still ends stdout with a JSON line (the error and exit code 2)', async () => {
    for (const args of [['run', '--phase', 'verfy', ...legacy(good)], ['run', '--no-such-flag']]) {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(2);
      expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'error', exitCode: 2, error: expect.stringMatching(/unknown phase verfy|unknown option '--no-such-flag'/) as unknown });
    }
  });
  // `taskfleet verify --help | head -1`: the reader closes the pipe before the help is written.
  it('a reader that closes standard output early: exit 0, no EPIPE stack trace', async () => {
    const cli = startCli(['verify', '--help']);
    cli.child.stdout!.destroy();
    const r = await cli.result;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
  // `taskfleet migrate --json | head -1`: the migration goes on to the end (its output discarded) rather
  // than stopping half way with its workers left behind.
  it('a reader that closes standard output and error early does not stop a migration', async () => {
    const cli = startCli(['migrate', '--skip-prepare', ...legacy(good), ...good_(), '--run-id', 'closed-stdout', '--workers', '1', '--json'], { timeoutMs: 120_000 });
    cli.child.stdout!.destroy();
    cli.child.stderr!.destroy(); // `2>&1 | head`: the progress lines go to a closed pipe too
    const r = await cli.result;
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const { rows: [run] } = await db.pool.query<{ status: string }>(`SELECT status FROM ledger.runs WHERE id = 'closed-stdout'`);
    expect(run?.status).toBe('completed');
  });
});
