// The legacy-data side of a rollback, when things are not as prepare left them:
// - a restore that fails half way leaves the run rolled back with its rows removed, and says so; status,
//   resume and migrate point at `rollback` to finish, which the next rollback does;
// - a damaged (here: moved) backup blocks nothing when the legacy files still match it, and blocks the
//   files it cannot restore unless --force, which leaves them as they are;
// - an unknown run id, a legacy directory replaced by a file and a second rollback at once are refused;
// - rows written outside taskfleet (a run_id no run of the ledger has) are named as such;
// - workflows and workflow attempts changed after the run are changes like any row's: listed, and the
//   rollback refuses without --force.
// Real CLI and Postgres; one database, runs one after another over one prepared data set.
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { connectionArgs, runCli } from './helpers/cli.js';
import { useGeneratedDumps } from './helpers/generated-dumps.js';

const dumps = useGeneratedDumps('rollback-restore', { legacy: { projects: 5, phasesPerProject: 2, tasks: 400, format: 'jsonl', seed: 21 } });
const legacy = dumps.dir('legacy');
/** The one backup directory prepare wrote (backup/<manifest hash>). */
let backupDir: string;

const cli = (...args: string[]) => runCli([...args, ...connectionArgs(dumps.db, dumps.prefix)]);
const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

async function migrate(runId: string): Promise<void> {
  const result = await cli('migrate', '--legacy-data', legacy, '--run-id', runId, '--workers', '1', '--no-progress');
  expect(result.code, result.stderr).toBe(0);
}

async function taskRows(runId: string): Promise<number> {
  const { rows: [r] } = await dumps.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tms.tasks WHERE run_id = $1', [runId]);
  return r!.n;
}

async function runState(runId: string): Promise<{ status: string; restored: boolean }> {
  const { rows: [r] } = await dumps.db.pool.query<{ status: string; restored: boolean }>(
    'SELECT status, rolled_back_at IS NOT NULL AS restored FROM ledger.runs WHERE id = $1', [runId]);
  return r!;
}

beforeAll(async () => {
  const prepare = await cli('prepare', '--legacy-data', legacy, '--backup', join(dumps.root, 'backup'), '--validation-report', join(dumps.root, 'validation.json'), '--json');
  expect(prepare.code, prepare.stderr).toBe(0);
  backupDir = (JSON.parse(prepare.stdout) as { backupDir: string }).backupDir;
}, 120_000);

describe('rollback when the legacy data or its backup changed', () => {
  it('a restore that fails leaves the rows removed and the rollback unfinished; the next rollback finishes it', async () => {
    await migrate('rr-restore');
    const tasks = join(legacy, 'tasks.jsonl');
    const before = await sha256(tasks);
    // A directory where the file was: the restored copy cannot be renamed into place.
    await rm(tasks);
    await mkdir(tasks);
    await writeFile(join(tasks, 'notes.txt'), 'in the way\n');

    const failed = await cli('rollback', '--run-id', 'rr-restore');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('The rows of run rr-restore were removed, but restoring its legacy data failed');
    expect(failed.stderr).toContain('run `taskfleet rollback --run-id rr-restore` again to finish');
    expect(await taskRows('rr-restore')).toBe(0);
    expect(await runState('rr-restore')).toEqual({ status: 'rolled_back', restored: false });

    const status = await cli('status', 'rr-restore');
    expect(status.stdout).toContain('rolled back: its rows are removed, its legacy data not restored yet (finish with: taskfleet rollback --run-id rr-restore)');
    const resume = await cli('resume', 'rr-restore');
    expect(resume.code).toBe(2);
    expect(resume.stderr).toContain('Run rr-restore is being rolled back (its rows are removed, its legacy data not restored yet): finish that with taskfleet rollback --run-id rr-restore');

    await rm(tasks, { recursive: true });
    // No --run-id: the unfinished rollback is the one to finish.
    const finished = await cli('rollback');
    expect(finished.code, finished.stderr).toBe(0);
    expect(finished.stdout).toContain('Rolled back run rr-restore');
    expect(finished.stdout).toContain('restored tasks.jsonl (missing)');
    expect(await sha256(tasks)).toBe(before);
    expect(await runState('rr-restore')).toEqual({ status: 'rolled_back', restored: true });
    const again = await cli('rollback', '--run-id', 'rr-restore');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('Run rr-restore was already rolled back on');
    // With --json the refusal is also the JSON line a script reads.
    const againJson = await cli('rollback', '--run-id', 'rr-restore', '--json');
    expect(againJson.code).toBe(2);
    expect(JSON.parse(againJson.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      event: 'error', exitCode: 2, error: expect.stringContaining('Run rr-restore was already rolled back on') as unknown });
    // Nothing of the run is left to optimize: refused, and no phase is recorded under it.
    const optimize = await cli('optimize', '--run-id', 'rr-restore', '--optimize-report', join(dumps.root, 'optimize.json'));
    expect(optimize.code).toBe(2);
    expect(optimize.stderr).toContain('Run rr-restore was rolled back: its rows are gone, so there is nothing to optimize for it');
    const { rows: [optimized] } = await dumps.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger.phase_events WHERE run_id = 'rr-restore' AND phase = 'optimize'`);
    expect(optimized!.n).toBe(0);
  }, 120_000);

  it('refuses an unknown run id without recording it, a legacy directory replaced by a file, and the second of two rollbacks at once', async () => {
    const unknown = await cli('rollback', '--run-id', 'rr-typo');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Run rr-typo is not in the ledger');
    const { rows: [typo] } = await dumps.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger.phase_events WHERE run_id = 'rr-typo'`);
    expect(typo!.n).toBe(0);

    await migrate('rr-twice');
    await rename(legacy, `${legacy}.dir`);
    await writeFile(legacy, 'not a directory\n');
    try {
      const notDir = await cli('rollback', '--run-id', 'rr-twice');
      expect(notDir.code).toBe(2);
      expect(notDir.stderr).toContain(`The run's legacy directory ${legacy} is no longer a directory: move that file away, then roll back again`);
    } finally {
      await rm(legacy);
      await rename(`${legacy}.dir`, legacy);
    }
    const both = await Promise.all([cli('rollback', '--run-id', 'rr-twice'), cli('rollback', '--run-id', 'rr-twice')]);
    expect(both.map((r) => r.code).sort()).toEqual([0, 2]);
    expect(both.find((r) => r.code === 2)?.stderr).toMatch(/Run rr-twice (is being rolled back by another rollback right now|was already rolled back on)/);
    expect(await taskRows('rr-twice')).toBe(0);
  }, 120_000);

  it('names rows written outside taskfleet as such: rollback says to remove them first, verify counts them as strays of no run', async () => {
    await migrate('rr-outside');
    // A phase the new system got by another way than a run, under one of the run's projects.
    await dumps.db.pool.query(`INSERT INTO tms.phases SELECT (jsonb_populate_record(NULL::tms.phases, to_jsonb(p)
        || jsonb_build_object('id', gen_random_uuid(), 'legacy_id', 'NATIVE-PH1', 'run_id', 'native', 'last_run_id', 'native'))).*
      FROM tms.phases p WHERE run_id = 'rr-outside' ORDER BY legacy_id LIMIT 1`);
    const refused = await cli('rollback', '--run-id', 'rr-outside', '--force');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('tms.phases NATIVE-PH1 written outside taskfleet (run_id native, no run of the ledger)');
    expect(refused.stderr).toContain('delete or re-point the rows written outside taskfleet first');
    expect(refused.stderr).not.toContain('roll back run native');

    const report = join(dumps.root, 'verify-outside.json');
    const verify = await cli('verify', 'rr-outside', '--verification-report', report);
    expect(verify.code).toBe(1);
    expect(await readFile(report, 'utf8')).toContain('phases row NATIVE-PH1 has no legacy record (its run_id native names no run of the ledger: written outside taskfleet?)');

    await dumps.db.pool.query(`DELETE FROM tms.phases WHERE run_id = 'native'`);
    const rollback = await cli('rollback', '--run-id', 'rr-outside', '--force');
    expect(rollback.code, rollback.stderr).toBe(0);
  }, 120_000);

  it('a missing backup does not block a rollback whose legacy files still match it', async () => {
    await migrate('rr-intact');
    const moved = `${backupDir}.moved`;
    await rename(backupDir, moved);
    try {
      const rollback = await cli('rollback', '--run-id', 'rr-intact');
      expect(rollback.code, rollback.stderr).toBe(0);
      expect(rollback.stdout).toMatch(/\d+ files already match the backup/);
      expect(rollback.stdout).toContain('the legacy data now matches the backup\'s manifest');
      expect(await taskRows('rr-intact')).toBe(0);
    } finally {
      await rename(moved, backupDir);
    }
  }, 120_000);

  it('lists workflows and attempts changed after the run; a file the missing backup cannot restore needs --force, which leaves it', async () => {
    await migrate('rr-damaged');
    // An operator's later work on the run's workflows: one switched to on-migrate, one run by hand.
    const { rows: [w] } = await dumps.db.pool.query<{ id: string; legacy_id: string }>(
      `UPDATE tms.workflows SET run_mode = 'on-migrate' WHERE id = (SELECT id FROM tms.workflows WHERE run_id = 'rr-damaged' ORDER BY legacy_id LIMIT 1) RETURNING id, legacy_id`);
    await dumps.db.pool.query(`INSERT INTO tms.workflow_runs (workflow_id, attempt, status, run_id, definition_hash) VALUES ($1, 1, 'succeeded', 'by-hand', 'x')`, [w!.id]);
    const changed = await cli('rollback', '--run-id', 'rr-damaged', '--dry-run');
    expect(changed.code).toBe(2);
    expect(changed.stdout).toContain(`changed after the run: tms.workflows ${w!.legacy_id}`);
    expect(changed.stdout).toContain(`changed after the run: tms.workflow_runs ${w!.legacy_id} attempt 1`);

    const projects = join(legacy, 'projects.jsonl');
    const original = await readFile(projects);
    await appendFile(projects, '{"id":"P-LATER","name":"added after the prepare"}\n');
    const edited = await sha256(projects);
    const moved = `${backupDir}.moved`;
    await rename(backupDir, moved);
    try {
      const refused = await cli('rollback', '--run-id', 'rr-damaged');
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`cannot restore projects.jsonl (size differs; the backup's copy: missing (the whole backup is))`);
      expect(refused.stderr).toContain('Put the backup back as prepare wrote it, or roll back with --force');
      expect(await taskRows('rr-damaged')).toBeGreaterThan(0);

      const forced = await cli('rollback', '--run-id', 'rr-damaged', '--force');
      expect(forced.code, forced.stderr).toBe(0);
      expect(forced.stdout).toContain('left as it is, not restored projects.jsonl');
      expect(forced.stdout).not.toContain('now matches the backup');
      expect(await taskRows('rr-damaged')).toBe(0);
      const { rows: [left] } = await dumps.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tms.workflow_runs WHERE workflow_id = $1', [w!.id]);
      expect(left!.n).toBe(0);
      expect(await sha256(projects)).toBe(edited);
    } finally {
      await rename(moved, backupDir);
      await writeFile(projects, original);
    }
  }, 120_000);
});
