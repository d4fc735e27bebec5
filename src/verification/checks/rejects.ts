// Check: the records the migration rejected are the right ones.
// - With a prepare: ledger.rejects of the run equals prepare's blocking findings (kind, file:line).
// - Always: each reject names a real legacy record (its file:line exists and holds that legacy id),
//   and no record is both rejected and migrated (a row that came from that very line).
import type { PoolClient } from '../../store/pool.js';
import { collectMismatches, runCheck, type CheckResult, type MismatchSample } from '../check-result.js';
import { EXPECTED_EDGES, EXPECTED_TABLE } from '../expected-rows.js';
import type { RejectSource } from '../reject-classification.js';
import { migratedByRun } from '../scope.js';

interface Row { problem: string; kind: string; ref: string; legacy_id: string | null; detail: string | null }

// Every legacy record verify read, by kind and file:line.
const LEGACY_RECORDS = `(
  SELECT 'projects' AS kind, ref, legacy_id FROM ${EXPECTED_TABLE.projects}
  UNION ALL SELECT 'phases', ref, legacy_id FROM ${EXPECTED_TABLE.phases}
  UNION ALL SELECT 'tasks', ref, legacy_id FROM ${EXPECTED_TABLE.tasks}
  UNION ALL SELECT 'task_dependencies', ref, legacy_id FROM ${EXPECTED_EDGES})`;

const NOT_A_RECORD = `
  SELECT CASE WHEN l.ref IS NULL THEN 'names no legacy record' ELSE 'names another legacy id than the record at its file:line' END AS problem,
    r.kind, r.ref, r.legacy_id, CASE WHEN l.ref IS NULL THEN r.reason ELSE 'the record holds ' || l.legacy_id END AS detail
  FROM ledger.rejects r LEFT JOIN ${LEGACY_RECORDS} l ON l.kind = r.kind AND l.ref = r.ref
  WHERE r.run_id = $1 AND (l.ref IS NULL OR (r.legacy_id IS NOT NULL AND l.legacy_id IS NOT NULL AND r.legacy_id <> l.legacy_id))`;

// A rejected record whose row is there all the same: the row's id is the record's, from the same line.
const entityBothWays = (kind: keyof typeof EXPECTED_TABLE) => `
  SELECT 'was rejected and migrated' AS problem, '${kind}' AS kind, e.ref, e.legacy_id, 'row ' || a.id::text AS detail
  FROM ${EXPECTED_TABLE[kind]} e JOIN tms.${kind} a ON a.id = e.id AND a.legacy_line = e.legacy_line
  WHERE e.rejected AND ${migratedByRun('a')}`;
const BOTH_WAYS = `${entityBothWays('projects')} UNION ALL ${entityBothWays('phases')} UNION ALL ${entityBothWays('tasks')}
  UNION ALL SELECT 'was rejected and migrated', 'task_dependencies', e.ref, e.legacy_id, 'edge ' || a.legacy_id
  FROM ${EXPECTED_EDGES} e JOIN tms.task_dependencies a ON a.task_id = e.task_id AND a.depends_on_id = e.depends_on_id AND a.legacy_ref = e.ref
  WHERE e.rejected AND ${migratedByRun('a')}`;

// $2: the preparation whose findings are the independent classification.
const FINDINGS = `SELECT * FROM ledger.validation_findings WHERE preparation_id = $2 AND severity = 'error'`;
const VERSUS_PREPARE = `
  SELECT 'was rejected by the migration but prepare found nothing wrong with it' AS problem, r.kind, r.ref, r.legacy_id, r.reason AS detail
  FROM ledger.rejects r WHERE r.run_id = $1 AND NOT EXISTS (SELECT 1 FROM (${FINDINGS}) f WHERE f.kind = r.kind AND f.ref = r.ref)
  UNION ALL
  SELECT 'was found bad by prepare but not rejected by the migration', f.kind, f.ref, f.legacy_id, f.reason
  FROM (${FINDINGS}) f WHERE NOT EXISTS (SELECT 1 FROM ledger.rejects r WHERE r.run_id = $1 AND r.kind = f.kind AND r.ref = f.ref)`;

export function checkRejects(client: PoolClient, runId: string, source: RejectSource, maxSamples: number): Promise<CheckResult> {
  return runCheck('rejects', `the rejected records are the right ones (expected rejects: ${source.description})`, async () => {
    const { rows: [totals] } = await client.query<{ rejects: string; expected: string }>(
      `SELECT (SELECT count(*) FROM ledger.rejects WHERE run_id = $1) AS rejects, (SELECT count(*) FROM verify_rejects) AS expected`, [runId]);
    const sql = source.kind === 'preparation' ? `${VERSUS_PREPARE} UNION ALL ${NOT_A_RECORD} UNION ALL ${BOTH_WAYS}` : `${NOT_A_RECORD} UNION ALL ${BOTH_WAYS}`;
    const params = source.kind === 'preparation' ? [runId, source.preparationId] : [runId];
    const { count, rows } = await collectMismatches<Row>(client, sql, params, maxSamples);
    const samples: MismatchSample[] = rows.map((r) => ({
      problem: `${r.kind} record at ${r.ref}${r.legacy_id ? ` (legacy id ${r.legacy_id})` : ''} ${r.problem}`,
      kind: r.kind, ref: r.ref, legacyId: r.legacy_id, detail: r.detail,
    }));
    return {
      checked: Number(totals!.rejects),
      mismatches: count,
      samples,
      details: { source: source.kind, migrationRejects: Number(totals!.rejects), expectedRejects: Number(totals!.expected) },
    };
  });
}
