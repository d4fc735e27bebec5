// Tar.gz archives of a legacy data directory for decommission: written under a temporary name and
// renamed when complete, then read back entry by entry (streamed, never unpacked to disk) so every
// file's SHA-256 can be compared with the manifest taken from the directory itself.
import { createHash } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { create, list, type ReadEntry } from 'tar';
import type { ManifestFile } from './manifest.js';

/**
 * Archives `files` (paths relative to `sourceDir`, `/`-separated) into a gzipped tar at `archivePath`,
 * each under `prefix/` so that unpacking gives one directory. Ownership and device metadata are left
 * out (portable): the archive describes the data, not the machine.
 */
export async function writeArchive(sourceDir: string, archivePath: string, prefix: string, files: readonly string[]): Promise<void> {
  const partial = `${archivePath}.partial`;
  await rm(partial, { force: true });
  try {
    await create({ file: partial, cwd: sourceDir, gzip: true, portable: true, prefix, strict: true, noDirRecurse: true }, [...files]);
    await rename(partial, archivePath);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

/** Every regular file in the archive with its size and SHA-256, names relative to `prefix/`. */
export async function readArchive(archivePath: string, prefix: string): Promise<{ files: ManifestFile[]; other: string[] }> {
  const files: ManifestFile[] = [];
  const other: string[] = [];
  const pending: Promise<void>[] = [];
  const lead = `${prefix}/`;
  await list({
    file: archivePath,
    strict: true,
    // Legacy exports compress very well (repeated keys); this is our own archive, not untrusted input.
    maxDecompressionRatio: Number.POSITIVE_INFINITY,
    onReadEntry: (entry: ReadEntry) => {
      const path = entry.path;
      if (entry.type !== 'File' || !path.startsWith(lead)) {
        other.push(path);
        return;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      entry.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length; });
      pending.push(new Promise((resolveEntry, rejectEntry) => {
        entry.on('end', () => { files.push({ name: path.slice(lead.length), bytes, sha256: hash.digest('hex') }); resolveEntry(); });
        entry.on('error', rejectEntry);
      }));
    },
  });
  await Promise.all(pending);
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { files, other };
}
