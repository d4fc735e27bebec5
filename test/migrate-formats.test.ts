// Acceptance 1 and 2, end to end through the built CLI against real Redis and Postgres.
//
// 1. For each legacy format (json, jsonl, csv), 100k generated tasks migrate with two worker processes;
//    then EVERY legacy record is compared, field by field, with its new row through ledger.id_map, using
//    this file's own reading of the legacy files (JSON.parse / csv-parse) and its own SQL — nothing of
//    the fleet's normalizer or verifier. Dependency edges are compared as sets of legacy id pairs.
// 2. Re-running is a no-op: the same command and `resume` on the completed run write nothing
//    (pg_stat_user_tables and xmin/ctid fingerprints); a second run under another --run-id changes no value.
//
// Each format gets a database of its own (the generated legacy ids are the same in every format), all
// created and dropped by this file; one queue prefix for the file.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs } from './helpers/cli.js';
import { entityCounts, rowContents, rowVersions, writeCounters } from './helpers/ledger.js';
import {
  asText, declaredEdges, firstOf, jsonLines, listItems, readLegacyDir, runFleet, summaryOf,
  type LegacyDir, type LegacyFormat,
} from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const SIZE = { projects: 1000, phasesPerProject: 10, tasks: 100_000 };
const FORMATS: readonly LegacyFormat[] = ['jsonl', 'json', 'csv'];

// ---- the mapping file, read independently -----------------------------------------------------------

interface MappingFile {
  values?: { tasks?: { priority?: Record<string, string> } };
  defaults: { projects: { status: string }; phases: { status: string }; tasks: { status: string; priority: string; type: string } };
}
const MAPPING = parseYaml(
  await readFile(fileURLToPath(new URL('../config/legacy-mapping.yaml', import.meta.url)), 'utf8'),
) as MappingFile;
const PRIORITY_VALUES = MAPPING.values?.tasks?.priority ?? {};

// The contract's field names (docs/legacy-format.md); anything else belongs in legacy_extra.
const KNOWN: Record<'projects' | 'phases' | 'tasks', ReadonlySet<string>> = {
  projects: new Set(['id', 'key', 'name', 'description', 'owner', 'status', 'created_at', 'updated_at']),
  phases: new Set(['id', 'project_id', 'name', 'position', 'status', 'starts_on', 'ends_on', 'created_at', 'updated_at']),
  tasks: new Set([
    'id', 'project_id', 'phase_id', 'title', 'description', 'status', 'priority', 'type', 'assignee', 'reporter',
    'estimate_hours', 'due_on', 'tags', 'depends_on', 'created_at', 'updated_at',
  ]),
};

// ---- expected values from legacy values ---------------------------------------------------------------

const present = (v: unknown): boolean => v !== null && v !== undefined && v !== '';
const text = (v: unknown): string | null => (v === null || v === undefined ? null : asText(v));
const orDefault = (v: unknown, fallback: string): string => (present(v) ? asText(v).trim() : fallback);

/** Epoch milliseconds of a legacy ISO 8601 timestamp; a timestamp without an offset is UTC. */
function instant(v: unknown): number | null {
  if (!present(v)) return null;
  const s = asText(v).trim();
  const withZone = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/.test(s.slice(10)) ? s : `${s}Z`;
  const ms = Date.parse(withZone);
  if (Number.isNaN(ms)) throw new Error(`legacy timestamp ${s} does not parse`);
  return ms;
}

function priorityOf(v: unknown): string {
  if (!present(v)) return MAPPING.defaults.tasks.priority;
  const s = asText(v).trim();
  return PRIORITY_VALUES[s] ?? s;
}

/** Unknown fields with a value ("no value" — absent, null, empty CSV field — is the same as absent). */
function extrasOf(fields: Record<string, unknown>, known: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (!known.has(k) && v !== null && v !== undefined) out[k] = v;
  return out;
}

/** JSON text with object keys sorted, for order-free deep comparison. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

// ---- the new system's rows, with this file's own SQL ------------------------------------------------

interface IdMap {
  /** kind -> legacy id -> new id */
  byLegacy: Record<'projects' | 'phases' | 'tasks', Map<string, string>>;
  /** new task id -> legacy id */
  taskLegacy: Map<string, string>;
  duplicates: string[];
  runIds: Set<string>;
}

async function loadIdMap(pool: pg.Pool): Promise<IdMap> {
  const { rows } = await pool.query<{ kind: 'projects' | 'phases' | 'tasks'; legacy_id: string; new_id: string; run_id: string }>(
    'SELECT kind, legacy_id, new_id::text AS new_id, run_id FROM ledger.id_map');
  const map: IdMap = { byLegacy: { projects: new Map(), phases: new Map(), tasks: new Map() }, taskLegacy: new Map(), duplicates: [], runIds: new Set() };
  for (const r of rows) {
    const byLegacy = map.byLegacy[r.kind];
    if (byLegacy.has(r.legacy_id)) map.duplicates.push(`${r.kind} ${r.legacy_id}`);
    byLegacy.set(r.legacy_id, r.new_id);
    if (r.kind === 'tasks') map.taskLegacy.set(r.new_id, r.legacy_id);
    map.runIds.add(r.run_id);
  }
  return map;
}

type DbRow = Record<string, unknown> & { id: string; legacy_id: string; legacy_line: number };

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8 AS ${column}`;
const SELECTS: Record<'projects' | 'phases' | 'tasks', string> = {
  projects: `SELECT id::text, legacy_id, key, name, description, owner, status, ${ms('created_at')}, ${ms('updated_at')},
    legacy_extra, run_id, legacy_line FROM tms.projects`,
  phases: `SELECT id::text, legacy_id, project_id::text, name, position, status, starts_on::text, ends_on::text,
    ${ms('created_at')}, ${ms('updated_at')}, legacy_extra, run_id, legacy_line FROM tms.phases`,
  tasks: `SELECT id::text, legacy_id, project_id::text, phase_id::text, title, description, status, priority, type,
    assignee, reporter, estimate_hours::text, due_on::text, tags, ${ms('created_at')}, ${ms('updated_at')},
    legacy_extra, run_id, legacy_line FROM tms.tasks`,
};

async function loadRows(pool: pg.Pool, kind: 'projects' | 'phases' | 'tasks'): Promise<Map<string, DbRow>> {
  const { rows } = await pool.query<DbRow>(SELECTS[kind]);
  return new Map(rows.map((r) => [r.id, r]));
}

// ---- the comparison ---------------------------------------------------------------------------------

type Expectation = [field: string, expected: unknown, actual: unknown];

function expectedFields(
  kind: 'projects' | 'phases' | 'tasks', f: Record<string, unknown>, row: DbRow, idMap: IdMap,
): Expectation[] {
  const common: Expectation[] = [
    ['created_at', instant(f.created_at), row.created_at],
    ['updated_at', instant(f.updated_at), row.updated_at],
    ['legacy_extra', canonical(extrasOf(f, KNOWN[kind])), canonical(extrasOf((row.legacy_extra ?? {}) as Record<string, unknown>, new Set()))],
  ];
  if (kind === 'projects') {
    return [
      ['key', text(f.key), row.key], ['name', text(f.name), row.name], ['description', text(f.description), row.description],
      ['owner', text(f.owner), row.owner], ['status', orDefault(f.status, MAPPING.defaults.projects.status), row.status],
      ...common,
    ];
  }
  if (kind === 'phases') {
    return [
      ['project_id', idMap.byLegacy.projects.get(asText(f.project_id)) ?? `(no id_map entry for project ${asText(f.project_id)})`, row.project_id],
      ['name', text(f.name), row.name],
      ['position', present(f.position) ? Number(f.position) : null, row.position],
      ['status', orDefault(f.status, MAPPING.defaults.phases.status), row.status],
      ['starts_on', text(f.starts_on), row.starts_on], ['ends_on', text(f.ends_on), row.ends_on],
      ...common,
    ];
  }
  const phase = present(f.phase_id) ? idMap.byLegacy.phases.get(asText(f.phase_id)) ?? `(no id_map entry for phase ${asText(f.phase_id)})` : null;
  return [
    ['project_id', idMap.byLegacy.projects.get(asText(f.project_id)) ?? `(no id_map entry for project ${asText(f.project_id)})`, row.project_id],
    ['phase_id', phase, row.phase_id],
    ['title', text(f.title), row.title], ['description', text(f.description), row.description],
    ['status', orDefault(f.status, MAPPING.defaults.tasks.status), row.status],
    ['priority', priorityOf(f.priority), row.priority],
    ['type', orDefault(f.type, MAPPING.defaults.tasks.type), row.type],
    ['assignee', text(f.assignee), row.assignee], ['reporter', text(f.reporter), row.reporter],
    ['estimate_hours', present(f.estimate_hours) ? Number(f.estimate_hours) : null, row.estimate_hours === null ? null : Number(row.estimate_hours)],
    ['due_on', text(f.due_on), row.due_on],
    ['tags', canonical(listItems(f.tags)), canonical(row.tags)],
    ...common,
  ];
}

/** Compares every legacy record of a kind with its row; returns mismatch descriptions. */
function compareKind(
  kind: 'projects' | 'phases' | 'tasks', legacy: LegacyDir, idMap: IdMap, rows: Map<string, DbRow>,
): { mismatches: string[]; matched: number } {
  const mismatches: string[] = [];
  const file = legacy.files[kind]!;
  const seenRows = new Set<string>();
  for (const record of legacy.records[kind]) {
    const where = `${file}:${record.line}`;
    const f = record.fields;
    if (!f) { mismatches.push(`${where}: the test could not parse this good record`); continue; }
    const legacyId = asText(f.id);
    const newId = idMap.byLegacy[kind].get(legacyId);
    if (!newId) { mismatches.push(`${where} ${legacyId}: not in ledger.id_map`); continue; }
    const row = rows.get(newId);
    if (!row) { mismatches.push(`${where} ${legacyId}: id_map names ${newId}, which is not in tms.${kind}`); continue; }
    if (seenRows.has(newId)) mismatches.push(`${where} ${legacyId}: maps to row ${newId} that another record already mapped to`);
    seenRows.add(newId);
    const checks: Expectation[] = [['legacy_id', legacyId, row.legacy_id], ['legacy_line', record.line, row.legacy_line], ...expectedFields(kind, f, row, idMap)];
    for (const [field, expected, actual] of checks) {
      if (expected !== actual) mismatches.push(`${where} ${legacyId} ${field}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
  }
  for (const id of rows.keys()) if (!seenRows.has(id)) mismatches.push(`tms.${kind} row ${id} (${rows.get(id)!.legacy_id}) matches no legacy record`);
  return { mismatches, matched: seenRows.size };
}

// ---- suite -----------------------------------------------------------------------------------------

const prefix = uniquePrefix('formats');
let root: string;
const databases: TestDatabase[] = [];

interface Migrated { db: TestDatabase; dir: string; args: string[]; runId: string }
const migrated = new Map<LegacyFormat, Migrated>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-formats-'));
});

afterAll(async () => {
  for (const db of databases) await db.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

describe.each(FORMATS)('migrate %s: 100k tasks with 2 workers', (format) => {
  it('migrates every record and every edge; each new row equals its legacy record, field by field', async () => {
    const started = Date.now();
    const db = await createTestDatabase(`formats_${format}`);
    databases.push(db);
    const dir = join(root, format);
    await generateLegacyData({ out: dir, format, ...SIZE, badRatio: 0, dependencies: true, dependencyFile: true });
    const generatedAt = Date.now();

    const args = ['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', '--json'];
    const result = await runFleet(db.pool, args);
    const migratedAt = Date.now();
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const summary = summaryOf(result);
    expect(summary.status).toBe('completed');
    migrated.set(format, { db, dir, args, runId: summary.runId });

    // Own reading of the legacy files and own counts.
    const legacy = await readLegacyDir(dir, format);
    const { edges, legacyCount: edgeCount } = declaredEdges(legacy);
    const ownLegacy = {
      projects: legacy.records.projects.length,
      phases: legacy.records.phases.length,
      tasks: legacy.records.tasks.length,
      task_dependencies: edgeCount,
    };
    expect(ownLegacy).toMatchObject({ projects: SIZE.projects, phases: SIZE.projects * SIZE.phasesPerProject, tasks: SIZE.tasks });
    expect(edgeCount).toBeGreaterThan(SIZE.tasks); // dependencies and the task_dependencies file are in play
    expect(legacy.records.task_dependencies.length).toBeGreaterThan(0);
    expect(summary.kinds).toEqual([
      { kind: 'projects', legacy: ownLegacy.projects, migrated: ownLegacy.projects, rejected: 0 },
      { kind: 'phases', legacy: ownLegacy.phases, migrated: ownLegacy.phases, rejected: 0 },
      { kind: 'tasks', legacy: ownLegacy.tasks, migrated: ownLegacy.tasks, rejected: 0 },
      { kind: 'task_dependencies', legacy: edgeCount, migrated: edgeCount, rejected: 0 },
    ]);

    // Row counts equal legacy counts, no legacy id twice.
    const counts = await entityCounts(db.pool);
    expect(counts).toEqual({
      projects: { rows: ownLegacy.projects, distinctLegacy: ownLegacy.projects },
      phases: { rows: ownLegacy.phases, distinctLegacy: ownLegacy.phases },
      tasks: { rows: ownLegacy.tasks, distinctLegacy: ownLegacy.tasks },
      task_dependencies: { rows: edgeCount, distinctLegacy: edgeCount },
    });
    const { rows: [rejects] } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger.rejects');
    expect(rejects!.n).toBe(0);

    // Field by field, through ledger.id_map.
    const idMap = await loadIdMap(db.pool);
    expect(idMap.duplicates).toEqual([]);
    expect([...idMap.runIds]).toEqual([summary.runId]);
    for (const kind of ['projects', 'phases', 'tasks'] as const) {
      const rows = await loadRows(db.pool, kind);
      const { mismatches, matched } = compareKind(kind, legacy, idMap, rows);
      expect(firstOf(mismatches), `${kind}: ${mismatches.length} mismatches`).toEqual([]);
      expect(matched).toBe(ownLegacy[kind]);
    }

    // Dependency edges: (task, depends_on) legacy pairs from depends_on + task_dependencies, against
    // tms.task_dependencies mapped back through id_map.
    const expectedEdges = new Set(edges.map((e) => `${e.task}->${e.dependsOn}`));
    expect(expectedEdges.size, 'good data declares no edge twice').toBe(edges.length);
    const { rows: dbEdges } = await db.pool.query<{ task_id: string; depends_on_id: string }>(
      'SELECT task_id::text, depends_on_id::text FROM tms.task_dependencies');
    const actualEdges = new Set<string>();
    const unmapped: string[] = [];
    for (const e of dbEdges) {
      const task = idMap.taskLegacy.get(e.task_id);
      const dep = idMap.taskLegacy.get(e.depends_on_id);
      if (!task || !dep) unmapped.push(`${e.task_id}->${e.depends_on_id}`);
      else actualEdges.add(`${task}->${dep}`);
    }
    expect(firstOf(unmapped), 'edges whose ends are not in ledger.id_map').toEqual([]);
    expect(actualEdges.size).toBe(dbEdges.length);
    expect(firstOf([...expectedEdges].filter((e) => !actualEdges.has(e))), 'legacy edges missing').toEqual([]);
    expect(firstOf([...actualEdges].filter((e) => !expectedEdges.has(e))), 'edges not in the legacy data').toEqual([]);

    const done = Date.now();
    console.info(`[${format}] generate ${generatedAt - started} ms, migrate ${migratedAt - generatedAt} ms, compare ${done - migratedAt} ms, total ${done - started} ms`);
  });
});

// ---- acceptance 2: re-running writes nothing --------------------------------------------------------

/** Fingerprint of every row version in the ledger's tables (own SQL, like rowVersions for tms). */
async function ledgerVersions(pool: pg.Pool): Promise<string> {
  const parts: string[] = [];
  for (const table of ['runs', 'run_files', 'chunks', 'rejects']) {
    const { rows } = await pool.query<{ v: string | null }>(
      `SELECT md5(string_agg(ctid::text || ':' || xmin::text, ',' ORDER BY ctid)) AS v FROM ledger.${table}`);
    parts.push(`${table}=${rows[0]?.v ?? ''}`);
  }
  return parts.join(' ');
}

interface Snapshot { counters: Record<string, number>; versions: string; ledger: string }
async function snapshot(pool: pg.Pool): Promise<Snapshot> {
  return { counters: await writeCounters(pool), versions: await rowVersions(pool), ledger: await ledgerVersions(pool) };
}

describe('re-running a completed migration (jsonl data set)', () => {
  const subject = (): Migrated => {
    const m = migrated.get('jsonl');
    if (!m) throw new Error('the jsonl migration above did not complete');
    return m;
  };

  it('the same migrate command again is a no-op: exit 0, reports the existing run, writes nothing', async () => {
    const { db, args, runId } = subject();
    const before = await snapshot(db.pool);
    // Sanity: the counters do see the first run's writes, so "unchanged" below can fail.
    expect(before.counters.tasks).toBeGreaterThanOrEqual(SIZE.tasks);

    const again = await runFleet(db.pool, args);
    expect(again.code, again.stderr.slice(-3000)).toBe(0);
    const summary = summaryOf(again);
    expect(summary.runId).toBe(runId);
    expect(summary.status).toBe('completed');
    const notes = jsonLines(again.stdout).filter((e) => e.event === 'note').map((e) => String(e.message));
    expect(notes.some((m) => m.includes(runId) && /already completed/.test(m)), notes.join('\n')).toBe(true);

    const after = await snapshot(db.pool);
    expect(after.counters).toEqual(before.counters);
    expect(after.versions).toBe(before.versions);
    expect(after.ledger).toBe(before.ledger);
  });

  it('`taskfleet resume RUN` on the completed run writes nothing', async () => {
    const { db, runId } = subject();
    const before = await snapshot(db.pool);
    const resumed = await runFleet(db.pool, ['resume', runId, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', '--json']);
    expect(resumed.code, resumed.stderr.slice(-3000)).toBe(0);
    const summary = summaryOf(resumed);
    expect(summary).toMatchObject({ runId, status: 'completed', balanced: true, rejected: 0 });
    const after = await snapshot(db.pool);
    expect(after.counters).toEqual(before.counters);
    expect(after.versions).toBe(before.versions);
    expect(after.ledger).toBe(before.ledger);
  });

  it('a second run under another --run-id over the same data completes and changes no value', async () => {
    const { db, args, runId } = subject();
    const contents = await rowContents(db.pool);
    const secondId = `second-${Date.now()}`;
    const second = await runFleet(db.pool, [...args, '--run-id', secondId]);
    expect(second.code, second.stderr.slice(-3000)).toBe(0);
    const summary = summaryOf(second);
    expect(summary.runId).toBe(secondId);
    expect(summary.status).toBe('completed');
    const status = await runFleet(db.pool, ['status', runId, ...connectionArgs(db, prefix, REDIS_URL), '--json']);
    expect(status.code, status.stderr).toBe(0);
    const first = JSON.parse(status.stdout) as { run: { id: string; status: string }; summary: { kind: string; legacy: number }[] };
    expect(first.run).toMatchObject({ id: runId, status: 'completed' });
    // The second run accounts for the same legacy records, and rejects none of them.
    expect(summary.kinds.map((k) => [k.kind, k.legacy, k.rejected])).toEqual(first.summary.map((k) => [k.kind, k.legacy, 0]));
    for (const k of summary.kinds) expect(k.legacy, k.kind).toBe(k.migrated + k.rejected);

    // No value of the new system changed; rows still carry the run that created them, and are marked
    // as last migrated by the second run (last_run_id, for duplicate detection within a run).
    expect(await rowContents(db.pool)).toBe(contents);
    const { rows: marks } = await db.pool.query<{ last_run_id: string }>('SELECT DISTINCT last_run_id FROM tms.tasks');
    expect(marks).toEqual([{ last_run_id: secondId }]);
    const { rows } = await db.pool.query<{ run_id: string; n: number }>('SELECT run_id, count(*)::int AS n FROM ledger.id_map GROUP BY run_id');
    expect(rows.map((r) => r.run_id)).toEqual([runId]);
    const { rows: [deps] } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tms.task_dependencies WHERE run_id <> $1', [runId]);
    expect(deps!.n).toBe(0);
  });
});
