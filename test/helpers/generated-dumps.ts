// Generated legacy dumps in a temp directory, with their own database and queue prefix, set up and
// removed around one test file (vitest's beforeAll/afterAll; the file's own hooks run after these).
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { generateLegacyData } from '../../src/generator/generate.js';
import type { GenerateOptions } from '../../src/generator/options.js';
import { createTestDatabase, deleteQueueKeys, uniquePrefix, type TestDatabase } from './services.js';

export interface GeneratedDumps {
  /** The temp directory: each dump is the directory of its name under it. */
  root: string;
  prefix: string;
  /** The file's database (set in beforeAll). */
  db: TestDatabase;
  /** The legacy directory of a dump. */
  dir(name: string): string;
}

/** `dumps`: dump name -> generator options. `label` names the temp directory, the database and the prefix. */
export function useGeneratedDumps(label: string, dumps: Record<string, Omit<GenerateOptions, 'out'>>): GeneratedDumps {
  const root = mkdtempSync(join(tmpdir(), `taskfleet-${label}-`));
  const fixture = { root, prefix: uniquePrefix(label), dir: (name: string) => join(root, name) } as GeneratedDumps;
  beforeAll(async () => {
    for (const [name, options] of Object.entries(dumps)) await generateLegacyData({ ...options, out: fixture.dir(name) });
    fixture.db = await createTestDatabase(label.replace(/-/g, '_'));
  }, 120_000);
  afterAll(async () => {
    await fixture.db?.drop().catch(() => undefined);
    await deleteQueueKeys(fixture.prefix);
    await rm(root, { recursive: true, force: true });
  });
  return fixture;
}
