// `mkdir -p` that fails instead of hanging. Node 20's recursive mkdir loops forever when the filesystem
// answers ENOENT for a path whose parent exists (`/proc/x`: the parent then answers EEXIST, and Node
// retries the child). Here each missing ancestor is created once, then the path itself is tried once more.
import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

const codeOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/** Creates `path` and any missing parents; an existing directory is fine, anything else in the way is an error. */
export async function makeDirectory(path: string): Promise<void> {
  const target = resolve(path);
  try {
    await mkdir(target);
  } catch (err) {
    if (codeOf(err) === 'EEXIST') {
      if ((await stat(target)).isDirectory()) return;
      throw err;
    }
    const parent = dirname(target);
    if (codeOf(err) !== 'ENOENT' || parent === target) throw err;
    await makeDirectory(parent);
    await mkdir(target).catch(async (again: unknown) => {
      if (codeOf(again) !== 'EEXIST' || !(await stat(target)).isDirectory()) throw again;
    });
  }
}

/** The synchronous `makeDirectory`, for start-up code that has no event loop work to overlap. */
export function makeDirectorySync(path: string): void {
  const target = resolve(path);
  try {
    mkdirSync(target);
  } catch (err) {
    if (codeOf(err) === 'EEXIST') {
      if (statSync(target).isDirectory()) return;
      throw err;
    }
    const parent = dirname(target);
    if (codeOf(err) !== 'ENOENT' || parent === target) throw err;
    makeDirectorySync(parent);
    try {
      mkdirSync(target);
    } catch (again) {
      if (codeOf(again) !== 'EEXIST' || !statSync(target).isDirectory()) throw again;
    }
  }
}
