// A minified .json export (JSON.stringify, Python's json.dump, json_agg: the whole array on one line)
// migrates. Records that share a line are numbered as though each began a line of its own, so each has
// a name of its own in rejects, claims and verification; chunks of two records start in the middle of
// the line, and the workers number them as the planner did. This file used to be refused (before, it
// collapsed five records into one reject, and a later duplicate overwrote the first).
import { describe, expect, it } from 'vitest';
import { summaryOf } from './helpers/legacy-files.js';
import { useSmallDump } from './helpers/small-dump.js';

const FILES = {
  'projects.json': '[{"id":"P-1","name":"One"},{"id":"P-2","name":"Two"}]',
  // The array opens on line 1, its records share line 2.
  'phases.json': '[\n{"id":"PH-1","project_id":"P-1","name":"Build"},{"id":"PH-2","project_id":"P-9","name":"dangling"}]\n',
  'tasks.json': `[${[
    '{"id":"T-1","project_id":"P-1","phase_id":"PH-1","title":"first","depends_on":["T-2"]}',
    '{"id":"T-2","project_id":"P-2","title":"second"}',
    '{"id":"T-1","project_id":"P-1","title":"a later duplicate"}',
    '{"id":"T-4","title":}',
    '42',
    '{"id":"T-5","project_id":"P-1","title":"depends on itself","depends_on":["T-5"]}',
  ].join(',')}]`,
  'task_dependencies.json': '[{"task_id":"T-5","depends_on_id":"T-2"},{"task_id":"T-9","depends_on_id":"T-1"}]',
};

const EXPECTED_REJECTS = [
  ['phases.json:3', 'project_id'],
  ['task_dependencies.json:2', 'task_id'],
  ['tasks.json:3', 'id'],
  ['tasks.json:4', null],
  ['tasks.json:5', null],
  ['tasks.json:6#depends_on[0]', 'depends_on'],
];

describe('a minified .json export', () => {
  const dump = useSmallDump('minified_json', FILES);

  it('migrates with a name per record, in chunks that start mid-line, and prepare and verify agree', async () => {
    const prepare = await dump.prepare(['--max-rejects', String(EXPECTED_REJECTS.length)]);
    expect(prepare.code, prepare.stderr).toBe(0);
    const { rows: shared } = await dump.db.pool.query<{ ref: string; reason: string }>(
      `SELECT ref, reason FROM ledger.validation_findings WHERE class = 'records_share_lines' ORDER BY ref`);
    expect(shared.map((f) => f.ref)).toEqual(['phases.json:3', 'projects.json:2', 'task_dependencies.json:2', 'tasks.json:2']);
    expect(shared[0]!.reason).toMatch(/^1 record of phases\.json starts on a line where an earlier record starts, the first on line 2 \(a minified array/);

    const migrate = await dump.migrate(['--chunk-size', '2']);
    expect(migrate.code, migrate.stderr.slice(-3000)).toBe(0);
    const summary = summaryOf(migrate);
    expect(summary).toMatchObject({ status: 'completed', balanced: true });
    expect(summary.kinds).toEqual([
      { kind: 'projects', legacy: 2, migrated: 2, rejected: 0 },
      { kind: 'phases', legacy: 2, migrated: 1, rejected: 1 },
      { kind: 'tasks', legacy: 6, migrated: 3, rejected: 3 },
      { kind: 'task_dependencies', legacy: 4, migrated: 2, rejected: 2 },
    ]);
    const { rows: chunks } = await dump.db.pool.query<{ line_start: number; line_end: number }>(
      `SELECT line_start, line_end FROM ledger.chunks WHERE run_id = $1 AND kind = 'tasks' ORDER BY chunk_no`, [summary.runId]);
    expect(chunks.map((c) => [c.line_start, c.line_end])).toEqual([[1, 2], [3, 4], [5, 6]]);

    const { rows: rejects } = await dump.db.pool.query<{ ref: string; field: string | null; reason: string }>('SELECT ref, field, reason FROM ledger.rejects ORDER BY ref');
    expect(rejects.map((r) => [r.ref, r.field])).toEqual(EXPECTED_REJECTS);
    expect(rejects.find((r) => r.ref === 'tasks.json:3')?.reason).toBe('duplicate id T-1 (first at tasks.json:1)');
    const { rows: findings } = await dump.db.pool.query<{ ref: string }>(`SELECT ref FROM ledger.validation_findings WHERE severity = 'error' ORDER BY ref`);
    expect(findings.map((f) => f.ref)).toEqual(EXPECTED_REJECTS.map(([ref]) => ref));

    // The first declaration wins, with the number it goes by.
    const { rows: tasks } = await dump.db.pool.query<{ legacy_id: string; title: string; legacy_line: number }>(
      'SELECT legacy_id, title, legacy_line FROM tms.tasks ORDER BY legacy_id');
    expect(tasks.map((t) => [t.legacy_id, t.title, t.legacy_line])).toEqual([['T-1', 'first', 1], ['T-2', 'second', 2], ['T-5', 'depends on itself', 6]]);
    const { rows: edges } = await dump.db.pool.query<{ edge: string }>(
      `SELECT a.legacy_id || '->' || b.legacy_id AS edge FROM tms.task_dependencies d JOIN tms.tasks a ON a.id = d.task_id JOIN tms.tasks b ON b.id = d.depends_on_id ORDER BY 1`);
    expect(edges.map((e) => e.edge)).toEqual(['T-1->T-2', 'T-5->T-2']);

    const verified = await dump.verify(summary.runId);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });
});
