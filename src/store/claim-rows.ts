// Writes a chunk's rows so that, within a run, each key ends up held by its EARLIEST declaration
// (lowest legacy line / declaration order), whatever order concurrent chunks commit in.
//
// - Fast path: a plain COPY under a savepoint, when none of the keys exists yet.
// - Otherwise: COPY into a temporary table, then an upsert that only claims rows last written by
//   another run (keeping their creating run_id). Rows this run already holds are not touched by it,
//   but ON CONFLICT DO UPDATE locks them all, so reading them back afterwards is exact: each key is
//   ours, held by an earlier declaration (we lost: reject ours), or by a later one (we win: overwrite
//   it explicitly and reject that one).
import type { CopyValue } from './copy-text.js';
import { encodeCopyLine } from './copy-text.js';
import { copyLines, tryCopyFresh, verifyLines, type TableSpec } from './copy-rows.js';
import { probesByKey } from './lookup-by-id.js';
import type { PoolClient } from './pool.js';

export interface ClaimSpec extends TableSpec {
  /** Lower wins within a run: legacy_line, or legacy_order for dependency edges. */
  orderColumn: string;
  /** Columns read back for a row this chunk displaces (to name it in its reject). */
  describeColumns: readonly string[];
}

export interface Claimant<T> {
  row: CopyValue[];
  order: number;
  item: T;
}

export interface HeldRow {
  order: number;
  runId: string;
  described: Record<string, unknown>;
}

export interface ClaimOutcome<T> {
  /** Claimants whose row is now in the table (written, or already identical). */
  written: Claimant<T>[];
  /** Claimants that lost to an earlier declaration of the same key in this run. */
  lost: { claimant: Claimant<T>; holder: HeldRow }[];
  /** Rows of later declarations in this run that this chunk replaced. */
  displaced: { claimant: Claimant<T>; holder: HeldRow }[];
}

export async function claimRows<T>(client: PoolClient, spec: ClaimSpec, runId: string, unordered: readonly Claimant<T>[]): Promise<ClaimOutcome<T>> {
  const runIdColumn = spec.columns.indexOf('run_id');
  // Rows are written in key order: two chunks sharing keys (duplicate ids across chunks) then lock
  // them in the same order, and wait for each other instead of deadlocking.
  const claimants = sortByKey(unordered, spec.key.length);
  let lines = claimants.map((c) => encodeCopyLine(c.row));
  if (await tryCopyFresh(client, spec, lines)) {
    await verifyLines(client, spec, claimants.map((c) => c.row), lines);
    return { written: [...claimants], lost: [], displaced: [] };
  }

  const temp = `incoming_${spec.table.replace(/\W/g, '_')}`;
  await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${temp} (LIKE ${spec.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`);
  await copyLines(client, temp, spec.columns, lines);
  const updatable = spec.columns.filter((c) => !spec.key.includes(c) && c !== 'run_id');
  const set = `(${updatable.join(', ')}) = ROW(${updatable.map((c) => `excluded.${c}`).join(', ')})`;
  await client.query(
    `INSERT INTO ${spec.table} AS t (${spec.columns.join(', ')}) SELECT ${spec.columns.join(', ')} FROM ${temp} ORDER BY ${spec.key.join(', ')}
     ON CONFLICT (${spec.key.join(', ')}) DO UPDATE SET ${set} WHERE t.last_run_id IS DISTINCT FROM excluded.last_run_id`,
  );

  // Every key is now locked by this transaction: what we read is what will commit.
  const arrays = spec.key.map((_, k) => claimants.map((c) => c.row[k] as string));
  const { rows: held } = await client.query<Record<string, unknown>>(
    `SELECT ${spec.key.map((c) => `t.${c}::text AS ${c}`).join(', ')}, t.run_id, t.last_run_id, t.${spec.orderColumn} AS held_order
       ${spec.describeColumns.map((c) => `, t.${c}`).join('')}
     FROM ${probesByKey(spec.table, spec.key, spec.key.map((_, k) => `$${k + 1}::uuid[]`))}`,
    arrays,
  );
  const keyOf = (values: readonly unknown[]) => values.map(String).join('|');
  const heldByKey = new Map(held.map((h) => [keyOf(spec.key.map((c) => h[c])), h]));

  const outcome: ClaimOutcome<T> = { written: [], lost: [], displaced: [] };
  for (const claimant of claimants) {
    const h = heldByKey.get(keyOf(spec.key.map((_, k) => claimant.row[k])));
    if (!h || h.last_run_id !== runId) throw new Error(`Row ${keyOf(spec.key.map((_, k) => claimant.row[k]))} of ${spec.table} was not claimed by run ${runId}`);
    const holder: HeldRow = {
      order: Number(h.held_order),
      runId: String(h.run_id),
      described: Object.fromEntries(spec.describeColumns.map((c) => [c, h[c]])),
    };
    // The row keeps the run that created it.
    claimant.row[runIdColumn] = holder.runId;
    if (holder.order === claimant.order) outcome.written.push(claimant);
    else if (holder.order < claimant.order) outcome.lost.push({ claimant, holder });
    else outcome.displaced.push({ claimant, holder });
  }
  if (outcome.displaced.length > 0) {
    const winners = spec.key.map((_, k) => outcome.displaced.map((d) => d.claimant.row[k] as string));
    await client.query(
      `UPDATE ${spec.table} AS t SET (${updatable.join(', ')}) = ROW(${updatable.map((c) => `i.${c}`).join(', ')})
       FROM ${temp} i, unnest(${spec.key.map((_, k) => `$${k + 1}::uuid[]`).join(', ')}) AS w(${spec.key.map((_, k) => `k${k}`).join(', ')})
       WHERE ${spec.key.map((c, k) => `t.${c} = i.${c} AND i.${c} = w.k${k}`).join(' AND ')}`,
      winners,
    );
  }
  await client.query(`TRUNCATE ${temp}`);
  const kept = [...outcome.written, ...outcome.displaced.map((d) => d.claimant)];
  lines = kept.map((c) => encodeCopyLine(c.row));
  await verifyLines(client, spec, kept.map((c) => c.row), lines);
  return outcome;
}

/** The claimants ordered by their leading key columns (uuids, as text: the same order for every chunk). */
function sortByKey<T>(claimants: readonly Claimant<T>[], keyColumns: number): Claimant<T>[] {
  return [...claimants].sort((a, b) => {
    for (let k = 0; k < keyColumns; k++) {
      const x = a.row[k] as string;
      const y = b.row[k] as string;
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  });
}
