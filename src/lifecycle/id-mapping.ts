// The ID mapping export: legacy id -> new id per kind, for the rows a run migrated, as one JSON file
//   {"runId": "...", "projects": {"<legacy id>": "<uuid>", ...}, "phases": {...}, "tasks": {...}}
// Rows are read through a cursor in batches and written as they come (with backpressure), so a million
// entries never become a million objects; the file appears under its name only once complete.
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { ENTITY_KINDS, type EntityKind } from '../legacy/kinds.js';
import type { Pool } from '../store/pool.js';
import { makeDirectory } from '../make-directory.js';

export const DEFAULT_ID_MAPPING_FILE = 'reports/id-mapping.json';

const FETCH_ROWS = 10_000;

export type IdMappingCounts = Record<EntityKind, number>;

async function write(out: WriteStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** Writes the mapping of the rows run `runId` migrated (created or last wrote) to `file`; returns the entries per kind. */
export async function exportIdMapping(db: Pool, runId: string, file: string): Promise<IdMappingCounts> {
  const path = resolve(file);
  await makeDirectory(dirname(path));
  const partial = `${path}.partial`;
  const out = createWriteStream(partial);
  const counts: IdMappingCounts = { projects: 0, phases: 0, tasks: 0 };
  const client = await db.connect();
  try {
    // One snapshot for the three kinds.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await write(out, `{"runId": ${JSON.stringify(runId)}`);
    for (const kind of ENTITY_KINDS) {
      await write(out, `,\n${JSON.stringify(kind)}: {`);
      await client.query(`DECLARE id_map NO SCROLL CURSOR FOR
        SELECT legacy_id, id::text AS id FROM tms.${kind} WHERE run_id = $1 OR last_run_id = $1 ORDER BY legacy_line`, [runId]);
      for (;;) {
        const { rows } = await client.query<{ legacy_id: string; id: string }>(`FETCH ${FETCH_ROWS} FROM id_map`);
        if (rows.length === 0) break;
        let text = '';
        for (const row of rows) {
          text += `${counts[kind] === 0 ? '' : ','}\n  ${JSON.stringify(row.legacy_id)}: ${JSON.stringify(row.id)}`;
          counts[kind]++;
        }
        await write(out, text);
      }
      await client.query('CLOSE id_map');
      await write(out, counts[kind] === 0 ? '}' : '\n}');
    }
    await write(out, '\n}\n');
    await client.query('COMMIT');
    out.end();
    await finished(out);
    await rename(partial, path);
    return counts;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    out.destroy();
    await rm(partial, { force: true });
    throw err;
  } finally {
    client.release();
  }
}
