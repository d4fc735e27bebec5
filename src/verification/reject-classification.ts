// Which legacy records are expected NOT to be migrated. When the run started from a prepare, that is
// prepare's own list of blocking findings — a classification made before, and apart from, the
// migration; the rejects check then proves the migration rejected exactly those. A run started with
// --skip-prepare has no such list: the migration's rejects are used, and the rejects check proves
// each of them names a real legacy record that was indeed not migrated.
import type { PoolClient } from '../store/pool.js';
import { EXPECTED_EDGES, EXPECTED_TABLE } from './expected-rows.js';

export type RejectSource =
  | { kind: 'preparation'; preparationId: number; description: string }
  | { kind: 'migration-rejects'; description: string };

export function rejectSourceOf(run: { id: string; preparationId: number | null }): RejectSource {
  return run.preparationId !== null
    ? { kind: 'preparation', preparationId: run.preparationId, description: `the blocking findings of prepare #${run.preparationId}` }
    : { kind: 'migration-rejects', description: `the migration's own rejects (run ${run.id} was started with --skip-prepare)` };
}

/** The temporary table verify_rejects (kind, ref), and every expected row it names marked rejected. */
export async function classifyRejects(client: PoolClient, runId: string, source: RejectSource): Promise<number> {
  if (source.kind === 'preparation') {
    await client.query(`CREATE TEMP TABLE verify_rejects ON COMMIT DROP AS
      SELECT DISTINCT kind, ref FROM ledger.validation_findings WHERE preparation_id = $1 AND severity = 'error'`, [source.preparationId]);
  } else {
    await client.query(`CREATE TEMP TABLE verify_rejects ON COMMIT DROP AS
      SELECT DISTINCT kind, ref FROM ledger.rejects WHERE run_id = $1`, [runId]);
  }
  for (const [kind, table] of [...Object.entries(EXPECTED_TABLE), ['task_dependencies', EXPECTED_EDGES]]) {
    await client.query(`UPDATE ${table} e SET rejected = true FROM verify_rejects r WHERE r.kind = $1 AND r.ref = e.ref`, [kind]);
  }
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM verify_rejects');
  return Number(rows[0]!.n);
}
