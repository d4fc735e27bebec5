// Finds the legacy files of a data directory and checks that each one can be read.
import { constants } from 'node:fs';
import { access, readdir, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LegacyDataError } from './errors.js';
import { LEGACY_FORMATS, LEGACY_KINDS, REQUIRED_KINDS, type LegacyFormat, type LegacyKind } from './kinds.js';

/**
 * How the ledger names a legacy directory: its real path, so the same directory reached through a
 * symbolic link is the same directory (one run of it at a time). As given, resolved, if it cannot be read.
 */
export async function legacyDirectoryPath(dir: string): Promise<string> {
  return realpath(resolve(dir)).catch(() => resolve(dir));
}

export interface LegacyFile {
  kind: LegacyKind;
  fileName: string;
  path: string;
  format: LegacyFormat;
  bytes: number;
  mtimeMs: number;
}

/** `asPlanned`: verify's look at a planned run's directory, which skips the refusals added since (see SplitterStart). */
export async function discoverLegacyFiles(dir: string, opts: { asPlanned?: boolean } = {}): Promise<LegacyFile[]> {
  const root = resolve(dir);
  let entries: string[];
  try {
    const info = await stat(root);
    if (!info.isDirectory()) throw new LegacyDataError(`Legacy data path ${root} is not a directory`);
    entries = await readdir(root);
  } catch (err) {
    if (err instanceof LegacyDataError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LegacyDataError(`Legacy data directory ${root} does not exist`);
    throw new LegacyDataError(`Cannot read legacy data directory ${root}: ${(err as Error).message}`, { cause: err });
  }
  const files: LegacyFile[] = [];
  for (const kind of LEGACY_KINDS) {
    const candidates = LEGACY_FORMATS.filter((format) => entries.includes(`${kind}.${format}`));
    if (candidates.length > 1) {
      throw new LegacyDataError(`Legacy data directory ${root} has ${candidates.map((f) => `${kind}.${f}`).join(' and ')}: keep one file per kind`);
    }
    const format = candidates[0];
    // Names are case-sensitive: a TASKS.CSV would otherwise be "missing", or (an optional kind) skipped.
    const otherCase = format || opts.asPlanned ? undefined : entries.find((e) => LEGACY_FORMATS.some((f) => e.toLowerCase() === `${kind}.${f}`));
    if (otherCase) {
      throw new LegacyDataError(`Legacy data directory ${root} has ${otherCase}: file names are case-sensitive, rename it to ${otherCase.toLowerCase()}`);
    }
    if (!format) {
      if (REQUIRED_KINDS.includes(kind)) {
        throw new LegacyDataError(`Legacy data directory ${root} has no ${kind} file (expected ${kind}.json, ${kind}.jsonl or ${kind}.csv)`);
      }
      continue;
    }
    const fileName = `${kind}.${format}`;
    const path = join(root, fileName);
    const info = await stat(path).catch((err: unknown) => {
      throw new LegacyDataError(`Legacy file ${path} cannot be read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it is a broken link or vanished' : (err as Error).message}`, { cause: err });
    });
    if (!info.isFile()) throw new LegacyDataError(`Legacy file ${path} is not a regular file`);
    try {
      await access(path, constants.R_OK);
    } catch (err) {
      throw new LegacyDataError(`Legacy file ${path} is not readable: ${(err as Error).message}`, { cause: err });
    }
    files.push({ kind, fileName, path, format, bytes: info.size, mtimeMs: info.mtimeMs });
  }
  return files;
}
