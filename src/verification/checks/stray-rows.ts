// Check: the new system holds no row the legacy data does not explain. A row the run migrated (or a
// row of no known run) must be the row of a legacy record expected to be migrated.
import { ENTITY_KINDS, type EntityKind } from '../../legacy/kinds.js';
import type { PoolClient } from '../../store/pool.js';
import { collectMismatches, countOf, lookUpExpected, runCheck, type CheckResult, type MismatchSample } from '../check-result.js';
import { EXPECTED_TABLE } from '../expected-rows.js';
import { inStrayScope } from '../scope.js';

interface Row { legacy_id: string; id: string; run_id: string; last_run_id: string; legacy_line: number; known_run: boolean }

const straySql = (kind: EntityKind) => `
  SELECT a.legacy_id, a.id::text AS id, a.run_id, a.last_run_id, a.legacy_line,
         EXISTS (SELECT 1 FROM ledger.runs k WHERE k.id = a.run_id) AS known_run
  FROM tms.${kind} a
  WHERE ${inStrayScope('a')}
    AND NOT EXISTS (SELECT 1 FROM ${EXPECTED_TABLE[kind]} e WHERE e.id = a.id AND e.problem IS NULL AND NOT e.rejected)`;

export function checkStrayRows(client: PoolClient, runId: string, maxSamples: number): Promise<CheckResult> {
  return runCheck('stray_rows', 'every row of the run (or of no known run) is the row of a legacy record', async () => {
    let checked = 0;
    let mismatches = 0;
    const samples: MismatchSample[] = [];
    const perKind: Record<string, number> = {};
    for (const kind of ENTITY_KINDS) {
      checked += await countOf(client, `SELECT count(*) AS n FROM tms.${kind} a WHERE ${inStrayScope('a')}`, [runId]);
      const { count, rows } = await collectMismatches<Row>(client, straySql(kind), [runId], maxSamples - samples.length);
      mismatches += count;
      perKind[kind] = count;
      const rejectedAt = await lookUpExpected(client, EXPECTED_TABLE[kind], 'ref', rows.map((r) => r.id), 'rejected');
      for (const r of rows) {
        const ref = rejectedAt.get(r.id);
        samples.push({
          problem: ref
            ? `${kind} row ${r.legacy_id} exists although its legacy record (${ref}) is expected to be rejected`
            : `${kind} row ${r.legacy_id} has no legacy record${r.known_run ? '' : ` (its run_id ${r.run_id} names no run of the ledger: written outside taskfleet?)`}`,
          kind, legacyId: r.legacy_id, id: r.id, runId: r.run_id, lastRunId: r.last_run_id, legacyLine: r.legacy_line,
        });
      }
    }
    return { checked, mismatches, samples, details: { mismatchesPerKind: perKind } };
  });
}
