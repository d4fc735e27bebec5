// Per-chunk verification (verifyLines): the rows read back with COPY TO are compared with the lines sent,
// part by part as they arrive. Checked against the real server: a chunk that reads back equal passes
// (also when the read-back arrives in many parts), and a changed value, a missing row or a lone
// surrogate fails naming the table, the row and the column.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyLines, verifyLines, type TableSpec } from '../../src/store/copy-rows.js';
import { encodeCopyLine, type CopyValue } from '../../src/store/copy-text.js';
import { uuidV5 } from '../../src/store/new-ids.js';
import { uniqueName } from '../helpers/services.js';
import { PG_URL } from './support.js';

const schema = uniqueName('verify_lines');
const SPEC: TableSpec = { table: `${schema}.probe`, columns: ['id', 'title', 'tags', 'n'], key: ['id'] };
const NAMESPACE = Buffer.alloc(16, 7);

let pool: pg.Pool;
let client: pg.PoolClient;
beforeAll(async () => {
  pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
  client = await pool.connect();
  await client.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${SPEC.table} (id uuid PRIMARY KEY, title text, tags text[], n integer)`);
});
afterAll(async () => {
  await client?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  client?.release();
  await pool?.end();
});

/** n rows with long, non-ASCII titles (5000 of them read back in many stream parts). */
function rows(n: number, from = 0): CopyValue[][] {
  return Array.from({ length: n }, (_, i) => [
    uuidV5(`row-${from + i}`, NAMESPACE), `Título ${from + i} — ${'данные '.repeat(20)}\t"quoted"`, ['a b', `t${i % 7}`], i,
  ]);
}

async function load(values: CopyValue[][]): Promise<string[]> {
  await client.query(`TRUNCATE ${SPEC.table}`);
  const lines = values.map(encodeCopyLine);
  await copyLines(client, SPEC.table, SPEC.columns, lines);
  return lines;
}

describe('verifyLines', () => {
  it('passes when every row reads back as sent, one part or many', async () => {
    for (const n of [1, 5000]) {
      const values = rows(n);
      const lines = await load(values);
      await expect(verifyLines(client, SPEC, values, lines)).resolves.toBeUndefined();
    }
  });

  it('fails on a value changed after writing, naming the row and the column, wherever it is in the read-back', async () => {
    const values = rows(5000);
    for (const index of [0, 2500, 4999]) {
      const lines = await load(values);
      const id = values[index]![0] as string;
      await client.query(`UPDATE ${SPEC.table} SET n = n + 1 WHERE id = $1`, [id]);
      await expect(verifyLines(client, SPEC, values, lines)).rejects.toThrow(
        `Per-chunk verification failed on ${SPEC.table} row ${id}: column n reads back differently`);
    }
  });

  it('fails on a row missing from the table', async () => {
    const values = rows(3);
    const lines = await load(values);
    await client.query(`DELETE FROM ${SPEC.table} WHERE id = $1`, [values[2]![0]]);
    await expect(verifyLines(client, SPEC, values, lines)).rejects.toThrow('wrote 3 rows, read back 2');
  });

  it('fails on a lone surrogate, which reads back as U+FFFD (equal as bytes, not as text)', async () => {
    const values: CopyValue[][] = [[uuidV5('cut', NAMESPACE), 'cut \ud83d', null, 1]];
    const lines = await load(values);
    await expect(verifyLines(client, SPEC, values, lines)).rejects.toThrow('column title reads back differently');
  });
});
