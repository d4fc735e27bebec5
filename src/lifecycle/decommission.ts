// The decommission phase: once the latest verification of a run passed, its legacy data directory is
// archived (tar.gz + a SHA-256 manifest, the archive read back and checked against it), then retired
// in place — a marker file naming the run and the archive, every file read-only — and the ledger
// records it. A decommissioned run cannot be rolled back and its data cannot be migrated again.
import { chmod, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { findRun, getRunFiles, type Run } from '../ledger/runs.js';
import type { Logger } from '../logger.js';
import { inTransaction, type Pool } from '../store/pool.js';
import { readArchive, writeArchive } from './archive.js';
import { buildManifest, compareManifestFiles, describeMismatches, RETIRED_MARKER, sha256OfFile, type Manifest } from './manifest.js';
import { GateError, recordPhase } from './phase-events.js';
import { makeDirectory } from '../make-directory.js';
import { ConfigError } from '../config/errors.js';

export interface DecommissionOptions {
  runId: string;
  archiveDir: string;
  logger: Logger;
}

export interface DecommissionResult {
  runId: string;
  /** true: the run was already decommissioned and nothing was done. */
  alreadyDone: boolean;
  legacyDir: string;
  archivePath: string;
  manifestPath: string;
  archiveSha256: string;
  /** The SHA-256 naming the data set (src/lifecycle/manifest.ts manifestHash). */
  manifestSha256: string;
  /** Files and bytes archived (null when the run was already decommissioned). */
  files: number | null;
  bytes: number | null;
  decommissionedAt: Date;
}

/** The manifest written next to the archive. */
export interface ArchiveManifest extends Manifest {
  runId: string;
  legacyDir: string;
  /** The archive file (next to this manifest) and its own SHA-256. */
  archive: { file: string; bytes: number; sha256: string };
  /** Directory every entry of the archive sits under. */
  prefix: string;
  createdAt: string;
}

/** The retirement marker's content (RETIRED_MARKER in the legacy directory). */
export interface RetiredMarker {
  runId: string;
  archive: string;
  archiveSha256: string;
  manifest: string;
  manifestSha256: string;
  retiredAt: string;
}

async function latestVerification(db: Pool, runId: string): Promise<{ id: number; passed: boolean; startedAt: Date; finishedAt: Date; reportPath: string | null } | null> {
  const { rows } = await db.query<{ id: string; passed: boolean; started_at: Date; finished_at: Date; report_path: string | null }>(
    'SELECT id, passed, started_at, finished_at, report_path FROM ledger.verifications WHERE run_id = $1 ORDER BY id DESC LIMIT 1', [runId]);
  const row = rows[0];
  return row ? { id: Number(row.id), passed: row.passed, startedAt: row.started_at, finishedAt: row.finished_at, reportPath: row.report_path } : null;
}

async function readMarker(legacyDir: string): Promise<RetiredMarker | null> {
  try {
    return JSON.parse(await readFile(join(legacyDir, RETIRED_MARKER), 'utf8')) as RetiredMarker;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`Cannot read the retirement marker ${join(legacyDir, RETIRED_MARKER)}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The gate: a completed run whose latest verification passed, verified since the run was (last) planned,
 * and whose files are unchanged. A run rolled back and migrated again under its id keeps its earlier
 * verifications (they are history): one of those says nothing of the rows there are now.
 */
async function checkGate(db: Pool, run: Run, legacyDir: string, manifest: Manifest): Promise<void> {
  const runId = run.id;
  if (run.status !== 'completed') {
    throw new GateError(`Run ${runId} is ${run.status}, not completed: decommission retires the legacy data of a completed, verified run; finish it (\`taskfleet resume ${runId}\`) and verify it first`);
  }
  const verification = await latestVerification(db, runId);
  if (!verification) throw new GateError(`Run ${runId} has not been verified: run \`taskfleet verify ${runId}\` first; decommission needs a passed verification`);
  if (verification.startedAt < run.createdAt) {
    throw new GateError(`The latest verification of run ${runId} (#${verification.id}, ${verification.finishedAt.toISOString()}) is of an earlier attempt: the run was planned again at ${run.createdAt.toISOString()}; run \`taskfleet verify ${runId}\` again`);
  }
  if (!verification.passed) {
    throw new GateError(`The latest verification of run ${runId} (#${verification.id}, ${verification.finishedAt.toISOString()}) failed`
      + `${verification.reportPath ? ` (see ${verification.reportPath})` : ''}: fix the differences and run \`taskfleet verify ${runId}\` again`);
  }
  // The archive must hold the data that was migrated and verified, not a later edit of it.
  const byName = new Map(manifest.files.map((f) => [f.name, f]));
  for (const file of await getRunFiles(db, runId)) {
    const now = byName.get(file.fileName);
    if (!now || now.sha256 !== file.sha256) {
      throw new GateError(`Legacy file ${join(legacyDir, file.fileName)} ${now ? 'changed' : 'disappeared'} since run ${runId} migrated it: `
        + 'the archive would not hold the migrated data; restore it, or migrate and verify again');
    }
  }
}

/** Every file read-only, every directory read-only and listable (deepest first). */
async function makeReadOnly(root: string, names: readonly string[]): Promise<void> {
  const dirs = new Set<string>();
  for (const name of names) {
    await chmod(join(root, ...name.split('/')), 0o444);
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await chmod(join(root, ...dir.split('/')), 0o555);
  await chmod(root, 0o555);
}

async function archiveAndRetire(db: Pool, run: Run, legacyDir: string, archiveDir: string, logger: Logger): Promise<DecommissionResult> {
  const runId = run.id;
  const marker = await readMarker(legacyDir);
  if (marker && marker.runId !== runId) {
    throw new GateError(`The legacy data in ${legacyDir} was already retired by run ${marker.runId} (archive ${marker.archive}); nothing to decommission for run ${runId}`);
  }
  const manifest = await buildManifest(legacyDir);
  await checkGate(db, run, legacyDir, manifest);

  const dir = resolve(archiveDir);
  await makeDirectory(dir).catch((err: unknown) => {
    throw new ConfigError(`Cannot create the archive directory ${dir} (--archive): ${(err as Error).message}`, { cause: err });
  });
  const prefix = `${runId}-legacy`;
  const archivePath = join(dir, `${prefix}.tar.gz`);
  const manifestPath = join(dir, `${prefix}.manifest.json`);
  const started = performance.now();
  await writeArchive(legacyDir, archivePath, prefix, manifest.files.map((f) => f.name));
  const archiveSha256 = await sha256OfFile(archivePath);
  const archiveBytes = (await stat(archivePath)).size;
  const createdAt = new Date();
  const archiveManifest: ArchiveManifest = {
    ...manifest, runId, legacyDir, prefix, createdAt: createdAt.toISOString(),
    archive: { file: basename(archivePath), bytes: archiveBytes, sha256: archiveSha256 },
  };
  await writeFile(manifestPath, `${JSON.stringify(archiveManifest, null, 2)}\n`);
  logger.info({ runId, archive: archivePath, files: manifest.files.length, ms: Math.round(performance.now() - started) }, `Archived ${legacyDir} into ${archivePath}`);

  // Read the archive back: every entry streamed out and hashed, compared with the manifest.
  const readBack = await readArchive(archivePath, prefix);
  const mismatches = compareManifestFiles(manifest.files, readBack.files);
  for (const path of readBack.other) mismatches.push({ name: path, problem: 'unexpected' });
  if (mismatches.length > 0) {
    throw new Error(`The archive ${archivePath} does not match the legacy data it was made from: ${describeMismatches(mismatches)}; the legacy data was NOT retired`);
  }
  if ((await sha256OfFile(archivePath)) !== archiveSha256) throw new Error(`The archive ${archivePath} changed while it was being checked; the legacy data was NOT retired`);

  // Retire in place. A previous attempt that stopped half-way may have left the directory read-only.
  await chmod(legacyDir, 0o755);
  const markerPath = join(legacyDir, RETIRED_MARKER);
  await rm(markerPath, { force: true });
  const retired: RetiredMarker = { runId, archive: archivePath, archiveSha256, manifest: manifestPath, manifestSha256: manifest.sha256, retiredAt: new Date().toISOString() };
  await writeFile(markerPath, `${JSON.stringify(retired, null, 2)}\n`);
  await makeReadOnly(legacyDir, [...manifest.files.map((f) => f.name), RETIRED_MARKER]);

  const decommissionedAt = await inTransaction(db, async (client) => {
    await client.query(
      `INSERT INTO ledger.decommissions (run_id, legacy_dir, archive_path, archive_sha256, manifest_sha256) VALUES ($1, $2, $3, $4, $5)`,
      [runId, legacyDir, archivePath, archiveSha256, manifest.sha256]);
    const { rows } = await client.query<{ at: Date }>('UPDATE ledger.runs SET decommissioned_at = now() WHERE id = $1 RETURNING decommissioned_at AS at', [runId]);
    return rows[0]!.at;
  });
  const bytes = manifest.files.reduce((n, f) => n + f.bytes, 0);
  logger.info({ runId, legacyDir, archive: archivePath }, `Legacy data of run ${runId} retired`);
  return { runId, alreadyDone: false, legacyDir, archivePath, manifestPath, archiveSha256, manifestSha256: manifest.sha256, files: manifest.files.length, bytes, decommissionedAt };
}

/** Archives and retires the legacy data of `runId`; refuses (GateError) unless its latest verification passed. */
export async function runDecommission(db: Pool, opts: DecommissionOptions): Promise<DecommissionResult> {
  const { runId } = opts;
  const run = await findRun(db, runId);
  if (run?.decommissionedAt) {
    // Already done: report what was done, change nothing (not even a phase event).
    const { rows: [done] } = await db.query<{ archive_path: string; archive_sha256: string; manifest_sha256: string; legacy_dir: string }>(
      'SELECT archive_path, archive_sha256, manifest_sha256, legacy_dir FROM ledger.decommissions WHERE run_id = $1 ORDER BY id DESC LIMIT 1', [runId]);
    const archivePath = done?.archive_path ?? '';
    return {
      runId, alreadyDone: true, legacyDir: done?.legacy_dir ?? run.legacyDir, archivePath, manifestPath: archivePath.replace(/\.tar\.gz$/, '.manifest.json'),
      archiveSha256: done?.archive_sha256 ?? '', manifestSha256: done?.manifest_sha256 ?? '', files: null, bytes: null, decommissionedAt: run.decommissionedAt,
    };
  }
  const { result } = await recordPhase(db, 'decommission', { runId }, async () => {
    if (!run) throw new GateError(`Run ${runId} is not in the ledger (see \`taskfleet status\`)`);
    if (run.status === 'rolled_back') throw new GateError(`Run ${runId} was rolled back: its rows are gone, there is nothing to decommission`);
    const legacyDir = resolve(run.legacyDir);
    const isDir = await stat(legacyDir).then((s) => s.isDirectory(), () => false);
    if (!isDir) throw new GateError(`The legacy data directory of run ${runId}, ${legacyDir}, is missing`);
    const outcome = await archiveAndRetire(db, run, legacyDir, opts.archiveDir, opts.logger);
    return {
      passed: true, result: outcome,
      summary: { archive: outcome.archivePath, manifest: outcome.manifestPath, archiveSha256: outcome.archiveSha256, manifestSha256: outcome.manifestSha256, files: outcome.files, bytes: outcome.bytes },
    };
  });
  return result;
}
