// Check: the dependency edges. The expected edges are those the legacy data declares (each task's
// depends_on, then the task_dependencies file) less the expected rejects; they must equal the run's
// rows of tms.task_dependencies — none missing, none extra, and each with its declaration (legacy id,
// file:line, declaration order).
import type { PoolClient } from '../../store/pool.js';
import { collectMismatches, countOf, runCheck, type CheckResult, type MismatchSample } from '../check-result.js';
import { EXPECTED_EDGES } from '../expected-rows.js';
import { inStrayScope } from '../scope.js';

interface Row { problem: 'missing' | 'invalid' | 'differs' | 'stray'; legacy_id: string | null; ref: string | null; detail: string | null; fields: string[] | null }

const EXPECTED = `SELECT * FROM ${EXPECTED_EDGES} WHERE problem IS NULL AND NOT rejected`;

const EDGES_SQL = `
  SELECT 'invalid' AS problem, e.legacy_id, e.ref, e.problem AS detail, NULL::text[] AS fields
  FROM ${EXPECTED_EDGES} e WHERE e.problem IS NOT NULL AND NOT e.rejected
  UNION ALL
  SELECT 'missing', e.legacy_id, e.ref, NULL, NULL FROM (${EXPECTED}) e
  WHERE NOT EXISTS (SELECT 1 FROM tms.task_dependencies a WHERE a.task_id = e.task_id AND a.depends_on_id = e.depends_on_id)
  UNION ALL
  SELECT 'differs', e.legacy_id, e.ref, 'row: ' || a.legacy_id || ' at ' || a.legacy_ref || ' (order ' || a.legacy_order || ')',
    array_remove(ARRAY[CASE WHEN e.legacy_id IS DISTINCT FROM a.legacy_id THEN 'legacy_id' END,
      CASE WHEN e.ref IS DISTINCT FROM a.legacy_ref THEN 'legacy_ref' END,
      CASE WHEN e.legacy_order IS DISTINCT FROM a.legacy_order THEN 'legacy_order' END], NULL)
  FROM (${EXPECTED}) e JOIN tms.task_dependencies a ON a.task_id = e.task_id AND a.depends_on_id = e.depends_on_id
  WHERE (e.legacy_id, e.ref, e.legacy_order) IS DISTINCT FROM (a.legacy_id, a.legacy_ref, a.legacy_order)
  UNION ALL
  SELECT 'stray', a.legacy_id, a.legacy_ref, 'run ' || a.run_id, NULL FROM tms.task_dependencies a
  WHERE ${inStrayScope('a')}
    AND NOT EXISTS (SELECT 1 FROM (${EXPECTED}) e WHERE e.task_id = a.task_id AND e.depends_on_id = a.depends_on_id)`;

const DESCRIBE: Record<Row['problem'], string> = {
  invalid: 'cannot be migrated yet is not among the rejects',
  missing: 'has no row',
  differs: 'differs from its row',
  stray: 'is a row with no legacy declaration',
};

export function checkDependencyEdges(client: PoolClient, runId: string, maxSamples: number): Promise<CheckResult> {
  return runCheck('dependency_edges', 'the run\'s dependency edges are exactly the declared edges less the rejected ones', async () => {
    const expected = await countOf(client, `SELECT count(*) AS n FROM (${EXPECTED}) e`);
    const rows = await countOf(client, `SELECT count(*) AS n FROM tms.task_dependencies a WHERE ${inStrayScope('a')}`, [runId]);
    const { count, rows: found } = await collectMismatches<Row>(client, EDGES_SQL, [runId], maxSamples);
    const samples: MismatchSample[] = found.map((r) => ({
      problem: `edge ${r.legacy_id ?? '?'}${r.ref ? ` (${r.ref})` : ''} ${DESCRIBE[r.problem]}${r.fields ? `: ${r.fields.join(', ')}` : ''}`,
      legacyId: r.legacy_id, ref: r.ref, issue: r.problem, detail: r.detail, ...(r.fields ? { fields: r.fields } : {}),
    }));
    return { checked: expected, mismatches: count, samples, details: { expectedEdges: expected, rows } };
  });
}
