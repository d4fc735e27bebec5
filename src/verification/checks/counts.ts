// Check: per kind, the legacy records counted here (by reading the files again) equal the rows the run
// migrated plus the records expected to be rejected. The ledger's own accounting (the workers'
// per-chunk counters) is shown next to it and must agree too, but it is never the evidence.
import { LEGACY_KINDS, type LegacyKind } from '../../legacy/kinds.js';
import { runSummary, type KindSummary } from '../../ledger/summary.js';
import type { PoolClient } from '../../store/pool.js';
import { countOf, runCheck, type CheckResult, type MismatchSample } from '../check-result.js';
import { EXPECTED_EDGES, EXPECTED_TABLE } from '../expected-rows.js';
import { migratedByRun } from '../scope.js';

export type KindCount = KindSummary;

const expectedTable = (kind: LegacyKind) => (kind === 'task_dependencies' ? EXPECTED_EDGES : EXPECTED_TABLE[kind]);

export async function countKinds(client: PoolClient, runId: string): Promise<KindCount[]> {
  const counts: KindCount[] = [];
  for (const kind of LEGACY_KINDS) {
    counts.push({
      kind,
      legacy: await countOf(client, `SELECT count(*) AS n FROM ${expectedTable(kind)}`),
      migrated: await countOf(client, `SELECT count(*) AS n FROM tms.${kind} t WHERE ${migratedByRun('t')}`, [runId]),
      rejected: await countOf(client, 'SELECT count(*) AS n FROM verify_rejects WHERE kind = $1', [kind]),
    });
  }
  return counts;
}

export function checkCounts(client: PoolClient, runId: string, kinds: readonly KindCount[], maxSamples: number): Promise<CheckResult> {
  return runCheck('counts', 'per kind: legacy records = migrated rows + rejected records (and the ledger agrees)', async () => {
    const ledger = await runSummary(client, runId);
    const problems: MismatchSample[] = [];
    let wrongKinds = 0;
    for (const k of kinds) {
      const before = problems.length;
      if (k.legacy !== k.migrated + k.rejected) {
        problems.push({ problem: `${k.kind}: ${k.legacy} legacy records, but ${k.migrated} migrated + ${k.rejected} rejected = ${k.migrated + k.rejected}`, ...k });
      }
      const booked = ledger.find((l) => l.kind === k.kind);
      if (booked && (booked.legacy !== k.legacy || booked.migrated !== k.migrated || booked.rejected !== k.rejected)) {
        problems.push({
          problem: `${k.kind}: the ledger's accounting (legacy ${booked.legacy}, migrated ${booked.migrated}, rejected ${booked.rejected}) differs from what verify counted`,
          kind: k.kind, counted: k, ledger: booked,
        });
      }
      if (problems.length > before) wrongKinds++;
    }
    return { checked: kinds.length, mismatches: wrongKinds, samples: problems.slice(0, maxSamples), details: { kinds, ledger } };
  });
}
