// The rollback phase (acceptance 4), end to end through the built CLI against real Redis and Postgres.
//
// Three data sets with disjoint legacy ids: X (run A, --skip-prepare), Y (prepared with a backup, run B)
// and Z (run C, --skip-prepare). Y's directory is hashed by this file before anything runs, then damaged
// after the migration. `rollback --dry-run` of B names what it would delete and restore and writes
// nothing (pg_stat_user_tables of tms and ledger); the real rollback of B leaves none of B's rows, A's and
// C's rows exactly as they were (same ctid, xmin and values), and Y hashing as before; the same migrate
// command works again afterwards. A row of C changed by hand makes rollback refuse and name it; --force
// proceeds and says there was no backup. Rows of A adopted by a later run D make A's rollback refuse
// (even with --force) until D is rolled back — which leaves those rows in place. A decommissioned run
// cannot be rolled back.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { runFleet, summaryOf } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, uniquePrefix, type TestDatabase } from './helpers/services.js';

const prefix = uniquePrefix('rollback');
const TABLES = ['projects', 'phases', 'tasks', 'task_dependencies'] as const;
let root: string;
let x: string;
let y: string;
let z: string;
let backup: string;
let db: TestDatabase;
/** Y's files and their SHA-256 before it was prepared or migrated. */
let yBefore: Map<string, string>;

async function hashTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.set(relative(dir, path), createHash('sha256').update(await readFile(path)).digest('hex'));
    }
  };
  await walk(dir);
  return out;
}

/** A copy of a generated jsonl data set whose every legacy id carries `tag` (so it shares none). */
async function relabel(from: string, to: string, tag: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    if (!/^(projects|phases|tasks|task_dependencies)\.jsonl$/.test(name)) continue;
    await writeFile(join(to, name), (await readFile(join(from, name), 'utf8')).replace(/"(P|PH|T)-/g, `"${tag}$1-`));
  }
}

const cli = (args: readonly string[]) => runFleet(db.pool, [...args, ...connectionArgs(db, prefix)]);
const migrate = (dir: string, runId: string, skipPrepare: boolean) =>
  cli(['migrate', '--legacy-data', dir, '--run-id', runId, '--workers', '2', '--no-progress', '--json', ...(skipPrepare ? ['--skip-prepare'] : [])]);
const rollback = (...args: string[]) => cli(['rollback', ...args]);

/** Rows per table that a run created or last migrated. */
async function rowsOf(runId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of TABLES) {
    const { rows: [r] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.${table} WHERE run_id = $1 OR last_run_id = $1`, [runId]);
    out[table] = r!.n;
  }
  return out;
}

/** Every row version of a run: location, creating transaction and values. Changes if any row is touched. */
async function fingerprintOf(runId: string): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) {
    const { rows: [r] } = await db.pool.query<{ n: number; v: string | null }>(
      `SELECT count(*)::int AS n, md5(string_agg(ctid::text || ':' || xmin::text || ':' || to_jsonb(t)::text, ',' ORDER BY ctid)) AS v FROM tms.${table} t WHERE run_id = $1`, [runId]);
    parts.push(`${table}=${r!.n}:${r!.v ?? ''}`);
  }
  return parts.join(' ');
}

/** n_tup_ins/upd/del of every tms and ledger table, as the statistics system has them. */
async function writeCounters(): Promise<Record<string, string>> {
  await db.pool.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await db.pool.query<{ name: string; writes: string }>(
    `SELECT schemaname || '.' || relname AS name, n_tup_ins || '/' || n_tup_upd || '/' || n_tup_del AS writes
       FROM pg_stat_user_tables WHERE schemaname IN ('tms', 'ledger') ORDER BY 1`);
  return Object.fromEntries(rows.map((r) => [r.name, r.writes]));
}

async function runState(runId: string): Promise<{ status: string; rolled_back_at: Date | null } | undefined> {
  const { rows } = await db.pool.query<{ status: string; rolled_back_at: Date | null }>('SELECT status, rolled_back_at FROM ledger.runs WHERE id = $1', [runId]);
  return rows[0];
}

async function rollbackEvents(runId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ outcome: string }>(`SELECT outcome FROM ledger.phase_events WHERE phase = 'rollback' AND run_id = $1 ORDER BY id`, [runId]);
  return rows.map((r) => r.outcome);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-rollback-'));
  x = join(root, 'x');
  y = join(root, 'y');
  z = join(root, 'z');
  backup = join(root, 'backup');
  await generateLegacyData({ out: x, projects: 20, phasesPerProject: 3, tasks: 2000, format: 'jsonl', seed: 3 });
  await generateLegacyData({ out: join(root, 'y-source'), projects: 10, phasesPerProject: 3, tasks: 1000, format: 'jsonl', seed: 5 });
  await relabel(join(root, 'y-source'), y, 'Y');
  await generateLegacyData({ out: join(root, 'z-source'), projects: 5, phasesPerProject: 2, tasks: 200, format: 'jsonl', seed: 9 });
  await relabel(join(root, 'z-source'), z, 'Z');
  yBefore = await hashTree(y);
  db = await createTestDatabase('rollback');

  const a = await migrate(x, 'rb-a', true);
  expect(a.code, a.stderr).toBe(0);
  const prepare = await cli(['prepare', '--legacy-data', y, '--backup', backup, '--validation-report', join(root, 'validation.json')]);
  expect(prepare.code, prepare.stderr).toBe(0);
  const b = await migrate(y, 'rb-b', false);
  expect(b.code, b.stderr).toBe(0);
  const c = await migrate(z, 'rb-c', true);
  expect(c.code, c.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) {
    await chmod(x, 0o755).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
});

describe('taskfleet rollback', () => {
  it('--dry-run names what it would delete and restore, and writes nothing', async () => {
    const { rows: [run] } = await db.pool.query<{ preparation_id: string | null }>(`SELECT preparation_id FROM ledger.runs WHERE id = 'rb-b'`);
    expect(run!.preparation_id, 'run B started from the prepare').not.toBeNull();
    // Damage Y: one file gone, one changed.
    await rm(join(y, 'phases.jsonl'));
    await appendFile(join(y, 'tasks.jsonl'), '{"id":"YT-stray"}\n');

    const counts = await rowsOf('rb-b');
    expect(counts.tasks).toBe(1000);
    const before = await writeCounters();
    const result = await rollback('--run-id', 'rb-b', '--dry-run');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/DRY RUN, nothing was changed/);
    for (const table of TABLES) expect(result.stdout).toContain(`tms.${table} ${counts[table]}`);
    expect(result.stdout).toMatch(/restore phases\.jsonl \(missing\)/);
    expect(result.stdout).toMatch(/restore tasks\.jsonl \((size|sha256) differs\)/);
    expect(result.stdout).toMatch(/A real rollback would proceed/);

    expect(await writeCounters()).toEqual(before);
    expect(await rowsOf('rb-b')).toEqual(counts);
    expect((await hashTree(y)).has('phases.jsonl')).toBe(false);
    expect((await runState('rb-b'))?.status).toBe('completed');
    expect(await rollbackEvents('rb-b')).toEqual([]);
  });

  it('removes exactly the run\'s rows, leaves other runs\' rows untouched, and restores the legacy data', async () => {
    const a = await fingerprintOf('rb-a');
    const c = await fingerprintOf('rb-c');
    const result = await rollback('--run-id', 'rb-b');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Rolled back run rb-b/);

    expect(await rowsOf('rb-b')).toEqual({ projects: 0, phases: 0, tasks: 0, task_dependencies: 0 });
    const { rows: [left] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger.id_map WHERE legacy_id LIKE 'Y%'`);
    expect(left!.n).toBe(0);
    expect(await fingerprintOf('rb-a')).toBe(a);
    expect(await fingerprintOf('rb-c')).toBe(c);
    expect(await hashTree(y)).toEqual(yBefore);
    const state = await runState('rb-b');
    expect(state?.status).toBe('rolled_back');
    expect(state?.rolled_back_at).toBeInstanceOf(Date);
    expect(await rollbackEvents('rb-b')).toEqual(['passed']);

    const again = await rollback('--run-id', 'rb-b');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already rolled back/);
  }, 60_000);

  it('the same migrate command works again after a rollback, and rolls back again', async () => {
    const again = await migrate(y, 'rb-b', false);
    expect(again.code, again.stderr).toBe(0);
    expect(summaryOf(again)).toMatchObject({ runId: 'rb-b', status: 'completed', rejected: 0 });
    expect((await rowsOf('rb-b')).tasks).toBe(1000);
    const result = await rollback('--run-id', 'rb-b');
    expect(result.code, result.stderr).toBe(0);
    expect(await rowsOf('rb-b')).toEqual({ projects: 0, phases: 0, tasks: 0, task_dependencies: 0 });
    expect(await hashTree(y)).toEqual(yBefore);

    // The same bare rollback once more (a script run twice): the latest run, rb-b, is rolled back
    // already, so it refuses, rather than undo rb-c, the latest run still migrated, which nobody named.
    const c = await fingerprintOf('rb-c');
    const bare = await rollback();
    expect(bare.code, bare.stderr).toBe(2);
    expect(bare.stderr).toContain('The latest run, rb-b, was already rolled back on ');
    expect(bare.stderr).toContain('To roll back an earlier run, name it with --run-id');
    expect(await fingerprintOf('rb-c')).toBe(c);
    expect((await runState('rb-c'))?.status).toBe('completed');
    expect(await rollbackEvents('rb-c')).toEqual([]);
  }, 60_000);

  it('refuses when a row of the run was changed after it, naming the row; --force proceeds', async () => {
    await db.pool.query(`UPDATE tms.tasks SET title = 'edited by hand' WHERE legacy_id = 'ZT-00000007'`);
    const a = await fingerprintOf('rb-a');
    const counts = await rowsOf('rb-c');

    const dry = await rollback('--run-id', 'rb-c', '--dry-run');
    expect(dry.code, dry.stderr).toBe(2); // the exit code the real rollback gives
    expect(dry.stdout).toMatch(/would refuse \(unless --force\): 1 row of run rb-c was changed after it completed \(tms\.tasks ZT-00000007\)/);
    expect(dry.stdout).toMatch(/no backup to restore/);
    const dryForced = await rollback('--run-id', 'rb-c', '--dry-run', '--force');
    expect(dryForced.code, dryForced.stderr).toBe(0);

    const refused = await rollback('--run-id', 'rb-c');
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/tms\.tasks ZT-00000007/);
    expect(refused.stderr).toMatch(/--force/);
    expect(await rowsOf('rb-c')).toEqual(counts);
    expect(await rollbackEvents('rb-c')).toEqual(['refused']);

    const forced = await rollback('--run-id', 'rb-c', '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/changed after the run \(deleted: --force\): tms\.tasks ZT-00000007/);
    expect(forced.stdout).toMatch(/no backup to restore: run rb-c was started without a prepare/);
    expect(await rowsOf('rb-c')).toEqual({ projects: 0, phases: 0, tasks: 0, task_dependencies: 0 });
    expect(await fingerprintOf('rb-a')).toBe(a);
    expect(await rollbackEvents('rb-c')).toEqual(['refused', 'passed']);
  }, 60_000);

  it('refuses to roll back rows a later run adopted until that run is rolled back, which leaves them in place', async () => {
    const d = await migrate(x, 'rb-d', true);
    expect(d.code, d.stderr).toBe(0);
    const { rows: [adopted] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.tasks WHERE run_id = 'rb-a' AND last_run_id = 'rb-d'`);
    expect(adopted!.n).toBe(2000);

    for (const force of [[], ['--force']]) {
      const refused = await rollback('--run-id', 'rb-a', ...force);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/adopted by a later run .*roll back run rb-d first/);
    }
    expect((await rowsOf('rb-a')).tasks).toBe(2000);

    const fingerprint = await fingerprintOf('rb-a');
    const undone = await rollback('--run-id', 'rb-d');
    expect(undone.code, undone.stderr).toBe(0);
    expect(undone.stdout).toMatch(/deleted tms\.task_dependencies 0, tms\.workflow_runs 0, tms\.workflows 0, tms\.workflow_templates 0, tms\.tasks 0, tms\.phases 0, tms\.projects 0/);
    expect(undone.stdout).toMatch(/leave in place \(created by run rb-a, adopted by this run\): tms\.tasks T-00000001/);
    // The workflow templates rb-a stored first stay: rb-a's workflows still use them.
    const { rows: [templates] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.workflow_templates WHERE run_id = 'rb-a'`);
    expect(templates!.n).toBeGreaterThan(0);
    expect(await fingerprintOf('rb-a')).toBe(fingerprint);
    // Rows a rolled-back run adopted were changed by that run, not by someone else: no --force needed.
    const preview = await rollback('--run-id', 'rb-a', '--dry-run');
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toMatch(/rows changed after the run: none/);
    expect(preview.stdout).toMatch(/A real rollback would proceed/);
  }, 60_000);

  it('refuses to roll back a decommissioned run', async () => {
    // Decommission's own gate is tested in decommission.test.ts; here it only has to let the run through.
    await db.pool.query(`INSERT INTO ledger.verifications (run_id, started_at, passed, checks) VALUES ('rb-a', now(), true, '[]')`);
    const decommission = await cli(['decommission', 'rb-a', '--archive', join(root, 'archive')]);
    expect(decommission.code, decommission.stderr).toBe(0);
    const fingerprint = await fingerprintOf('rb-a');
    const refused = await rollback('--run-id', 'rb-a', '--force');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/Run rb-a was decommissioned .* can no longer be rolled back/);
    expect(await fingerprintOf('rb-a')).toBe(fingerprint);
    expect(await rollbackEvents('rb-a')).toEqual(['refused', 'refused', 'refused']);
  }, 60_000);

  it('scripts/rollback_migration.sh is the same command, with its flags in --help', async () => {
    const { stdout: help } = await promisify(execFile)(join(import.meta.dirname, '..', 'scripts', 'rollback_migration.sh'), ['--help']);
    for (const flag of ['--run-id', '--dry-run', '--force', '--new-data']) expect(help).toContain(flag);
    const unknown = await runCli(['rollback', '--run-id', 'no-such-run', ...connectionArgs(db, prefix)]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Run no-such-run is not in the ledger/);
  });
});
