// Check: every field of every migrated record. Each legacy record expected to be migrated is joined, by
// its new id (UUIDv5 of kind + legacy id), with its row, and every column the migration writes is
// compared as a typed value (a timestamp as an instant, a number as a number, jsonb as jsonb) — except
// run_id / last_run_id, which say which run wrote the row, not what the legacy record holds.
import { ENTITY_KINDS, type EntityKind } from '../../legacy/kinds.js';
import { ENTITY_TABLES } from '../../store/entity-tables.js';
import type { PoolClient } from '../../store/pool.js';
import { collectMismatches, countOf, runCheck, shortValue, type CheckResult, type MismatchSample } from '../check-result.js';
import { EXPECTED_TABLE } from '../expected-rows.js';

const NOT_COMPARED = new Set(['id', 'run_id', 'last_run_id']);

export function comparedColumns(kind: EntityKind): string[] {
  return ENTITY_TABLES[kind].columns.filter((c) => !NOT_COMPARED.has(c));
}

interface Row { legacy_id: string; ref: string; id: string; fields: string[]; expected: Record<string, unknown>; actual: Record<string, unknown> }

function differingRowsSql(kind: EntityKind): string {
  const columns = comparedColumns(kind);
  const differs = columns.map((c) => `CASE WHEN e.${c} IS DISTINCT FROM a.${c} THEN '${c}' END`).join(', ');
  const values = (alias: string) => `jsonb_build_object(${columns.map((c) => `'${c}', ${alias}.${c}`).join(', ')})`;
  return `SELECT e.legacy_id, e.ref, a.id::text AS id, array_remove(ARRAY[${differs}], NULL) AS fields,
      ${values('e')} AS expected, ${values('a')} AS actual
    FROM ${EXPECTED_TABLE[kind]} e JOIN tms.${kind} a ON a.id = e.id
    WHERE e.problem IS NULL AND NOT e.rejected
      AND ROW(${columns.map((c) => `e.${c}`).join(', ')}) IS DISTINCT FROM ROW(${columns.map((c) => `a.${c}`).join(', ')})`;
}

export function checkFields(client: PoolClient, maxSamples: number): Promise<CheckResult> {
  return runCheck('fields', 'every field of every migrated record equals what the mapping makes of its legacy record', async () => {
    let checked = 0;
    let mismatches = 0;
    const samples: MismatchSample[] = [];
    const perKind: Record<string, number> = {};
    for (const kind of ENTITY_KINDS) {
      checked += await countOf(client, `SELECT count(*) AS n FROM ${EXPECTED_TABLE[kind]} e JOIN tms.${kind} a ON a.id = e.id WHERE e.problem IS NULL AND NOT e.rejected`);
      const { count, rows } = await collectMismatches<Row>(client, differingRowsSql(kind), [], maxSamples - samples.length);
      mismatches += count;
      perKind[kind] = count;
      for (const r of rows) {
        samples.push({
          problem: `${kind} ${r.legacy_id} (${r.ref}): ${r.fields.join(', ')} ${r.fields.length === 1 ? 'differs' : 'differ'}`,
          kind, legacyId: r.legacy_id, ref: r.ref, id: r.id, fields: r.fields,
          expected: Object.fromEntries(r.fields.map((f) => [f, shortValue(r.expected[f])])),
          actual: Object.fromEntries(r.fields.map((f) => [f, shortValue(r.actual[f])])),
        });
      }
    }
    return { checked, mismatches, samples, details: { mismatchesPerKind: perKind } };
  });
}
