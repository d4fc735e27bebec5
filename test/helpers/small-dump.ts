// A small hand-written legacy dump in a temp directory, with its own database and queue prefix, set up
// and removed around one test file (vitest's beforeAll/afterAll).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, deleteQueueKeys, uniquePrefix, type TestDatabase } from './services.js';

export interface SmallDump {
  /** The temp directory: the legacy directory, backups and reports go under it. */
  work: string;
  /** The legacy data directory (the files as given). */
  dir: string;
  prefix: string;
  /** The file's database (set in beforeAll). */
  db: TestDatabase;
}

/** `files`: file name -> exact content. `label` names the database and the queue prefix. */
export function useSmallDump(label: string, files: Record<string, string>): SmallDump {
  const work = mkdtempSync(join(tmpdir(), `tf-${label}-`));
  const dump = { work, dir: join(work, 'legacy'), prefix: uniquePrefix(label) } as SmallDump;
  beforeAll(async () => {
    dump.db = await createTestDatabase(label);
    mkdirSync(dump.dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dump.dir, name), text);
  });
  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    await dump.db?.drop();
    await deleteQueueKeys(dump.prefix);
  });
  return dump;
}
