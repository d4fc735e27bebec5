// What every verification check reports: passed, failed or skipped (with the reason), how many items
// it compared, how many of them are wrong (an exact count) and up to N samples of what is wrong.
import type { PoolClient } from '../store/pool.js';

export const CHECK_NAMES = [
  'legacy_source', 'counts', 'rejects', 'fields', 'missing_rows', 'stray_rows', 'orphans', 'dependency_edges',
  'one_workflow_per_task', 'workflow_runs', 'performance',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];
export type CheckStatus = 'passed' | 'failed' | 'skipped';

/** One thing that is wrong, named so that a person can find it (kind, legacy id, file:line, fields). */
export type MismatchSample = Record<string, unknown> & { problem: string };

export interface CheckResult {
  name: CheckName;
  description: string;
  status: CheckStatus;
  /** Items compared: legacy records, rows, edges, latency limits (p50 and p95 of each query). */
  checked: number;
  /** Items found wrong; exact, whatever the number of samples kept. */
  mismatches: number;
  /** Why the check was skipped, or what its failure amounts to. */
  reason?: string;
  details?: Record<string, unknown>;
  samples: MismatchSample[];
  durationMs: number;
}

export type CheckOutcome = Omit<CheckResult, 'name' | 'description' | 'status' | 'durationMs'> & { skipped?: string };

/** Runs one check, timing it; a check passes when it found no mismatch. */
export async function runCheck(name: CheckName, description: string, body: () => Promise<CheckOutcome>): Promise<CheckResult> {
  const started = performance.now();
  const { skipped, ...outcome } = await body();
  const durationMs = Math.round(performance.now() - started);
  if (skipped !== undefined) return { name, description, status: 'skipped', ...outcome, reason: skipped, durationMs };
  return { name, description, status: outcome.mismatches === 0 ? 'passed' : 'failed', ...outcome, durationMs };
}

let cursorNo = 0;

/**
 * Runs a query that lists mismatches through a cursor: the first `maxSamples` rows are kept, the rest
 * are only counted (MOVE), so a check that finds a million mismatches still holds N rows in memory.
 * Needs an open transaction on `client`.
 */
export async function collectMismatches<R extends object>(
  client: PoolClient, sql: string, params: readonly unknown[], maxSamples: number,
): Promise<{ count: number; rows: R[] }> {
  const cursor = `verify_mismatches_${++cursorNo}`;
  await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`, [...params]);
  const rows = maxSamples > 0 ? (await client.query<R>(`FETCH ${maxSamples} FROM ${cursor}`)).rows : [];
  const rest = await client.query(`MOVE FORWARD ALL IN ${cursor}`);
  await client.query(`CLOSE ${cursor}`);
  return { count: rows.length + (rest.rowCount ?? 0), rows };
}

/**
 * Names for a few new ids (a check's samples): the legacy id, or another column, of the expected rows
 * with those ids. Looked up only for the samples, after the scan: a lookup inside the mismatch query
 * would run for every mismatch, sampled or only counted.
 */
export async function lookUpExpected(client: PoolClient, table: string, column: string, ids: readonly string[], where = 'true'): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const { rows } = await client.query<{ id: string; value: string | null }>(
    `SELECT DISTINCT ON (id) id::text AS id, ${column} AS value FROM ${table} WHERE id = ANY($1::uuid[]) AND ${where} ORDER BY id`, [[...new Set(ids)]]);
  return new Map(rows.flatMap((r) => (r.value === null ? [] : [[r.id, r.value] as [string, string]])));
}

/** Keeps reported values short: a report names a value, it does not reproduce a description field. */
export function shortValue(value: unknown, max = 200): unknown {
  if (value === null || value === undefined) return null;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text.length <= max) return value;
  return `${text.slice(0, max - 3)}...`;
}

/** A single count from SQL (count(*) comes back as text). */
export async function countOf(client: PoolClient, sql: string, params: readonly unknown[] = []): Promise<number> {
  const { rows } = await client.query<{ n: string | number }>(sql, [...params]);
  return Number(rows[0]?.n ?? 0);
}
