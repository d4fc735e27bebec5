// `migrate` without workers (the default --workers 0) says so instead of sitting at 0 without a word,
// and the run completes once a worker starts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli, startCli, type RunningCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

describe('migrate with no worker running', () => {
  let db: TestDatabase;
  const work = mkdtempSync(join(tmpdir(), 'tf-no-worker-'));
  const dir = join(work, 'legacy');
  const prefix = uniquePrefix('no_worker');
  const started: RunningCli[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('no_worker');
    await generateLegacyData({ out: dir, format: 'jsonl', projects: 2, phasesPerProject: 2, tasks: 50, seed: 5 });
  });

  afterAll(async () => {
    for (const cli of started) cli.child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    await db.drop();
    await deleteQueueKeys(prefix);
  });

  it('warns, naming the queue and the way out, and completes once a worker starts', async () => {
    const migrate = startCli(['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--json'], { timeoutMs: 120_000 });
    started.push(migrate);
    await waitFor(() => Promise.resolve(migrate.output().stderr.includes('No worker has taken a job')), 'the no-worker warning', 60_000);
    const warning = migrate.output().stderr.split('\n').find((l) => l.includes('No worker has taken a job'))!;
    expect(warning).toMatch(/from queue migrate for \d+ s \(1 waiting, none active\)/);
    expect(warning).toContain('`taskfleet worker`');
    expect(warning).toContain('--workers N');

    const worker = startCli(['worker', ...connectionArgs(db, prefix, REDIS_URL)]);
    started.push(worker);
    const result = await migrate.result;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stderr.split('\n').filter((l) => l.includes('No worker has taken a job'))).toHaveLength(1);
    const summary = await runCli(['status', '--new-data', db.url]);
    expect(summary.stdout).toMatch(/completed/);
  }, 120_000);
});
