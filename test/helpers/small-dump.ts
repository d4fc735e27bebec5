// A small hand-written legacy dump in a temp directory, with its own database and queue prefix, set up
// and removed around one test file (vitest's beforeAll/afterAll).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { connectionArgs, runCli, type CliResult } from './cli.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './services.js';

export interface SmallDump {
  /** The temp directory: the legacy directory, backups and reports go under it. */
  work: string;
  /** The legacy data directory (the files as given). */
  dir: string;
  prefix: string;
  /** The file's database (set in beforeAll). */
  db: TestDatabase;
  /** `taskfleet prepare --json` of the dump (backup and `report` under `work`), plus `args`. */
  prepare(args?: readonly string[], report?: string): Promise<CliResult>;
  /** `taskfleet migrate --json --workers 1` of the dump on its database and queue prefix, plus `args`. */
  migrate(args?: readonly string[]): Promise<CliResult>;
  /** `taskfleet verify RUN` on the dump's database (report under `work`). */
  verify(runId: string): Promise<CliResult>;
}

/** `files`: file name -> exact content. `label` names the database and the queue prefix. */
export function useSmallDump(label: string, files: Record<string, string>): SmallDump {
  const work = mkdtempSync(join(tmpdir(), `tf-${label}-`));
  const dir = join(work, 'legacy');
  const prefix = uniquePrefix(label);
  const dump = {
    work, dir, prefix,
    prepare: (args = [], report = 'report.json') => runCli(['prepare', '--legacy-data', dir, ...args, '--backup', join(work, 'backup'),
      '--validation-report', join(work, report), '--json', '--new-data', dump.db.url]),
    migrate: (args = []) => runCli(['migrate', '--legacy-data', dir, ...args, ...connectionArgs(dump.db, prefix, REDIS_URL), '--workers', '1', '--json']),
    verify: (runId: string) => runCli(['verify', runId, '--new-data', dump.db.url, '--verification-report', join(work, 'verification.json')]),
  } as SmallDump;
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
