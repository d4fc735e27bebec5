// The run's accounting per kind: legacy records = migrated + rejected, computed from the ledger.
import { LEGACY_KINDS, STAGE_KIND, type LegacyKind } from '../legacy/kinds.js';
import type { Pool, PoolClient } from '../store/pool.js';
import { stageProgress } from './chunks.js';

export interface KindSummary {
  kind: LegacyKind;
  legacy: number;
  migrated: number;
  rejected: number;
}

export async function runSummary(db: Pool | PoolClient, runId: string): Promise<KindSummary[]> {
  const stages = await stageProgress(db, runId);
  return LEGACY_KINDS.map((kind) => {
    const own = stages.filter((s) => s.stage !== 'workflows' && STAGE_KIND[s.stage] === kind);
    return {
      kind,
      legacy: own.reduce((n, s) => n + s.legacyRecords, 0),
      migrated: own.reduce((n, s) => n + s.migrated, 0),
      rejected: own.reduce((n, s) => n + s.rejected, 0),
    };
  });
}

export function isBalanced(summary: readonly KindSummary[]): boolean {
  return summary.every((k) => k.legacy === k.migrated + k.rejected);
}

export function formatSummaryLines(summary: readonly KindSummary[]): string[] {
  const width = Math.max(...summary.map((k) => k.kind.length));
  return summary.map((k) =>
    `${k.kind.padEnd(width)}  legacy ${String(k.legacy).padStart(9)}  migrated ${String(k.migrated).padStart(9)}  rejected ${String(k.rejected).padStart(7)}`);
}

