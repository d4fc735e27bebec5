// The taskfleet package directory, found from this module's location, so shipped files (config/,
// db/) resolve the same whether the code runs compiled from dist/ or as TypeScript under vitest.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'taskfleet') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('Cannot find the taskfleet package directory');
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot();
