// Writes rows into a table: a straight COPY when none of them exists yet (the common case, as fast as
// Postgres loads data), else COPY into a temporary table and an upsert that only touches rows whose
// values differ, so re-running a chunk writes nothing.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { PoolClient } from './pool.js';
import { encodeCopyRows, type CopyValue } from './copy-text.js';

export interface TableSpec {
  table: string;            // schema-qualified
  columns: readonly string[];
  key: readonly string[];   // primary key columns
  /** Columns an upsert must not change (who created the row). */
  keep: readonly string[];
}

export async function copyInto(client: PoolClient, table: string, columns: readonly string[], rows: readonly (readonly CopyValue[])[]): Promise<void> {
  if (rows.length === 0) return;
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  await pipeline(Readable.from([encodeCopyRows(rows)]), stream);
}

export async function writeRows(client: PoolClient, spec: TableSpec, rows: readonly (readonly CopyValue[])[], anyExisting: boolean): Promise<void> {
  if (rows.length === 0) return;
  if (!anyExisting) {
    await copyInto(client, spec.table, spec.columns, rows);
    return;
  }
  const temp = `incoming_${spec.table.replace(/\W/g, '_')}`;
  await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${temp} (LIKE ${spec.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`);
  await copyInto(client, temp, spec.columns, rows);
  const updatable = spec.columns.filter((c) => !spec.key.includes(c) && !spec.keep.includes(c));
  const target = updatable.map((c) => `t.${c}`).join(', ');
  const incoming = updatable.map((c) => `excluded.${c}`).join(', ');
  await client.query(
    `INSERT INTO ${spec.table} AS t (${spec.columns.join(', ')})
     SELECT ${spec.columns.join(', ')} FROM ${temp}
     ON CONFLICT (${spec.key.join(', ')}) DO UPDATE SET (${updatable.join(', ')}) = ROW(${incoming})
     WHERE (${target}) IS DISTINCT FROM (${incoming})`,
  );
}
