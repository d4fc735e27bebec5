// `generate --out` replaces the legacy files of its directory. A directory the generator wrote (it holds
// the generator's manifest) is fair game; one holding legacy files without it may be a real dump, and
// writing over it would destroy the data this tool exists to move.
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { LEGACY_FORMATS, LEGACY_KINDS } from '../legacy/kinds.js';
import { MANIFEST_FILE } from './generate.js';

/** Throws a ConfigError naming the files when `dir` holds legacy data the generator did not write. */
export async function refuseToOverwriteLegacyData(dir: string): Promise<void> {
  const entries = new Set(await readdir(dir));
  if (entries.has(MANIFEST_FILE)) return;
  const legacy = LEGACY_KINDS.flatMap((kind) => LEGACY_FORMATS.map((format) => `${kind}.${format}`)).filter((name) => entries.has(name));
  if (legacy.length === 0) return;
  throw new ConfigError(
    `${join(resolve(dir), legacy[0] ?? '')}${legacy.length > 1 ? ` (and ${legacy.slice(1).join(', ')})` : ''} was not written by taskfleet generate `
    + `(no ${MANIFEST_FILE}): refusing to overwrite what may be a real legacy dump. Choose another --out, or pass --force.`,
  );
}
