// Check: no legacy record is lost. Every record expected to be migrated (not among the expected
// rejects) has its row; and every record that cannot be migrated as it is (it does not parse, or a
// field is invalid) is among the expected rejects — otherwise it was silently dropped.
import { ENTITY_KINDS, type EntityKind } from '../../legacy/kinds.js';
import type { PoolClient } from '../../store/pool.js';
import { collectMismatches, countOf, runCheck, type CheckResult, type MismatchSample } from '../check-result.js';
import { EXPECTED_TABLE } from '../expected-rows.js';

interface Row { legacy_id: string | null; ref: string; id: string | null; problem: string | null }

const missingSql = (kind: EntityKind) => `
  SELECT e.legacy_id, e.ref, e.id::text AS id, e.problem FROM ${EXPECTED_TABLE[kind]} e
  WHERE NOT e.rejected AND (e.problem IS NOT NULL OR NOT EXISTS (SELECT 1 FROM tms.${kind} a WHERE a.id = e.id))`;

export function checkMissingRows(client: PoolClient, maxSamples: number): Promise<CheckResult> {
  return runCheck('missing_rows', 'every legacy record not expected to be rejected has its row', async () => {
    let checked = 0;
    let mismatches = 0;
    const samples: MismatchSample[] = [];
    const perKind: Record<string, number> = {};
    for (const kind of ENTITY_KINDS) {
      checked += await countOf(client, `SELECT count(*) AS n FROM ${EXPECTED_TABLE[kind]} WHERE NOT rejected`);
      const { count, rows } = await collectMismatches<Row>(client, missingSql(kind), [], maxSamples - samples.length);
      mismatches += count;
      perKind[kind] = count;
      for (const r of rows) {
        samples.push(r.problem === null
          ? { problem: `${kind} ${r.legacy_id ?? '?'} (${r.ref}) has no row`, kind, legacyId: r.legacy_id, ref: r.ref, id: r.id }
          : { problem: `${kind} record at ${r.ref} cannot be migrated (${r.problem}) yet is not among the rejects`, kind, legacyId: r.legacy_id, ref: r.ref, reason: r.problem });
      }
    }
    return { checked, mismatches, samples, details: { mismatchesPerKind: perKind } };
  });
}
