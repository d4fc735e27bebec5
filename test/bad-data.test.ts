// Acceptance 5: legacy data with bad records (--bad-ratio 0.02), end to end through the built CLI
// against real Redis and Postgres.
//
// The run completes (exit 0; non-zero with --max-rejects 0, naming the count); the ledger's rejects are
// exactly the generator's `_expected_rejects.jsonl` (same kind and ref, file and line, a reason);
// for every kind legacy = migrated + rejected, in the summary and in this file's own counts; every good
// record and every good edge is migrated, from its own line; `taskfleet rejects RUN` lists them all.
//
// The legacy files are read with this file's own parsing (test/helpers/legacy-files.ts) and the
// database with its own SQL. Each format gets a database of its own, created and dropped here.
//
// These tests caught, and now guard against: two chunks of one run holding the same legacy id racing
// on the upsert path (the later duplicate lost or overwriting the original), a displaced duplicate edge
// named with the wrong field, and a second run's duplicates overwriting rows (see src/store/claim-rows.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData, type ExpectedReject } from '../src/generator/generate.js';
import { findRun } from '../src/ledger/runs.js';
import { progressReport } from '../src/ledger/progress-report.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { rowContents } from './helpers/ledger.js';
import {
  asText, declaredEdges, firstOf, KIND_NAMES, readExpectedRejects, readLegacyDir, runFleet, summaryOf,
  type LegacyDir, type LegacyFormat, type SummaryEvent,
} from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const SIZE = { projects: 100, phasesPerProject: 5, tasks: 10_000 };
// Four task chunks, as 20k tasks in default chunks had: duplicate ids span chunks that run at once.
const CHUNKS = ['--chunk-size', '2500'];
const BAD_RATIO = 0.02;
const FORMATS: readonly LegacyFormat[] = ['jsonl', 'csv', 'json'];
const ENTITY_KINDS = ['projects', 'phases', 'tasks'] as const;

const prefix = uniquePrefix('bad_data');
let root: string;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-bad-data-'));
});

afterAll(async () => {
  for (const db of databases) await db.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

interface StoredReject {
  kind: string;
  ref: string;
  file_name: string;
  line: number;
  legacy_id: string | null;
  field: string | null;
  reason: string;
}

const key = (kind: string, ref: string): string => `${kind} ${ref}`;
/** `tasks.jsonl:123` or `tasks.jsonl:123#depends_on[0]` -> file and line. */
const REF = /^(.+):(\d+)(?:#depends_on\[\d+\])?$/;

describe.each(FORMATS)('%s data with bad records (bad ratio 0.02)', (format) => {
  let db: TestDatabase;
  let dir: string;
  let args: string[];
  let legacy: LegacyDir;
  let expected: ExpectedReject[];
  let expectedByKey: Map<string, ExpectedReject>;
  let run: { code: number | null; stderr: string; summary: SummaryEvent };
  let stored: StoredReject[];

  beforeAll(async () => {
    db = await createTestDatabase(`bad_data_${format}`);
    databases.push(db);
    dir = join(root, format);
    await generateLegacyData({ out: dir, format, ...SIZE, badRatio: BAD_RATIO, dependencies: true, dependencyFile: true });
    legacy = await readLegacyDir(dir, format);
    expected = await readExpectedRejects(dir);
    expectedByKey = new Map(expected.map((e) => [key(e.kind, e.ref), e]));
    args = ['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', ...CHUNKS, '--json'];
    const started = Date.now();
    const result = await runFleet(db.pool, args);
    console.info(`[${format}] migrate of ${legacy.records.tasks.length} task records: ${Date.now() - started} ms, exit ${String(result.code)}`);
    run = { code: result.code, stderr: result.stderr, summary: summaryOf(result) };
    stored = (await db.pool.query<StoredReject>(
      'SELECT kind, ref, file_name, line, legacy_id, field, reason FROM ledger.rejects WHERE run_id = $1', [run.summary.runId])).rows;
  });

  it('completes with exit 0 and rejects some of every kind', () => {
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    expect(run.summary.status).toBe('completed');
    expect(run.summary.balanced).toBe(true);
    // The data set really is bad in every kind, so the checks below have something to find.
    for (const kind of KIND_NAMES) expect(expected.filter((e) => e.kind === kind).length, kind).toBeGreaterThan(0);
    expect(expected.length).toBeGreaterThan(SIZE.tasks * BAD_RATIO);
  });

  it('rejects exactly the records of _expected_rejects.jsonl: same kind and ref, file and line, a reason', () => {
    const actualByKey = new Map(stored.map((r) => [key(r.kind, r.ref), r]));
    expect(actualByKey.size, 'one ledger reject per kind and ref').toBe(stored.length);
    const missing = expected.filter((e) => !actualByKey.has(key(e.kind, e.ref))).map((e) => `${e.kind} ${e.ref} (${e.class}, field ${String(e.field)})`);
    const unexpected = stored.filter((r) => !expectedByKey.has(key(r.kind, r.ref))).map((r) => `${r.kind} ${r.ref} ${r.field ?? '-'}: ${r.reason}`);
    // Guards the duplicate race: duplicate rejects must not go missing, nor cascade into
    // "task … was rejected" edge rejects.
    expect(
      { missing: firstOf(missing), unexpected: firstOf(unexpected) },
      `${missing.length} expected rejects are not in ledger.rejects; ${unexpected.length} ledger rejects are not expected`,
    ).toEqual({ missing: [], unexpected: [] });

    const wrong: string[] = [];
    for (const r of stored) {
      const m = REF.exec(r.ref);
      if (!m || m[1] !== r.file_name || Number(m[2]) !== r.line) wrong.push(`${r.kind} ${r.ref}: file_name ${r.file_name}, line ${r.line} do not match the ref`);
      if (r.reason.trim() === '') wrong.push(`${r.kind} ${r.ref}: empty reason`);
      const e = expectedByKey.get(key(r.kind, r.ref));
      if (e && (e.file !== r.file_name || e.line !== r.line)) wrong.push(`${r.kind} ${r.ref}: expected ${e.file}:${e.line}, ledger says ${r.file_name}:${r.line}`);
    }
    expect(firstOf(wrong)).toEqual([]);
  });

  it('names, for each reject, the field and legacy id the generator promises', () => {
    // Conventions shared by _expected_rejects.jsonl and the ledger (src/generator/generate.ts header).
    const actualByKey = new Map(stored.map((r) => [key(r.kind, r.ref), r]));
    const wrong: string[] = [];
    for (const e of expected) {
      const r = actualByKey.get(key(e.kind, e.ref));
      if (!r) continue; // reported by the test above
      if (r.field !== e.field) wrong.push(`${e.ref} (${e.class}): field expected ${String(e.field)}, got ${String(r.field)}`);
      if (r.legacy_id !== e.legacyId) wrong.push(`${e.ref} (${e.class}): legacy id expected ${String(e.legacyId)}, got ${String(r.legacy_id)}`);
    }
    // A displaced task_dependencies duplicate is named by its own field, depends_on_id.
    expect(firstOf(wrong), `${wrong.length} rejects name another field or legacy id`).toEqual([]);
  });

  it('accounts for every record: legacy = migrated + rejected per kind, in the summary and in the test\'s own counts', async () => {
    const runId = run.summary.runId;
    const own: Record<string, { legacy: number; migrated: number; rejected: number }> = {};
    for (const kind of ENTITY_KINDS) {
      const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.${kind} WHERE run_id = $1`, [runId]);
      own[kind] = { legacy: legacy.records[kind].length, migrated: rows[0]!.n, rejected: 0 };
    }
    const { rows: edges } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tms.task_dependencies WHERE run_id = $1', [runId]);
    own.task_dependencies = { legacy: declaredEdges(legacy).legacyCount, migrated: edges[0]!.n, rejected: 0 };
    for (const r of stored) own[r.kind]!.rejected++;

    // The test's reading of the files agrees with what the generator says it wrote.
    expect(Object.fromEntries(KIND_NAMES.map((k) => [k, own[k]!.legacy]))).toEqual(legacy.summary.legacy);
    // Guards the duplicate race: a dropped duplicate would be neither a row nor a reject.
    for (const kind of KIND_NAMES) {
      const o = own[kind]!;
      expect(o.legacy, `${kind}: legacy ${o.legacy} != migrated ${o.migrated} + rejected ${o.rejected}`).toBe(o.migrated + o.rejected);
      expect(o.rejected, kind).toBe(expected.filter((e) => e.kind === kind).length);
    }
    expect(run.summary.kinds).toEqual(KIND_NAMES.map((kind) => ({ kind, ...own[kind] })));
  });

  it('migrates every good record from its own line, and every good edge', async () => {
    const problems: string[] = [];
    const { rows: map } = await db.pool.query<{ kind: string; legacy_id: string; new_id: string; run_id: string }>(
      'SELECT kind, legacy_id, new_id::text AS new_id, run_id FROM ledger.id_map');
    const idMap = new Map<string, string>(); // `${kind} ${legacy id}` -> new id
    const taskLegacy = new Map<string, string>();
    for (const m of map) {
      if (idMap.has(key(m.kind, m.legacy_id))) problems.push(`id_map holds ${m.kind} ${m.legacy_id} twice`);
      idMap.set(key(m.kind, m.legacy_id), m.new_id);
      if (m.kind === 'tasks') taskLegacy.set(m.new_id, m.legacy_id);
    }

    for (const kind of ENTITY_KINDS) {
      const { rows } = await db.pool.query<{ id: string; legacy_line: number }>(`SELECT id::text, legacy_line FROM tms.${kind}`);
      const lineOf = new Map(rows.map((r) => [r.id, r.legacy_line]));
      const file = legacy.files[kind]!;
      let good = 0;
      for (const record of legacy.records[kind]) {
        const ref = `${file}:${record.line}`;
        if (expectedByKey.has(key(kind, ref))) continue;
        good++;
        if (!record.fields) { problems.push(`${ref}: a good record the test cannot parse`); continue; }
        const legacyId = asText(record.fields.id).trim();
        const newId = idMap.get(key(kind, legacyId));
        if (!newId) { problems.push(`${ref}: good ${kind} ${legacyId} is not in ledger.id_map`); continue; }
        const line = lineOf.get(newId);
        if (line !== record.line) problems.push(`${ref}: ${kind} ${legacyId} has legacy_line ${String(line)}, expected ${record.line}`);
      }
      if (rows.length !== good) problems.push(`tms.${kind} holds ${rows.length} rows for ${good} good records`);
    }

    // Good edges: every declaration not in the expected rejects (a duplicate declaration is one of them).
    const goodEdges = new Map<string, string>(); // "task->dep" -> ref of its declaration
    for (const e of declaredEdges(legacy).edges) {
      if (expectedByKey.has(key('task_dependencies', e.ref))) continue;
      const pair = `${e.task}->${e.dependsOn}`;
      if (goodEdges.has(pair)) problems.push(`test data: ${pair} declared twice without an expected reject (${e.ref})`);
      else goodEdges.set(pair, e.ref);
    }
    const { rows: dbEdges } = await db.pool.query<{ task_id: string; depends_on_id: string; legacy_ref: string }>(
      'SELECT task_id::text, depends_on_id::text, legacy_ref FROM tms.task_dependencies');
    const seen = new Set<string>();
    for (const d of dbEdges) {
      const pair = `${taskLegacy.get(d.task_id) ?? `?${d.task_id}`}->${taskLegacy.get(d.depends_on_id) ?? `?${d.depends_on_id}`}`;
      seen.add(pair);
      const ref = goodEdges.get(pair);
      if (ref === undefined) problems.push(`tms.task_dependencies holds ${pair} (${d.legacy_ref}), which is no good legacy edge`);
      else if (ref !== d.legacy_ref) problems.push(`edge ${pair}: legacy_ref ${d.legacy_ref}, expected ${ref}`);
    }
    for (const [pair, ref] of goodEdges) if (!seen.has(pair)) problems.push(`good edge ${pair} (${ref}) is not in tms.task_dependencies`);
    expect(goodEdges.size).toBeGreaterThan(SIZE.tasks);
    // Guards the duplicate race: a good task's row must hold its own line, and an earlier depends_on
    // declaration must not be replaced by a later task_dependencies row.
    expect(firstOf(problems), `${problems.length} problems`).toEqual([]);
  });

  it('`taskfleet rejects RUN` prints kind, legacy id, file:line, field and reason of each', async () => {
    // What is printed is compared with the ledger; that the ledger holds exactly the expected rejects
    // is the test above, so together: every bad record is printed.
    const result = await runFleet(db.pool, ['rejects', run.summary.runId, ...connectionArgs(db, prefix, REDIS_URL), '--limit', '1000000']);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => l !== '');
    expect(lines.length).toBe(stored.length);
    expect(lines.length).toBeGreaterThan(expected.length / 2);
    const printed = new Map<string, string[]>();
    for (const line of lines) {
      const cols = line.split('\t');
      printed.set(key(cols[0] ?? '', cols[2] ?? ''), cols);
    }
    const wrong: string[] = [];
    for (const r of stored) {
      const cols = printed.get(key(r.kind, r.ref));
      if (!cols) { wrong.push(`${r.kind} ${r.ref} is not printed`); continue; }
      const want = [r.kind, r.legacy_id ?? '-', r.ref, r.field ?? '-', r.reason];
      if (JSON.stringify(cols) !== JSON.stringify(want)) wrong.push(`${r.ref}: printed ${JSON.stringify(cols)}, ledger has ${JSON.stringify(want)}`);
      if (!cols[2]?.startsWith(`${r.file_name}:${r.line}`)) wrong.push(`${r.ref}: printed ref does not start with ${r.file_name}:${r.line}`);
      if ((cols[4] ?? '').trim() === '') wrong.push(`${r.ref}: no reason printed`);
    }
    // Spot check against the generator's list: a record of each kind, with its legacy id where it has one.
    for (const kind of KIND_NAMES) {
      const e = expected.find((x) => x.kind === kind && x.legacyId !== null && printed.has(key(x.kind, x.ref)));
      if (!e) { wrong.push(`no expected ${kind} reject with a legacy id is printed`); continue; }
      const cols = printed.get(key(e.kind, e.ref))!;
      if (cols[1] !== e.legacyId || !cols[2]!.startsWith(`${e.file}:${e.line}`)) wrong.push(`${e.ref}: printed ${JSON.stringify(cols)}`);
    }
    expect(firstOf(wrong)).toEqual([]);
  });

  it('with --max-rejects 0 the command exits non-zero, naming the number of rejects', async () => {
    // The same command with a limit: the run is the completed one, now judged against --max-rejects 0.
    const limited = await runFleet(db.pool, [...args, '--max-rejects', '0']);
    expect(limited.code).not.toBe(0);
    expect(limited.code).not.toBeNull();
    const summary = summaryOf(limited);
    expect(summary.runId).toBe(run.summary.runId);
    expect(summary.status).toBe('completed');
    expect(summary.rejected).toBe(stored.length);
    expect(stored.length).toBeGreaterThan(0);
    expect(limited.stderr).toMatch(new RegExp(`\\b${stored.length}\\b[^\\n]*max-rejects 0`));
  });
});

describe('a fresh run with --max-rejects 0, then a second run under another --run-id (jsonl)', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('bad_data_limit');
    databases.push(db);
    dir = join(root, 'jsonl-again');
    await generateLegacyData({ out: dir, format: 'jsonl', ...SIZE, badRatio: BAD_RATIO, dependencies: true, dependencyFile: true });
  });

  it('migrates to the end, then exits non-zero naming the number of rejects', async () => {
    const result = await runFleet(db.pool, ['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', ...CHUNKS, '--json', '--max-rejects', '0']);
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    const summary = summaryOf(result);
    expect(summary.status).toBe('completed');
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger.rejects WHERE run_id = $1', [summary.runId]);
    expect(rows[0]!.n).toBeGreaterThan(0);
    expect(summary.rejected).toBe(rows[0]!.n);
    expect(result.stderr).toMatch(new RegExp(`\\b${rows[0]!.n}\\b[^\\n]*max-rejects 0`));
    const { rows: [state] } = await db.pool.query<{ status: string }>('SELECT status FROM ledger.runs WHERE id = $1', [summary.runId]);
    expect(state!.status).toBe('completed');
    // Completed, but over its limit: status and the operations API say so next to the status.
    const status = await runCli(['status', summary.runId, '--new-data', db.url]);
    expect(status.stdout).toContain(`Run ${summary.runId}: completed\n  over its reject limit: ${rows[0]!.n} records were rejected, more than --max-rejects 0: see \`taskfleet rejects ${summary.runId}\``);
    const report = await progressReport(db.pool, (await findRun(db.pool, summary.runId))!);
    expect(report.overRejectLimit).toEqual({ rejected: rows[0]!.n, limit: 0 });
  });

  it('a second run under another --run-id leaves every value of the rows already there as it is', async () => {
    const before = await rowContents(db.pool);
    const { rows: [creator] } = await db.pool.query<{ run_id: string }>('SELECT DISTINCT run_id FROM tms.tasks');
    const second = await runFleet(db.pool, ['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', ...CHUNKS, '--json', '--run-id', 'second-run']);
    expect(second.code, second.stderr.slice(-3000)).toBe(0);
    expect(summaryOf(second).status).toBe('completed');
    const { rows } = await db.pool.query<{ legacy_id: string; legacy_line: number; title: string }>(
      `SELECT legacy_id, legacy_line, title FROM tms.tasks WHERE title LIKE '(copy) %' ORDER BY legacy_line`);
    // Later duplicates of the second run must not overwrite their originals' rows.
    expect(firstOf(rows.map((r) => `${r.legacy_id} now holds its duplicate from line ${r.legacy_line}: ${r.title}`)), 'rows rewritten from duplicate records').toEqual([]);
    expect(await rowContents(db.pool)).toBe(before);
    // The rows keep the run that created them (what a rollback of that run removes); the second run
    // marks them as last migrated by it.
    const { rows: runs } = await db.pool.query<{ run_id: string; last_run_id: string }>('SELECT DISTINCT run_id, last_run_id FROM tms.tasks');
    expect(runs).toEqual([{ run_id: creator!.run_id, last_run_id: 'second-run' }]);
  });
});
