// A record rejected for another reason holds no id: a later valid record with the same id migrates,
// whether the two share a chunk or not — and prepare predicts exactly that.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionArgs, runCli } from './helpers/cli.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const jsonl = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;

describe('a duplicate id after a record rejected for a dangling parent', () => {
  let db: TestDatabase;
  const work = mkdtempSync(join(tmpdir(), 'tf-dup-'));
  const dir = join(work, 'legacy');
  const prefix = uniquePrefix('dup');

  beforeAll(async () => {
    db = await createTestDatabase('dup_after_reject');
    mkdirSync(dir);
    writeFileSync(join(dir, 'projects.jsonl'), jsonl([{ id: 'P-1', name: 'One', status: 'active' }]));
    writeFileSync(join(dir, 'phases.jsonl'), jsonl([{ id: 'PH-1', project_id: 'P-1', name: 'Build', status: 'active' }]));
    writeFileSync(join(dir, 'tasks.jsonl'), jsonl([
      { id: 'T-1', project_id: 'P-404', title: 'dangling first', status: 'todo', priority: 'low' },
      { id: 'T-1', project_id: 'P-1', phase_id: 'PH-1', title: 'valid second', status: 'todo', priority: 'low' },
      { id: 'T-2', project_id: 'P-1', title: 'plain', status: 'done', priority: 'high' },
    ]));
  });

  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    await db.drop();
    await deleteQueueKeys(prefix);
  });

  it('migrates the later valid record (same chunk) and rejects only the dangling one; prepare agrees', async () => {
    const prepare = await runCli(['prepare', '--legacy-data', dir, '--backup', join(work, 'backup'), '--validation-report', join(work, 'report.json'), '--max-rejects', '1', '--json', '--new-data', db.url]);
    expect(prepare.code, prepare.stderr).toBe(0);
    const r = await runCli(['migrate', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { rows: tasks } = await db.pool.query<{ legacy_id: string; title: string; legacy_line: number }>('SELECT legacy_id, title, legacy_line FROM tms.tasks ORDER BY legacy_id');
    expect(tasks).toEqual([{ legacy_id: 'T-1', title: 'valid second', legacy_line: 2 }, { legacy_id: 'T-2', title: 'plain', legacy_line: 3 }]);
    const { rows: rejects } = await db.pool.query<{ ref: string; field: string | null }>('SELECT ref, field FROM ledger.rejects ORDER BY ref');
    expect(rejects).toEqual([{ ref: 'tasks.jsonl:1', field: 'project_id' }]);
    const { rows: findings } = await db.pool.query<{ ref: string }>(`SELECT ref FROM ledger.validation_findings WHERE severity = 'error' ORDER BY ref`);
    expect(findings.map((f) => f.ref)).toEqual(['tasks.jsonl:1']);
  });
});
