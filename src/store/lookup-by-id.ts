// Per-chunk reads of rows by key, as one primary-key probe per key. `WHERE id = ANY($1)` or a join with
// the keys leaves the plan to the planner, and a table growing under a bulk load has no fresh statistics:
// it chose sequential scans of the whole table, so every chunk's reads grew with the table (the same
// 5000 ids: 61 ms as = ANY, 25 ms as probes, in a table of 1M rows; as a join, a chunk's read-back took
// 163 ms per 5000 rows at 200k rows). A LATERAL subquery with a LIMIT is never flattened into a join.

/**
 * The FROM clause of a read by key: the key tuples w(k0, k1, …) unnested from `keyArrays` (SQL uuid[]
 * expressions, one per key column), each joined to its row of `table` (alias t) by a probe. With
 * `ordinality`, w.n is the tuple's position. Keys not in the table give no row.
 */
export function probesByKey(table: string, keyColumns: readonly string[], keyArrays: readonly string[], ordinality = false): string {
  const names = keyColumns.map((_, k) => `k${k}`);
  const match = keyColumns.map((column, k) => `t.${column} = w.k${k}`).join(' AND ');
  return `unnest(${keyArrays.join(', ')})${ordinality ? ' WITH ORDINALITY' : ''} AS w(${[...names, ...(ordinality ? ['n'] : [])].join(', ')})
    CROSS JOIN LATERAL (SELECT * FROM ${table} t WHERE ${match} LIMIT 1) t`;
}

/** `SELECT <columns> FROM <table> t WHERE t.id = ANY($1::uuid[])`, as probes: `columns` are expressions over `t`. */
export function lookupById(table: string, columns: string): string {
  return `SELECT ${columns} FROM ${probesByKey(table, ['id'], ['$1::uuid[]'])}`;
}
