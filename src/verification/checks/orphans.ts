// Check: no row of the run points at a parent that is not there — a phase's project, a task's project
// and phase, a dependency edge's two tasks. (The load runs without foreign keys; the workers check
// parents per chunk, and this proves the end result.)
import { ENTITY_KINDS, type EntityKind } from '../../legacy/kinds.js';
import type { PoolClient } from '../../store/pool.js';
import { collectMismatches, countOf, lookUpExpected, runCheck, type CheckResult, type MismatchSample } from '../check-result.js';
import { EXPECTED_TABLE } from '../expected-rows.js';
import { migratedByRun } from '../scope.js';

interface Row { kind: string; legacy_id: string; parent: string; parent_kind: EntityKind; parent_id: string }

const orphan = (kind: string, column: string, parentKind: string, parentTable: EntityKind) => `
  SELECT '${kind}' AS kind, a.legacy_id, '${parentKind}' AS parent, '${parentTable}' AS parent_kind, a.${column}::text AS parent_id
  FROM tms.${kind} a
  WHERE ${migratedByRun('a')} AND a.${column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tms.${parentTable} p WHERE p.id = a.${column})`;

const ORPHANS_SQL = [
  orphan('phases', 'project_id', 'project', 'projects'),
  orphan('tasks', 'project_id', 'project', 'projects'),
  orphan('tasks', 'phase_id', 'phase', 'phases'),
  orphan('task_dependencies', 'task_id', 'task', 'tasks'),
  orphan('task_dependencies', 'depends_on_id', 'depended-on task', 'tasks'),
].join(' UNION ALL ');

export function checkOrphans(client: PoolClient, runId: string, maxSamples: number): Promise<CheckResult> {
  return runCheck('orphans', 'every phase, task and dependency edge of the run has its parents', async () => {
    let checked = 0;
    for (const table of ['phases', 'tasks', 'task_dependencies']) {
      checked += await countOf(client, `SELECT count(*) AS n FROM tms.${table} a WHERE ${migratedByRun('a')}`, [runId]);
    }
    const { count, rows } = await collectMismatches<Row>(client, ORPHANS_SQL, [runId], maxSamples);
    // The missing parent is named by its legacy id, where the legacy data has a record with that new id.
    const names = new Map<string, string>();
    for (const kind of ENTITY_KINDS) {
      const ids = rows.filter((r) => r.parent_kind === kind).map((r) => r.parent_id);
      for (const [id, name] of await lookUpExpected(client, EXPECTED_TABLE[kind], 'legacy_id', ids)) names.set(id, name);
    }
    const samples: MismatchSample[] = rows.map((r) => ({
      problem: `${r.kind} ${r.legacy_id} names ${r.parent} ${names.get(r.parent_id) ?? r.parent_id}, which has no row`,
      kind: r.kind, legacyId: r.legacy_id, parent: r.parent, parentLegacyId: names.get(r.parent_id) ?? null, parentId: r.parent_id,
    }));
    return { checked, mismatches: count, samples };
  });
}
