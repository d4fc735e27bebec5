// Reads of the ledger and the new system that tests assert on, with the tests' own SQL.
import type pg from 'pg';

export interface KindCounts { kind: string; legacy: number; migrated: number; rejected: number }

export async function chunkProgress(pool: pg.Pool, runId?: string): Promise<{ done: number; total: number }> {
  const { rows } = await pool.query<{ done: number; total: number }>(
    `SELECT count(*) FILTER (WHERE status = 'done')::int AS done, count(*)::int AS total FROM ledger.chunks WHERE $1::text IS NULL OR run_id = $1`,
    [runId ?? null]).catch(() => ({ rows: [{ done: 0, total: 0 }] }));
  return rows[0] ?? { done: 0, total: 0 };
}

/** Waits until the predicate holds on the ledger (polling Postgres, which is the source of truth). */
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/** Rows per table of the new system, and rows sharing a legacy id (duplicates). */
export async function entityCounts(pool: pg.Pool): Promise<Record<string, { rows: number; distinctLegacy: number }>> {
  const out: Record<string, { rows: number; distinctLegacy: number }> = {};
  for (const table of ['projects', 'phases', 'tasks', 'task_dependencies']) {
    const { rows } = await pool.query<{ rows: number; distinct_legacy: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT legacy_id)::int AS distinct_legacy FROM tms.${table}`);
    out[table] = { rows: rows[0]!.rows, distinctLegacy: rows[0]!.distinct_legacy };
  }
  return out;
}

/** Tuples inserted/updated/deleted so far in the new system's tables (pg_stat_user_tables). */
export async function writeCounters(pool: pg.Pool): Promise<Record<string, number>> {
  // Statistics reach the shared counters when a backend's transaction ends; a fresh snapshot is read.
  await pool.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await pool.query<{ relname: string; writes: string }>(
    `SELECT relname, (n_tup_ins + n_tup_upd + n_tup_del)::text AS writes FROM pg_stat_user_tables WHERE schemaname = 'tms' ORDER BY relname`);
  return Object.fromEntries(rows.map((r) => [r.relname, Number(r.writes)]));
}

/** A fingerprint of every row version in the new system: changes if any row is rewritten. */
export async function rowVersions(pool: pg.Pool): Promise<string> {
  const parts: string[] = [];
  for (const table of ['projects', 'phases', 'tasks', 'task_dependencies']) {
    const { rows } = await pool.query<{ v: string }>(`SELECT md5(string_agg(ctid::text || ':' || xmin::text, ',' ORDER BY ctid))::text AS v FROM tms.${table}`);
    parts.push(`${table}=${rows[0]?.v ?? ''}`);
  }
  return parts.join(' ');
}

/**
 * A fingerprint of every row's values in the new system, without last_run_id (the marker a later run
 * sets on the rows it adopts): changes if any value of any row changes.
 */
export async function rowContents(pool: pg.Pool): Promise<string> {
  const parts: string[] = [];
  for (const table of ['projects', 'phases', 'tasks', 'task_dependencies']) {
    const { rows } = await pool.query<{ v: string }>(
      `SELECT md5(string_agg((to_jsonb(t) - 'last_run_id')::text, ',' ORDER BY (to_jsonb(t) - 'last_run_id')::text))::text AS v FROM tms.${table} t`);
    parts.push(`${table}=${rows[0]?.v ?? ''}`);
  }
  return parts.join(' ');
}
