// Records a real export can hold that Postgres or JavaScript cannot take as they are: a NUL in an id,
// a dependency or a field name; ids beyond 2^53 (JSON readers round them: two records would merge, a
// child would find the wrong parent); year 0000; a value naming an Object.prototype member; a number
// beyond a double; a "__proto__" field; a decimal with more digits than a double holds (it lands exactly). Each used to fail its whole chunk (the run failed after every
// retry) or to be changed silently. Now each bad one is rejected alone, naming its field; prepare
// predicts the same rejects; the good ones migrate; verify passes.
import { describe, expect, it } from 'vitest';
import { summaryOf } from './helpers/legacy-files.js';
import { useSmallDump } from './helpers/small-dump.js';

// Written as raw lines: JSON.stringify cannot write 1e400 or an integer beyond 2^53.
const FILES = {
  'projects.jsonl': [
    '{"id":"P-1","name":"One"}',
    '{"id":"P-2\\u0000","name":"a NUL in the id"}',
    '{"id":9007199254740993,"name":"read as 2^53"}',
    '{"id":9007199254740992,"name":"2^53"}',
  ],
  'phases.jsonl': [
    '{"id":"PH-1","project_id":"P-1","name":"Build"}',
    '{"id":"PH-2","project_id":"P-1","name":"Year zero","starts_on":"0000-01-01"}',
  ],
  'tasks.jsonl': [
    '{"id":"T-1","project_id":"P-1","phase_id":"PH-1","title":"fine"}',
    '{"id":"T-2","project_id":"P-1","title":"a NUL in a dependency","depends_on":["T-1\\u0000"]}',
    '{"id":"T-3","project_id":"P-1","title":"a NUL in a field name","old\\u0000name":"x"}',
    '{"id":"T-4","project_id":"P-1","title":"a prototype member as a value","priority":"constructor"}',
    '{"id":"T-5","project_id":"P-1","title":"a number beyond a double","legacy_cost":1e400}',
    '{"id":"T-6","project_id":"P-1","title":"a __proto__ field is kept","__proto__":{"flag":true},"depends_on":["T-1"]}',
    '{"id":"T-7","project_id":"P-1","title":"a dependency id beyond 2^53","depends_on":[9007199254740993]}',
    '{"id":"T-8","project_id":"P-1","title":"year zero","due_on":"0000-12-31"}',
    '{"id":"T-9","project_id":"P-1","title":"more digits than a double holds","estimate_hours":123456789.123456789,"legacy_rate":0.1234567890123456789,"jira":{"ids":[1234567890123456789]}}',
  ],
};

const EXPECTED_REJECTS = [
  ['phases.jsonl:2', 'starts_on'],
  ['projects.jsonl:2', 'id'],
  ['projects.jsonl:3', 'id'],
  ['projects.jsonl:4', 'id'],
  ['tasks.jsonl:2', 'depends_on'],
  ['tasks.jsonl:2#depends_on[0]', 'depends_on'],
  ['tasks.jsonl:3', 'old\\u0000name'],
  ['tasks.jsonl:4', 'priority'],
  ['tasks.jsonl:5', 'legacy_cost'],
  ['tasks.jsonl:7', 'depends_on'],
  ['tasks.jsonl:7#depends_on[0]', 'depends_on'],
  ['tasks.jsonl:8', 'due_on'],
];

describe('hostile legacy records', () => {
  const dump = useSmallDump('hostile_records', Object.fromEntries(Object.entries(FILES).map(([name, lines]) => [name, `${lines.join('\n')}\n`])));

  it('rejects each alone with its field, migrates the rest, and prepare and verify agree', async () => {
    const prepare = await dump.prepare(['--max-rejects', String(EXPECTED_REJECTS.length)]);
    expect(prepare.code, prepare.stderr).toBe(0);
    const migrate = await dump.migrate();
    expect(migrate.code, migrate.stderr.slice(-3000)).toBe(0);
    const summary = summaryOf(migrate);
    expect(summary).toMatchObject({ status: 'completed', balanced: true });
    expect(summary.kinds).toEqual([
      { kind: 'projects', legacy: 4, migrated: 1, rejected: 3 },
      { kind: 'phases', legacy: 2, migrated: 1, rejected: 1 },
      { kind: 'tasks', legacy: 9, migrated: 3, rejected: 6 },
      { kind: 'task_dependencies', legacy: 3, migrated: 1, rejected: 2 },
    ]);

    const { rows: rejects } = await dump.db.pool.query<{ ref: string; field: string; legacy_id: string | null }>(
      'SELECT ref, field, legacy_id FROM ledger.rejects ORDER BY ref');
    expect(rejects.map((r) => [r.ref, r.field])).toEqual(EXPECTED_REJECTS);
    // A NUL is shown, not stored; the rounded id is reported as read.
    expect(rejects.find((r) => r.ref === 'projects.jsonl:2')?.legacy_id).toBe('P-2\\u0000');
    expect(rejects.find((r) => r.ref === 'projects.jsonl:3')?.legacy_id).toBe('9007199254740992');
    const { rows: findings } = await dump.db.pool.query<{ ref: string }>(`SELECT ref FROM ledger.validation_findings WHERE severity = 'error' ORDER BY ref`);
    expect(findings.map((f) => f.ref)).toEqual(EXPECTED_REJECTS.map(([ref]) => ref));

    const { rows: tasks } = await dump.db.pool.query<{ legacy_id: string; legacy_extra: unknown }>('SELECT legacy_id, legacy_extra FROM tms.tasks ORDER BY legacy_id');
    expect(tasks.map((t) => t.legacy_id)).toEqual(['T-1', 'T-6', 'T-9']);
    expect(JSON.stringify(tasks[1]!.legacy_extra)).toBe('{"__proto__":{"flag":true}}');
    // A number with more digits than a double holds lands exactly (JSON.parse alone gave 123456789.12345679),
    // in legacy_extra too, nested or not, still a JSON number (docs/legacy-format.md).
    const { rows: [t9] } = await dump.db.pool.query<{ hours: string; extra: string }>(`SELECT estimate_hours::text AS hours, legacy_extra::text AS extra FROM tms.tasks WHERE legacy_id = 'T-9'`);
    expect(t9).toEqual({ hours: '123456789.123456789', extra: '{"jira": {"ids": [1234567890123456789]}, "legacy_rate": 0.1234567890123456789}' });

    const verified = await dump.verify(summary.runId);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });
});
