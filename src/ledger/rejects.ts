// Ledger: rejected legacy records, each with file, line, field and reason. One row per record
// (unique per run, kind and ref), so a retried chunk cannot reject a record twice.
import type { RecordRejection } from '../legacy/errors.js';
import { LEGACY_KINDS, type LegacyKind, type Stage } from '../legacy/kinds.js';
import type { Pool, PoolClient } from '../store/pool.js';
import { storableText } from './storable-text.js';

type Db = Pool | PoolClient;

export interface StoredReject extends RecordRejection {
  stage: Stage;
  chunkNo: number;
}

export async function insertRejects(client: PoolClient, runId: string, stage: Stage, chunkNo: number, rejects: readonly RecordRejection[]): Promise<number> {
  if (rejects.length === 0) return 0;
  const col = <K extends keyof RecordRejection>(k: K) => rejects.map((r) => r[k]);
  const text = (k: 'legacyId' | 'field' | 'reason') => rejects.map((r) => storableText(r[k]));
  const result = await client.query(
    `INSERT INTO ledger.rejects (run_id, stage, chunk_no, kind, ref, file_name, line, legacy_id, field, reason)
     SELECT $1, $2, $3, * FROM unnest($4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::text[])
     ON CONFLICT (run_id, kind, ref) DO NOTHING`,
    [runId, stage, chunkNo, col('kind'), col('ref'), col('fileName'), col('line'), text('legacyId'), text('field'), text('reason')],
  );
  return result.rowCount ?? 0;
}

/** A page of a run's rejects, in migration order: projects, phases, tasks, dependencies; then by file and line. */
export async function listRejects(db: Db, runId: string, opts: { kind?: LegacyKind; limit: number; offset: number }): Promise<StoredReject[]> {
  const { rows } = await db.query<StoredReject>(
    `SELECT kind, ref, file_name AS "fileName", line, legacy_id AS "legacyId", field, reason, stage, chunk_no AS "chunkNo"
     FROM ledger.rejects WHERE run_id = $1 AND ($2::text IS NULL OR kind = $2)
     ORDER BY array_position($5::text[], kind), file_name, line, ref LIMIT $3 OFFSET $4`,
    [runId, opts.kind ?? null, opts.limit, opts.offset, LEGACY_KINDS],
  );
  return rows;
}

/** How many rejects a run has (of one kind): the total behind a page of `listRejects`. */
export async function countRejects(db: Db, runId: string, kind?: LegacyKind): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM ledger.rejects WHERE run_id = $1 AND ($2::text IS NULL OR kind = $2)', [runId, kind ?? null]);
  return rows[0]?.n ?? 0;
}

/** Where each of these legacy ids was rejected in the run (to explain a child's missing parent). */
export async function rejectedRefs(db: Db, runId: string, kind: LegacyKind, legacyIds: readonly string[]): Promise<Map<string, string>> {
  if (legacyIds.length === 0) return new Map();
  const { rows } = await db.query<{ legacy_id: string; ref: string }>(
    `SELECT DISTINCT ON (legacy_id) legacy_id, ref FROM ledger.rejects
     WHERE run_id = $1 AND kind = $2 AND legacy_id = ANY($3::text[]) ORDER BY legacy_id, line`,
    [runId, kind, legacyIds],
  );
  return new Map(rows.map((r) => [r.legacy_id, r.ref]));
}
