// A feasibility measurement, not a part of the fleet: how fast a loader goes when Postgres, not Node,
// parses and maps the legacy records. Each 5000-line chunk of tasks.jsonl is sent as it is (COPY in CSV
// mode with a quote and a delimiter no JSON line holds, so the bytes need no escaping) into a staging
// table, then one INSERT … SELECT parses it as jsonb and maps it (UUIDv5 ids, enum defaults, casts)
// into a twin of tms.tasks. No validation with reasons, no rejects, no read-back, no workflow
// rows: it bounds from above what such a design could reach, next to a plain COPY of the same rows.
// bench/parse-in-postgres-full.ts adds the rest of a chunk's work to it.
//   node dist/bench/parse-in-postgres.js [--tasks 200000] [--streams 1,2] [--pg-url URL]
// (uses the bench's cached data in .bench-data/; run `npm run bench -- --tasks N` once to make it)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { migrateToLatest } from '../db/migrate.js';
import { PACKAGE_ROOT } from '../src/config/package-root.js';
import { chunksOf, copyBaseline, RAW_LINES_COPY } from './raw-lines.js';
import { createScratchDatabase } from './scratch-database.js';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '200000' },
    streams: { type: 'string', default: '1,2' },
    'pg-url': { type: 'string', default: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});

const NAMESPACE = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
const MAP_STAGED = `INSERT INTO tasks (id, legacy_id, project_id, phase_id, title, description, status, priority, type, assignee,
    reporter, estimate_hours, due_on, tags, created_at, updated_at, legacy_extra, run_id, last_run_id, legacy_line)
  SELECT uuid_generate_v5('${NAMESPACE}', j->>'id'), j->>'id', uuid_generate_v5('${NAMESPACE}', j->>'project_id'),
    uuid_generate_v5('${NAMESPACE}', j->>'phase_id'), j->>'title', j->>'description', coalesce(j->>'status', 'todo'),
    CASE j->>'priority' WHEN '1' THEN 'low' WHEN '2' THEN 'medium' WHEN '3' THEN 'high' WHEN '4' THEN 'critical'
      ELSE coalesce(j->>'priority', 'medium') END,
    coalesce(j->>'type', 'default'), j->>'assignee', j->>'reporter', (j->>'estimate_hours')::numeric, (j->>'due_on')::date,
    ARRAY(SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(j->'tags') = 'array' THEN j->'tags' ELSE '[]' END)),
    (j->>'created_at')::timestamptz, (j->>'updated_at')::timestamptz, NULL, 'bench', 'bench', n::int
  FROM (SELECT raw::jsonb AS j, row_number() OVER () AS n FROM staging) s`;

async function measure(serverUrl: string, data: Buffer, streams: number): Promise<{ rows: number; seconds: number; copyRowsPerSecond: number }> {
  const scratch = await createScratchDatabase(serverUrl, 'pgparse');
  try {
    const setup = new pg.Client({ connectionString: scratch.url });
    await setup.connect();
    // The fleet's own schema, so the table is tms.tasks's twin (columns, checks, primary key).
    await migrateToLatest(scratch.url);
    await setup.query('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"; CREATE TABLE tasks (LIKE tms.tasks INCLUDING ALL); CHECKPOINT');
    const chunks = chunksOf(data, 5000);
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: streams }, async () => {
      const client = new pg.Client({ connectionString: scratch.url });
      await client.connect();
      try {
        await client.query('CREATE TEMP TABLE staging (raw text) ON COMMIT DELETE ROWS');
        while (next < chunks.length) {
          const chunk = chunks[next++]!;
          await client.query('BEGIN');
          await pipeline(Readable.from([chunk]), client.query(copyFrom(`COPY staging (raw) ${RAW_LINES_COPY}`)));
          await client.query(MAP_STAGED);
          await client.query('COMMIT');
        }
      } finally {
        await client.end();
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const rows = Number((await setup.query<{ n: string }>('SELECT count(*) AS n FROM tasks')).rows[0]!.n);
    const copyRowsPerSecond = await copyBaseline(setup, 'tasks', scratch.name);
    await setup.end();
    return { rows, seconds, copyRowsPerSecond };
  } finally {
    await scratch.drop();
  }
}

const tasks = Number(args.tasks);
const data = readFileSync(join(PACKAGE_ROOT, '.bench-data', `tasks-${tasks}-jsonl`, 'tasks.jsonl'));
for (const streams of args.streams.split(',').map(Number)) {
  const { rows, seconds, copyRowsPerSecond } = await measure(args['pg-url'], data, streams);
  const rate = rows / seconds;
  process.stdout.write(`parse and map in Postgres, ${streams} stream(s): ${rows} task rows in ${seconds.toFixed(1)} s = ${rate.toFixed(0)} rows/s; `
    + `COPY of the same rows (1 stream, same run): ${copyRowsPerSecond.toFixed(0)} rows/s; ratio ${(rate / copyRowsPerSecond).toFixed(2)}\n`);
}
