// A feasibility measurement, not a part of the fleet: the upper bound of a loader that parses, validates
// and maps the legacy tasks in Postgres AND does the rest of a task chunk's work there, as the fleet must:
// rejects with a reason, parent checks, the workflow row with its SHA-256 definition hash, the field-by-field
// read-back and the chunk's ledger mark, all in the chunk's one transaction. bench/parse-in-postgres.ts
// measures the bare parse-and-map; this adds what that one leaves out, each in a simple SQL form (no
// mapping file, validation by type, enum and pattern only). Not every part is in its cheapest form: the
// read-back re-reads by primary key (INSERT … RETURNING could serve) and try_jsonb opens a subtransaction
// per line (PG16's pg_input_is_valid would not); README, Performance, weighs both.
//   node dist/bench/parse-in-postgres-full.js [--tasks 200000] [--streams 1,2] [--pg-url URL]
// (uses the bench's cached data in .bench-data/; run `npm run bench -- --tasks N` once to make it)
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
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
    // Prints the plans of chunk N's two main statements (EXPLAIN ANALYZE), each just before it runs.
    explain: { type: 'string' },
    // Leaves out the workflow rows (their insert and hash), to show their share.
    'no-workflows': { type: 'boolean', default: false },
  },
});

const NS = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
const ISO_DATE = `'^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$'`;
const ISO_TIME = `'^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$'`;
const TASK_FIELDS = `ARRAY['id','project_id','phase_id','title','description','status','priority','type','assignee','reporter',
  'estimate_hours','due_on','tags','depends_on','created_at','updated_at']`;

const SETUP = `
  CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
  CREATE TABLE projects (id uuid PRIMARY KEY, legacy_id text NOT NULL);
  CREATE TABLE phases (id uuid PRIMARY KEY, project_id uuid NOT NULL, legacy_id text NOT NULL);
  CREATE TABLE tasks (LIKE tms.tasks INCLUDING ALL);
  CREATE TABLE workflows (LIKE tms.workflows INCLUDING ALL);
  CREATE TABLE rejects (run_id text, kind text, line int, legacy_id text, field text, reason text);
  CREATE TABLE chunks (chunk_no int PRIMARY KEY, status text, migrated int, rejected int, mismatches int);
  CREATE TABLE templates (type text PRIMARY KEY, name text, version text, id uuid, definition text, run_mode text);
  -- A malformed line is a reject, not an aborted chunk: the cast runs in its own subtransaction.
  CREATE FUNCTION try_jsonb(t text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS
    $$ BEGIN RETURN t::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$;`;

// Validation with a reason per record (first failing field), parent checks, rejects, the task rows and
// their workflow rows (definition hash over the template's text and the task's canonical inputs).
const MIGRATE_CHUNK = `
  WITH v AS (
    SELECT p.n, p.j, pr.id AS project_id, ph.id AS phase_id, CASE
      WHEN p.j IS NULL THEN 'malformed JSON'
      WHEN jsonb_typeof(p.j) <> 'object' THEN 'not an object'
      WHEN jsonb_typeof(p.j->'id') IS DISTINCT FROM 'string' THEN 'id: required string'
      WHEN jsonb_typeof(p.j->'title') IS DISTINCT FROM 'string' OR p.j->>'title' = '' THEN 'title: required'
      WHEN coalesce(p.j->>'status', 'todo') NOT IN ('todo','in_progress','blocked','review','done','cancelled') THEN 'status: unknown value'
      WHEN coalesce(p.j->>'priority', 'medium') NOT IN ('low','medium','high','critical','1','2','3','4') THEN 'priority: unknown value'
      WHEN coalesce(jsonb_typeof(p.j->'estimate_hours'), 'null') NOT IN ('number', 'null')
        AND (jsonb_typeof(p.j->'estimate_hours') <> 'string' OR p.j->>'estimate_hours' !~ '^-?\\d+(\\.\\d+)?$') THEN 'estimate_hours: not a number'
      WHEN p.j->>'due_on' IS NOT NULL AND p.j->>'due_on' !~ ${ISO_DATE} THEN 'due_on: not a date'
      WHEN p.j->>'created_at' IS NOT NULL AND p.j->>'created_at' !~ ${ISO_TIME} THEN 'created_at: not a timestamp'
      WHEN p.j->>'updated_at' IS NOT NULL AND p.j->>'updated_at' !~ ${ISO_TIME} THEN 'updated_at: not a timestamp'
      WHEN coalesce(jsonb_typeof(p.j->'tags'), 'null') NOT IN ('array', 'null') THEN 'tags: not an array'
      WHEN pr.id IS NULL THEN 'project_id: names no migrated project'
      WHEN p.j->>'phase_id' IS NOT NULL AND ph.id IS NULL THEN 'phase_id: names no migrated phase'
      WHEN ph.project_id <> pr.id THEN 'phase_id: belongs to another project'
    END AS reason
    FROM parsed p
    LEFT JOIN projects pr ON pr.id = uuid_generate_v5('${NS}', 'projects:' || (p.j->>'project_id'))
    LEFT JOIN phases ph ON ph.id = uuid_generate_v5('${NS}', 'phases:' || (p.j->>'phase_id'))
  ), rej AS (
    INSERT INTO rejects SELECT 'bench', 'tasks', n, j->>'id', split_part(reason, ':', 1), reason FROM v WHERE reason IS NOT NULL RETURNING 1
  ), ins AS (
    INSERT INTO tasks (id, legacy_id, project_id, phase_id, title, description, status, priority, type, assignee,
        reporter, estimate_hours, due_on, tags, created_at, updated_at, legacy_extra, run_id, last_run_id, legacy_line)
      SELECT uuid_generate_v5('${NS}', 'tasks:' || (j->>'id')), j->>'id', project_id, phase_id, j->>'title', j->>'description',
        coalesce(j->>'status', 'todo'),
        CASE j->>'priority' WHEN '1' THEN 'low' WHEN '2' THEN 'medium' WHEN '3' THEN 'high' WHEN '4' THEN 'critical'
          ELSE coalesce(j->>'priority', 'medium') END,
        coalesce(j->>'type', 'default'), j->>'assignee', j->>'reporter', (j->>'estimate_hours')::numeric, (j->>'due_on')::date,
        CASE WHEN jsonb_typeof(j->'tags') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(j->'tags')) END,
        (j->>'created_at')::timestamptz, (j->>'updated_at')::timestamptz, nullif(j - ${TASK_FIELDS}, '{}'), 'bench', 'bench', n
      FROM v WHERE reason IS NULL
      ON CONFLICT (id) DO NOTHING
      RETURNING id, legacy_id, project_id, phase_id, title, description, status, priority, type, assignee, reporter,
        estimate_hours, due_on, tags
  ), wf AS (
    INSERT INTO workflows (id, task_id, legacy_id, template, template_version, template_id, definition_hash, run_mode, last_run_id, run_id)
      SELECT uuid_generate_v5('${NS}', 'workflows:' || i.legacy_id), i.id, i.legacy_id, t.name, t.version, t.id,
        encode(sha256(convert_to(t.definition || jsonb_build_object('id', i.id, 'legacyId', i.legacy_id, 'projectId', i.project_id,
          'phaseId', i.phase_id, 'title', i.title, 'description', i.description, 'status', i.status, 'priority', i.priority,
          'type', i.type, 'assignee', i.assignee, 'reporter', i.reporter, 'estimateHours', i.estimate_hours, 'dueOn', i.due_on,
          'tags', i.tags)::text, 'UTF8')), 'hex'), t.run_mode, 'bench', 'bench'
      FROM ins i JOIN templates t ON t.type = i.type
      WHERE ${args['no-workflows'] ? 'false' : 'true'}
      RETURNING 1
  )
  SELECT (SELECT count(*) FROM ins)::int AS migrated, (SELECT count(*) FROM rej)::int AS rejected, (SELECT count(*) FROM wf)::int AS workflows`;

// The read-back: every stored row compared field by field with its legacy record, and its workflow row present.
// Rows are found by primary-key probes (LATERAL … LIMIT 1), as src/store/lookup-by-id.ts explains.
const READ_BACK = `
  SELECT count(*)::int AS mismatches FROM parsed p
  CROSS JOIN LATERAL (SELECT * FROM tasks t WHERE t.id = uuid_generate_v5('${NS}', 'tasks:' || (p.j->>'id')) LIMIT 1) t
  LEFT JOIN LATERAL (SELECT w.id FROM workflows w WHERE w.id = uuid_generate_v5('${NS}', 'workflows:' || (p.j->>'id')) LIMIT 1) w ON true
  WHERE t.legacy_id IS DISTINCT FROM p.j->>'id' OR t.title IS DISTINCT FROM p.j->>'title'
    OR t.description IS DISTINCT FROM p.j->>'description' OR t.status IS DISTINCT FROM coalesce(p.j->>'status', 'todo')
    OR t.type IS DISTINCT FROM coalesce(p.j->>'type', 'default') OR t.assignee IS DISTINCT FROM p.j->>'assignee'
    OR t.reporter IS DISTINCT FROM p.j->>'reporter' OR t.estimate_hours IS DISTINCT FROM (p.j->>'estimate_hours')::numeric
    OR t.due_on IS DISTINCT FROM (p.j->>'due_on')::date OR t.created_at IS DISTINCT FROM (p.j->>'created_at')::timestamptz
    OR t.updated_at IS DISTINCT FROM (p.j->>'updated_at')::timestamptz
    OR t.tags IS DISTINCT FROM CASE WHEN jsonb_typeof(p.j->'tags') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(p.j->'tags')) END
    OR (w.id IS NULL AND ${args['no-workflows'] ? 'false' : 'true'})`;

async function loadParents(client: pg.Client, dir: string): Promise<void> {
  await client.query('CREATE TEMP TABLE raw_parents (raw text)');
  for (const [file, insert] of [
    ['projects.jsonl', `INSERT INTO projects SELECT uuid_generate_v5('${NS}', 'projects:' || (raw::jsonb->>'id')), raw::jsonb->>'id' FROM raw_parents`],
    ['phases.jsonl', `INSERT INTO phases SELECT uuid_generate_v5('${NS}', 'phases:' || (j->>'id')), uuid_generate_v5('${NS}', 'projects:' || (j->>'project_id')), j->>'id'
      FROM (SELECT raw::jsonb AS j FROM raw_parents) s`],
  ] as const) {
    await client.query('TRUNCATE raw_parents');
    await pipeline(createReadStream(join(dir, file)), client.query(copyFrom(`COPY raw_parents (raw) ${RAW_LINES_COPY}`)));
    await client.query(insert);
  }
  // The fleet's templates, hashed as text: ~the size of a rendered definition.
  const templates = readdirSync(join(PACKAGE_ROOT, 'config', 'templates')).filter((f) => f.endsWith('.yaml'));
  for (const file of templates) {
    const type = file.replace(/\.yaml$/, '');
    await client.query(`INSERT INTO templates VALUES ($1, $1, '1', uuid_generate_v5('${NS}', $1), $2, $3)`,
      [type, readFileSync(join(PACKAGE_ROOT, 'config', 'templates', file), 'utf8'), type === 'bug' ? 'on-migrate' : 'manual']);
  }
  await client.query('ANALYZE projects; ANALYZE phases; ANALYZE templates; CHECKPOINT');
}

/** Prints the plan of `sql` as it runs now, then rolls back what it wrote. */
async function explain(client: pg.Client, sql: string): Promise<void> {
  await client.query('SAVEPOINT explain');
  const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`);
  await client.query('ROLLBACK TO SAVEPOINT explain');
  process.stdout.write(`${rows.map((r) => r['QUERY PLAN']).join('\n')}\n\n`);
}

const stepMs = new Map<string, number>();
async function timed<T>(step: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    stepMs.set(step, (stepMs.get(step) ?? 0) + performance.now() - started);
  }
}

interface Measured { rows: number; rejected: number; mismatches: number; seconds: number; copyRowsPerSecond: number }

async function measure(serverUrl: string, dir: string, data: Buffer, streams: number): Promise<Measured> {
  const scratch = await createScratchDatabase(serverUrl, 'pgfull');
  try {
    const setup = new pg.Client({ connectionString: scratch.url });
    await setup.connect();
    await migrateToLatest(scratch.url);
    await setup.query(SETUP);
    await loadParents(setup, dir);
    const chunks = chunksOf(data, 5000);
    let next = 0;
    let mismatches = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: streams }, async () => {
      const client = new pg.Client({ connectionString: scratch.url });
      await client.connect();
      try {
        // No JIT: the planner cannot know a chunk's size (temporary tables have no statistics) and compiles for 50k rows.
        await client.query(`SET jit = off; CREATE TEMP TABLE staging (raw text) ON COMMIT DELETE ROWS;
          CREATE TEMP TABLE parsed (n int, j jsonb) ON COMMIT DELETE ROWS`);
        while (next < chunks.length) {
          const chunkNo = next;
          const chunk = chunks[next++]!;
          await client.query('BEGIN');
          await timed('copy raw lines', () => pipeline(Readable.from([chunk]), client.query(copyFrom(`COPY staging (raw) ${RAW_LINES_COPY}`))));
          await timed('parse (try_jsonb)', () => client.query('INSERT INTO parsed SELECT row_number() OVER (), try_jsonb(raw) FROM staging'));
          const explaining = args.explain !== undefined && chunkNo === Number(args.explain);
          if (explaining) await explain(client, MIGRATE_CHUNK);
          const { rows: [done] } = await timed('validate, rejects, tasks, workflows', () => client.query<{ migrated: number; rejected: number }>(MIGRATE_CHUNK));
          if (explaining) await explain(client, READ_BACK);
          const { rows: [check] } = await timed('read-back', () => client.query<{ mismatches: number }>(READ_BACK));
          mismatches += check!.mismatches;
          await client.query('INSERT INTO chunks VALUES ($1, $2, $3, $4, $5)', [chunkNo, 'done', done!.migrated, done!.rejected, check!.mismatches]);
          await timed('commit', () => client.query('COMMIT'));
        }
      } finally {
        await client.end();
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const { rows: [counts] } = await setup.query<{ rows: number; rejected: number }>(
      'SELECT (SELECT count(*) FROM tasks)::int AS rows, (SELECT count(*) FROM rejects)::int AS rejected');
    const copyRowsPerSecond = await copyBaseline(setup, 'tasks', scratch.name);
    await setup.end();
    return { rows: counts!.rows, rejected: counts!.rejected, mismatches, seconds, copyRowsPerSecond };
  } finally {
    await scratch.drop();
  }
}

const tasks = Number(args.tasks);
const dir = join(PACKAGE_ROOT, '.bench-data', `tasks-${tasks}-jsonl`);
const data = readFileSync(join(dir, 'tasks.jsonl'));
for (const streams of args.streams.split(',').map(Number)) {
  const m = await measure(args['pg-url'], dir, data, streams);
  const rate = m.rows / m.seconds;
  process.stdout.write(`parse, validate, map, ${args['no-workflows'] ? 'NO workflow rows' : 'workflow rows'} and read-back in Postgres, ${streams} stream(s): ${m.rows} task rows `
    + `(${m.rejected} rejected, ${m.mismatches} read-back mismatches) in ${m.seconds.toFixed(1)} s = ${rate.toFixed(0)} rows/s; `
    + `COPY of the same rows (1 stream, same run): ${m.copyRowsPerSecond.toFixed(0)} rows/s; ratio ${(rate / m.copyRowsPerSecond).toFixed(2)}\n`);
  // Summed over the streams: with two, each step's share of the time, not wall time.
  const total = [...stepMs.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`  time per step: ${[...stepMs].map(([step, ms]) => `${step} ${(100 * ms / total).toFixed(0)}%`).join(', ')}\n`);
  stepMs.clear();
}
