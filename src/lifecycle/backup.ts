// Prepare's backup of the legacy data: every file of the legacy directory copied into
// BACKUP_ROOT/<first 16 hex digits of the manifest hash>/, with the manifest beside the copies
// (manifest.json), then the copy re-read and hashed against the manifest. The same data always lands in
// the same directory: running prepare again reuses a backup that still matches and repairs one that
// does not (files rewritten, strays removed). Rollback restores from it (verifyBackup first).
import { copyFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { LegacyDataError } from '../legacy/errors.js';
import { checkAgainstManifest, type Manifest, type ManifestMismatch } from './manifest.js';
import { makeDirectory } from '../make-directory.js';

/** The manifest file in a backup directory (never one of the backed-up files). */
export const BACKUP_MANIFEST_FILE = 'manifest.json';

export interface BackupResult {
  /** The backup directory: the copies plus manifest.json. */
  dir: string;
  manifestPath: string;
  /** true when an existing backup already matched and nothing was copied. */
  reused: boolean;
  files: number;
  bytes: number;
  /** How the re-read copy differs from the manifest (empty: it matches). */
  mismatches: ManifestMismatch[];
}

/** Where the backup of the data with this manifest goes. */
export function backupDirFor(backupRoot: string, manifest: Manifest): string {
  return join(resolve(backupRoot), manifest.sha256.slice(0, 16));
}

/** Re-reads a backup directory and lists how it differs from the manifest (its own manifest.json aside). */
export async function verifyBackup(dir: string, manifest: Manifest): Promise<ManifestMismatch[]> {
  const mismatches = await checkAgainstManifest(dir, manifest);
  return mismatches.filter((m) => !(m.name === BACKUP_MANIFEST_FILE && m.problem === 'unexpected'));
}

export async function backupLegacyData(legacyDir: string, backupRoot: string, manifest: Manifest): Promise<BackupResult> {
  const source = resolve(legacyDir);
  const dir = backupDirFor(backupRoot, manifest);
  const manifestPath = join(dir, BACKUP_MANIFEST_FILE);
  if (manifest.files.some((f) => f.name === BACKUP_MANIFEST_FILE)) {
    throw new LegacyDataError(`Legacy data directory ${source} holds a ${BACKUP_MANIFEST_FILE}, the name the backup keeps its manifest under: rename that file`);
  }
  const bytes = manifest.files.reduce((n, f) => n + f.bytes, 0);
  const result = { dir, manifestPath, files: manifest.files.length, bytes };

  const existing = await verifyBackup(dir, manifest).catch(() => null);
  if (existing !== null && existing.length === 0) {
    await writeManifest(manifestPath, manifest, source);
    return { ...result, reused: true, mismatches: [] };
  }

  await makeDirectory(dir);
  const wanted = new Set(manifest.files.map((f) => f.name));
  await removeStrays(dir, dir, wanted);
  for (const file of manifest.files) {
    const target = join(dir, ...file.name.split('/'));
    await makeDirectory(dirname(target));
    // A copy interrupted half-way never sits under the real name.
    const partial = `${target}.partial-${process.pid}`;
    await copyFile(join(source, ...file.name.split('/')), partial);
    await rename(partial, target);
  }
  await writeManifest(manifestPath, manifest, source);
  // The proof: read the copy back and hash it, file by file.
  return { ...result, reused: false, mismatches: await verifyBackup(dir, manifest) };
}

async function writeManifest(path: string, manifest: Manifest, legacyDir: string): Promise<void> {
  await writeFile(path, `${JSON.stringify({ ...manifest, legacyDir }, null, 2)}\n`);
}

/** Removes files of an earlier, different backup in this directory (they would not match the manifest). */
async function removeStrays(root: string, dir: string, wanted: ReadonlySet<string>): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await removeStrays(root, path, wanted);
      continue;
    }
    const name = relative(root, path).split(sep).join('/');
    if (name !== BACKUP_MANIFEST_FILE && !wanted.has(name)) await rm(path, { force: true });
  }
}
