// makeDirectory is `mkdir -p` that fails instead of hanging: Node 20's own recursive mkdir loops forever
// on a path under /proc (ENOENT for the path, EEXIST for its parent), so `generate --out /proc/x` hung.
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDirectory, makeDirectorySync } from '../../src/make-directory.js';

let root: string;
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'taskfleet-mkdir-')); });
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

const variants = [
  ['makeDirectory', (p: string) => makeDirectory(p)],
  ['makeDirectorySync', (p: string) => Promise.resolve().then(() => makeDirectorySync(p))],
] as const;

describe.each(variants)('%s', (name, make) => {
  it('creates every missing parent, and accepts a directory that exists', async () => {
    const path = join(root, name, 'a', 'b', 'c');
    await make(path);
    expect(statSync(path).isDirectory()).toBe(true);
    await make(path);
    await make(join(root, name, 'a'));
    expect(statSync(path).isDirectory()).toBe(true);
  });

  it('refuses a file in the way, at the path or above it', async () => {
    const file = join(root, `${name}-file`);
    await writeFile(file, 'x');
    await expect(make(file)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(make(join(file, 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  it.runIf(existsSync('/proc/self'))('fails with ENOENT under /proc instead of looping', async () => {
    await expect(make('/proc/taskfleet-no-such-dir/x')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
