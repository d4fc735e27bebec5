// Per-chunk reads of rows by id, as one primary-key probe per id. `WHERE id = ANY($1)` or a join with
// the ids leaves the plan to the planner, and a table growing under a bulk load has no fresh statistics:
// it chose sequential scans of the whole table, so every chunk's reads grew with the table (the same
// 5000 ids: 61 ms as = ANY, 25 ms as probes, in a table of 1M rows; copy-rows.ts reads back the same
// way). A LATERAL subquery with a LIMIT is never flattened into a join.

/**
 * `SELECT <columns> FROM <table> t WHERE t.id = ANY($<param>::uuid[])`, as probes: `columns` are
 * expressions over `t`. Ids not in the table give no row.
 */
export function lookupById(table: string, columns: string, param = 1): string {
  return `SELECT ${columns} FROM unnest($${param}::uuid[]) AS w(id) CROSS JOIN LATERAL (SELECT * FROM ${table} t WHERE t.id = w.id LIMIT 1) t`;
}
