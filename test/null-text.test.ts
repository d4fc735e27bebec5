// A MySQL CSV export writes NULL as \N. Told so by the mapping (nullText), prepare, the workers and
// verify all read it as no value: the rows hold NULL, and verify passes. Not told, prepare warns.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { summaryOf } from './helpers/legacy-files.js';
import { useSmallDump } from './helpers/small-dump.js';

const FILES = {
  'projects.csv': 'id,name,owner,created_at\nP1,One,\\N,2024-01-05T10:00:00Z\n',
  'phases.csv': 'id,project_id,name,position\nF1,P1,Build,\\N\n',
  'tasks.csv': 'id,project_id,phase_id,title,description,assignee,tags,depends_on\nT1,P1,F1,first,\\N,\\N,\\N,\\N\nT2,P1,\\N,second,"kept \\N inside",ann,a;b,T1\n',
};

describe('a MySQL CSV export (\\N for NULL)', () => {
  const dump = useSmallDump('null_text', FILES);
  const mappingFile = join(dump.work, 'mysql.yaml');
  beforeAll(() => writeFileSync(mappingFile, "nullText: ['\\N']\n"));

  it('prepare warns when not told; told, the rows hold NULL and verify passes', async () => {
    const untold = await dump.prepare([], 'untold.json');
    // Not told, \N in phase position is no integer and in phase_id names no phase: rejects block it.
    expect(untold.code).toBe(1);
    const { rows: warned } = await dump.db.pool.query<{ field: string }>(
      `SELECT DISTINCT field FROM ledger.validation_findings WHERE class = 'null_marker_text' ORDER BY field`);
    expect(warned.map((w) => w.field)).toEqual(['owner']);

    const prepare = await dump.prepare(['--mapping', mappingFile]);
    expect(prepare.code, prepare.stderr).toBe(0);
    const migrate = await dump.migrate(['--mapping', mappingFile]);
    expect(migrate.code, migrate.stderr.slice(-3000)).toBe(0);
    const summary = summaryOf(migrate);
    expect(summary.kinds).toEqual([
      { kind: 'projects', legacy: 1, migrated: 1, rejected: 0 },
      { kind: 'phases', legacy: 1, migrated: 1, rejected: 0 },
      { kind: 'tasks', legacy: 2, migrated: 2, rejected: 0 },
      { kind: 'task_dependencies', legacy: 1, migrated: 1, rejected: 0 },
    ]);
    const { rows: tasks } = await dump.db.pool.query<{ legacy_id: string; phase_id: string | null; description: string | null; assignee: string | null; tags: string[] | null }>(
      'SELECT legacy_id, phase_id, description, assignee, tags FROM tms.tasks ORDER BY legacy_id');
    expect(tasks.map((t) => [t.legacy_id, t.phase_id === null, t.description, t.assignee, t.tags])).toEqual([
      ['T1', false, null, null, null],
      ['T2', true, 'kept \\N inside', 'ann', ['a', 'b']],
    ]);
    const { rows: [project] } = await dump.db.pool.query<{ owner: string | null }>('SELECT owner FROM tms.projects');
    expect(project?.owner).toBeNull();

    const verified = await dump.verify(summary.runId);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });
});
