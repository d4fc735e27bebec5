// A SHA-256 manifest of a directory's files: what prepare's backup, decommission's archive and
// rollback's restore are checked against, and what migrate's gate matches (the manifest hash).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';

/** Written into a legacy directory by decommission; never part of the data or its manifest. */
export const RETIRED_MARKER = 'RETIRED.taskfleet.json';

export interface ManifestFile {
  /** Path relative to the directory, with `/` separators. */
  name: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  version: 1;
  files: ManifestFile[];
  /** SHA-256 of the canonical JSON of `files` (sorted by name): one value names the whole data set. */
  sha256: string;
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function manifestHash(files: readonly ManifestFile[]): string {
  const canonical = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 }));
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

async function listFiles(root: string, dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await listFiles(root, path, out);
    else if (entry.isFile() && !(dir === root && entry.name === RETIRED_MARKER)) out.push(relative(root, path).split(sep).join('/'));
  }
}

/** Hashes every regular file under `dir` (recursively, the retirement marker excepted). */
export async function buildManifest(dir: string): Promise<Manifest> {
  const root = resolve(dir);
  const names: string[] = [];
  await listFiles(root, root, names);
  names.sort();
  const files: ManifestFile[] = [];
  for (const name of names) {
    const path = join(root, ...name.split('/'));
    files.push({ name, bytes: (await stat(path)).size, sha256: await sha256OfFile(path) });
  }
  return { version: 1, files, sha256: manifestHash(files) };
}

export interface ManifestMismatch {
  name: string;
  problem: 'missing' | 'unexpected' | 'size differs' | 'sha256 differs';
  expected?: string;
  actual?: string;
}

/** Every way `actual` differs from `expected` (empty: they match). */
export function compareManifestFiles(expected: readonly ManifestFile[], actual: readonly ManifestFile[]): ManifestMismatch[] {
  const byName = new Map(actual.map((f) => [f.name, f]));
  const mismatches: ManifestMismatch[] = [];
  for (const e of expected) {
    const found = byName.get(e.name);
    byName.delete(e.name);
    if (!found) mismatches.push({ name: e.name, problem: 'missing' });
    else if (found.bytes !== e.bytes) mismatches.push({ name: e.name, problem: 'size differs', expected: String(e.bytes), actual: String(found.bytes) });
    else if (found.sha256 !== e.sha256) mismatches.push({ name: e.name, problem: 'sha256 differs', expected: e.sha256, actual: found.sha256 });
  }
  for (const name of byName.keys()) mismatches.push({ name, problem: 'unexpected' });
  return mismatches;
}

/** Re-reads `dir` and lists every way it differs from `manifest` (empty: it matches). */
export async function checkAgainstManifest(dir: string, manifest: Manifest): Promise<ManifestMismatch[]> {
  return compareManifestFiles(manifest.files, (await buildManifest(dir)).files);
}

export function describeMismatches(mismatches: readonly ManifestMismatch[]): string {
  return mismatches.map((m) => `${m.name}: ${m.problem}${m.expected ? ` (expected ${m.expected}, found ${m.actual ?? '-'})` : ''}`).join('; ');
}
