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
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData, type ExpectedReject } from '../src/generator/generate.js';
import { connectionArgs } from './helpers/cli.js';
import {
  asText, declaredEdges, firstOf, KIND_NAMES, readExpectedRejects, readLegacyDir, runFleet, summaryOf,
  type LegacyDir, type LegacyFormat, type SummaryEvent,
} from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const SIZE = { projects: 200, phasesPerProject: 5, tasks: 20_000 };
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
    args = ['migrate', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', '--json'];
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
    expect(firstOf(missing), `${missing.length} expected rejects are not in ledger.rejects`).toEqual([]);
    expect(firstOf(unexpected), `${unexpected.length} rejects that _expected_rejects.jsonl does not list`).toEqual([]);

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
    expect(firstOf(wrong)).toEqual([]);
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
    expect(firstOf(problems), `${problems.length} problems`).toEqual([]);
  });

  it('`taskfleet rejects RUN` prints kind, legacy id, file:line, field and reason of each', async () => {
    const result = await runFleet(db.pool, ['rejects', run.summary.runId, ...connectionArgs(db, prefix, REDIS_URL), '--limit', '1000000']);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => l !== '');
    const printed = new Map<string, string[]>();
    for (const line of lines) {
      const cols = line.split('\t');
      printed.set(key(cols[0] ?? '', cols[2] ?? ''), cols);
    }
    expect(lines.length).toBe(expected.length);
    const actualByKey = new Map(stored.map((r) => [key(r.kind, r.ref), r]));
    const wrong: string[] = [];
    for (const e of expected) {
      const cols = printed.get(key(e.kind, e.ref));
      const r = actualByKey.get(key(e.kind, e.ref));
      if (!cols) { wrong.push(`${e.kind} ${e.ref} is not printed`); continue; }
      const [kind, legacyId, ref, field, reason, ...rest] = cols;
      if (rest.length > 0 || reason === undefined || reason.trim() === '') wrong.push(`${e.ref}: printed as ${JSON.stringify(cols)}`);
      if (kind !== e.kind || !ref?.startsWith(`${e.file}:${e.line}`)) wrong.push(`${e.ref}: printed kind/ref ${String(kind)} ${String(ref)}`);
      if (r && (legacyId !== (r.legacy_id ?? '-') || field !== (r.field ?? '-') || reason !== r.reason)) {
        wrong.push(`${e.ref}: printed ${JSON.stringify(cols)}, ledger has ${JSON.stringify([r.legacy_id, r.field, r.reason])}`);
      }
    }
    expect(firstOf(wrong)).toEqual([]);
  });

  it('with --max-rejects 0 the command exits non-zero, naming the number of rejects', async () => {
    const limited = await runFleet(db.pool, [...args, '--max-rejects', '0']);
    expect(limited.code).not.toBe(0);
    expect(limited.code).not.toBeNull();
    const summary = summaryOf(limited);
    expect(summary.runId).toBe(run.summary.runId);
    expect(summary.rejected).toBe(expected.length);
    expect(limited.stderr).toMatch(new RegExp(`\\b${expected.length}\\b.*max-rejects`));
  });
});

describe('a fresh run with --max-rejects 0 (jsonl)', () => {
  it('migrates to the end, then exits non-zero naming the number of rejects', async () => {
    const db = await createTestDatabase('bad_data_limit');
    databases.push(db);
    const dir = join(root, 'jsonl');
    const expected = await readExpectedRejects(dir);
    const result = await runFleet(db.pool, ['migrate', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', '--json', '--max-rejects', '0']);
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    const summary = summaryOf(result);
    expect(summary.status).toBe('completed');
    expect(summary.rejected).toBe(expected.length);
    expect(result.stderr).toMatch(new RegExp(`\\b${expected.length}\\b.*max-rejects`));
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger.rejects WHERE run_id = $1', [summary.runId]);
    expect(rows[0]!.n).toBe(expected.length);
  });
});
