// Shared by the parse-in-Postgres feasibility measurements: sending a JSONL file's lines to Postgres
// unparsed, and the COPY baseline each of them compares with in the same run.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';

/** COPY options under which a JSON line is one text value as it is: a quote and a delimiter no JSON line holds. */
export const RAW_LINES_COPY = `FROM STDIN WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')`;

/** The file's chunks of `size` whole lines. */
export function chunksOf(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let start = 0; start < data.length;) {
    let end = start;
    for (let n = 0; n < size && end < data.length; n++) end = data.indexOf(0x0a, end) + 1 || data.length;
    chunks.push(data.subarray(start, end));
    start = end;
  }
  return chunks;
}

/**
 * The baseline: the rows of `table` written to a file, then COPYed into an empty twin of it in one stream,
 * timed. Returns rows/s.
 */
export async function copyBaseline(client: pg.Client, table: string, label: string): Promise<number> {
  const file = join(tmpdir(), `${label}.copy`);
  try {
    await pipeline(client.query(copyTo(`COPY ${table} TO STDOUT`)), createWriteStream(file));
    const { rows: [count] } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    await client.query(`CREATE TABLE ${table}_copy (LIKE ${table} INCLUDING ALL); CHECKPOINT`);
    const started = performance.now();
    await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), client.query(copyFrom(`COPY ${table}_copy FROM STDIN`)));
    return count!.n / ((performance.now() - started) / 1000);
  } finally {
    await rm(file, { force: true });
  }
}
