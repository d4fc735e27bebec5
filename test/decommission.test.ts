// The decommission phase, end to end through the built CLI against real Redis and Postgres.
//
// It refuses (exit 2, one line, a 'refused' phase event, nothing archived) while the run has no
// verification, and while its latest verification failed. Once the latest one passed, it writes
// DIR/<run>-legacy.tar.gz and its manifest; unpacking the archive with the system's own `tar` gives
// files whose SHA-256 equal the originals' (hashed by this file before decommission); the legacy
// directory holds the retirement marker and is read-only; the ledger records it. A second decommission
// says so and changes nothing; the retired data cannot be migrated again.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { appendFile, chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { readArchive, writeArchive } from '../src/lifecycle/archive.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { runFleet } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, uniquePrefix, type TestDatabase } from './helpers/services.js';

const RUN = 'dec-a';
const MARKER = 'RETIRED.taskfleet.json';
const prefix = uniquePrefix('decommission');
let root: string;
let legacy: string;
let archiveDir: string;
let db: TestDatabase;
/** Every legacy file's SHA-256, taken by this file before anything was archived. */
let originals: Map<string, string>;

async function hashTree(dir: string, skip: readonly string[] = []): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (!skip.includes(entry.name)) out.set(relative(dir, path), createHash('sha256').update(await readFile(path)).digest('hex'));
    }
  };
  await walk(dir);
  return out;
}

const decommission = (extra: string[] = []) => runFleet(db.pool, ['decommission', RUN, '--archive', archiveDir, ...extra, ...connectionArgs(db, prefix)]);

async function verifyCommandAvailable(): Promise<boolean> {
  const help = await runCli(['verify', '--help']);
  return help.code === 0 && /verification-report/.test(help.stdout);
}

/**
 * Records a verification of the run: with the real `taskfleet verify` when it exists (passing on the
 * untouched data; failing after a task's title was changed by hand, then put back), else a ledger row.
 */
async function verification(passed: boolean): Promise<void> {
  if (await verifyCommandAvailable()) {
    const { rows: [task] } = await db.pool.query<{ id: string; title: string }>(`SELECT id, title FROM tms.tasks WHERE run_id = $1 ORDER BY legacy_id LIMIT 1`, [RUN]);
    if (!passed) await db.pool.query('UPDATE tms.tasks SET title = title || $2 WHERE id = $1', [task!.id, ' (tampered)']);
    const result = await runFleet(db.pool, ['verify', RUN, '--verification-report', join(root, `verify-${String(passed)}.json`), ...connectionArgs(db, prefix)]);
    if (!passed) await db.pool.query('UPDATE tms.tasks SET title = $2 WHERE id = $1', [task!.id, task!.title]);
    expect(result.code, result.stderr).toBe(passed ? 0 : 1);
  } else {
    await db.pool.query(`INSERT INTO ledger.verifications (run_id, started_at, passed, checks) VALUES ($1, now(), $2, '[]')`, [RUN, passed]);
  }
  const { rows: [latest] } = await db.pool.query<{ passed: boolean }>('SELECT passed FROM ledger.verifications WHERE run_id = $1 ORDER BY id DESC LIMIT 1', [RUN]);
  expect(latest?.passed).toBe(passed);
}

async function phaseOutcomes(): Promise<string[]> {
  const { rows } = await db.pool.query<{ outcome: string }>(`SELECT outcome FROM ledger.phase_events WHERE phase = 'decommission' AND run_id = $1 ORDER BY id`, [RUN]);
  return rows.map((r) => r.outcome);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-decommission-'));
  legacy = join(root, 'legacy');
  archiveDir = join(root, 'archive');
  await generateLegacyData({ out: legacy, projects: 20, phasesPerProject: 3, tasks: 2000, format: 'jsonl', seed: 11 });
  originals = await hashTree(legacy);
  db = await createTestDatabase('decommission');
  const result = await runFleet(db.pool, ['migrate', '--legacy-data', legacy, '--run-id', RUN, '--workers', '1', '--no-progress', '--skip-prepare', '--json', ...connectionArgs(db, prefix)]);
  expect(result.code, result.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) {
    await chmod(legacy, 0o755).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
});

describe('taskfleet decommission', () => {
  it('refuses while the run has no verification, saying how to verify', async () => {
    const result = await decommission();
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(new RegExp(`taskfleet verify ${RUN}`));
    expect(await exists(archiveDir)).toBe(false);
    expect(await exists(join(legacy, MARKER))).toBe(false);
    expect(await phaseOutcomes()).toEqual(['refused']);
  });

  it('refuses while the latest verification failed, even after an earlier one passed', async () => {
    await verification(true);
    await verification(false);
    const result = await decommission();
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/latest verification of run dec-a .*failed/);
    expect(await exists(join(archiveDir, `${RUN}-legacy.tar.gz`))).toBe(false);
    expect(await exists(join(legacy, MARKER))).toBe(false);
    expect(await phaseOutcomes()).toEqual(['refused', 'refused']);
    const { rows: [run] } = await db.pool.query<{ at: Date | null }>('SELECT decommissioned_at AS at FROM ledger.runs WHERE id = $1', [RUN]);
    expect(run!.at).toBeNull();
  }, 60_000);

  it('refuses when a legacy file changed since the run migrated it', async () => {
    await verification(true);
    const tasks = join(legacy, 'tasks.jsonl');
    const original = await readFile(tasks);
    await appendFile(tasks, '{"id":"T-late"}\n');
    const result = await decommission();
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/tasks\.jsonl changed since run dec-a migrated it/);
    expect(await exists(join(archiveDir, `${RUN}-legacy.tar.gz`))).toBe(false);
    await writeFile(tasks, original);
    expect(await phaseOutcomes()).toEqual(['refused', 'refused', 'refused']);
  }, 60_000);

  // A run rolled back and migrated again under its id keeps its earlier verifications: a passed one
  // once let decommission retire the data of an attempt that had written nothing yet.
  it('refuses a run that is not completed, and a verification of an earlier attempt of the run', async () => {
    await db.pool.query(`UPDATE ledger.runs SET status = 'running' WHERE id = $1`, [RUN]);
    const running = await decommission();
    expect(running.code).toBe(2);
    expect(running.stderr).toMatch(/Run dec-a is running, not completed: .*taskfleet resume dec-a/);
    // Planned again (its row is new) after the passed verification above, and completed since.
    await db.pool.query(`UPDATE ledger.runs SET status = 'completed', created_at = now() WHERE id = $1`, [RUN]);
    const earlier = await decommission();
    expect(earlier.code).toBe(2);
    expect(earlier.stderr).toMatch(/latest verification of run dec-a \(#\d+, .*\) is of an earlier attempt: the run was planned again at .*taskfleet verify dec-a/);
    expect(await exists(join(legacy, MARKER))).toBe(false);
    expect(await phaseOutcomes()).toEqual(['refused', 'refused', 'refused', 'refused', 'refused']);
    await verification(true);
  }, 60_000);

  // Found by the README probe: an --archive that cannot be made gave a bare "ENOENT … mkdir" (exit 1).
  it('after a passed verification, an --archive that cannot be created is a usage error naming it; nothing is retired', async () => {
    const blocker = join(root, 'a-file');
    await writeFile(blocker, 'in the way\n');
    const result = await runFleet(db.pool, ['decommission', RUN, '--archive', join(blocker, 'archive'), ...connectionArgs(db, prefix)]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(`Cannot create the archive directory ${join(blocker, 'archive')} (--archive): `);
    expect(existsSync(join(legacy, MARKER))).toBe(false);
    // Refused, as a gate is (exit 2, nothing done), not a phase that ran and failed.
    expect(await phaseOutcomes()).toEqual(['refused', 'refused', 'refused', 'refused', 'refused', 'refused']);
  });

  it('after a passed verification: archives, proves the archive, retires the data and records it', async () => {
    const result = await decommission();
    expect(result.code, result.stderr).toBe(0);
    const archive = join(archiveDir, `${RUN}-legacy.tar.gz`);
    const manifestPath = join(archiveDir, `${RUN}-legacy.manifest.json`);
    expect(result.stdout).toContain(archive);

    // The manifest lists every legacy file with the hash this file computed, and the archive's own hash.
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { files: { name: string; bytes: number; sha256: string }[]; archive: { sha256: string } };
    expect(new Map(manifest.files.map((f) => [f.name, f.sha256]))).toEqual(originals);
    expect(manifest.archive.sha256).toBe(createHash('sha256').update(await readFile(archive)).digest('hex'));

    // The system's tar (not the npm package that wrote it) unpacks files equal to the originals.
    const unpacked = join(root, 'unpacked');
    await rm(unpacked, { recursive: true, force: true });
    await promisify(execFile)('mkdir', ['-p', unpacked]);
    await promisify(execFile)('tar', ['-xzf', archive, '-C', unpacked]);
    expect(await hashTree(join(unpacked, `${RUN}-legacy`))).toEqual(originals);

    // Retired in place: the marker names the run and the archive; files 0444, directory 0555.
    const marker = JSON.parse(await readFile(join(legacy, MARKER), 'utf8')) as { runId: string; archive: string; archiveSha256: string };
    expect(marker).toMatchObject({ runId: RUN, archive, archiveSha256: manifest.archive.sha256 });
    expect((await stat(legacy)).mode & 0o777).toBe(0o555);
    for (const name of [...originals.keys(), MARKER]) expect((await stat(join(legacy, name))).mode & 0o777, name).toBe(0o444);
    expect(await hashTree(legacy, [MARKER])).toEqual(originals);

    const { rows: decommissions } = await db.pool.query<{ archive_path: string; archive_sha256: string }>('SELECT archive_path, archive_sha256 FROM ledger.decommissions WHERE run_id = $1', [RUN]);
    expect(decommissions).toEqual([{ archive_path: archive, archive_sha256: manifest.archive.sha256 }]);
    const { rows: [run] } = await db.pool.query<{ at: Date | null }>('SELECT decommissioned_at AS at FROM ledger.runs WHERE id = $1', [RUN]);
    expect(run!.at).toBeInstanceOf(Date);
    expect(await phaseOutcomes()).toEqual(['refused', 'refused', 'refused', 'refused', 'refused', 'refused', 'passed']);
  }, 60_000);

  it('a second decommission says so and changes nothing; the retired data cannot be migrated again', async () => {
    const archive = join(archiveDir, `${RUN}-legacy.tar.gz`);
    const before = (await stat(archive)).mtimeMs;
    const result = await decommission();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/already decommissioned/);
    expect((await stat(archive)).mtimeMs).toBe(before);
    expect(await phaseOutcomes()).toEqual(['refused', 'refused', 'refused', 'refused', 'refused', 'refused', 'passed']);
    const { rows: [count] } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger.decommissions');
    expect(count!.n).toBe(1);

    const migrate = await runFleet(db.pool, ['migrate', '--legacy-data', legacy, '--run-id', 'dec-b', '--no-progress', '--skip-prepare', ...connectionArgs(db, prefix)]);
    expect(migrate.code).toBe(2);
    expect(migrate.stderr).toMatch(/decommissioned/);
    // prepare refuses it too: a pass would promise a migrate that the gate refuses.
    const prepare = await runFleet(db.pool, ['prepare', '--legacy-data', legacy, '--backup', join(root, 'backup-after'),
      '--validation-report', join(root, 'report-after.json'), ...connectionArgs(db, prefix)]);
    expect(prepare.code).toBe(2);
    expect(prepare.stderr).toMatch(/decommissioned/);
  }, 60_000);

  it('reads an archive back entry by entry, and fails on a damaged one', async () => {
    const dir = join(root, 'small');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'a.txt'), 'hello\n');
    await writeFile(join(dir, 'sub', 'b.bin'), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)));
    const archive = join(root, 'small.tar.gz');
    await writeArchive(dir, archive, 'small', ['a.txt', 'sub/b.bin']);
    const read = await readArchive(archive, 'small');
    expect(read.other).toEqual([]);
    expect(new Map(read.files.map((f) => [f.name, f.sha256]))).toEqual(await hashTree(dir));
    expect(read.files.find((f) => f.name === 'sub/b.bin')?.bytes).toBe(300_000);

    await truncate(archive, Math.floor((await stat(archive)).size / 2));
    await expect(readArchive(archive, 'small')).rejects.toThrow();
  });
});
