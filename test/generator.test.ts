// The synthetic legacy-data generator: determinism, counts, streaming memory, and an independent
// reading of docs/legacy-format.md (the "oracle" below) that must find exactly the rejects the
// generator promises in `_expected_rejects.jsonl` — no more, no fewer.

import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExpectedReject, type GenerateOptions, type GenerateSummary, generateLegacyData } from '../src/generator/generate.js';

type Format = GenerateOptions['format'];
type Kind = ExpectedReject['kind'];
const FORMATS: readonly Format[] = ['jsonl', 'json', 'csv'];
const MAX_RECORD_BYTES = 1024 * 1024;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-generator-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let runs = 0;
async function generate(options: Omit<GenerateOptions, 'out'>): Promise<{ dir: string; summary: GenerateSummary }> {
  const dir = join(root, `run-${runs++}`);
  const summary = await generateLegacyData({ ...options, out: dir });
  return { dir, summary };
}

// ---- Reading legacy files, independently of the generator -----------------------------------------

type Value = unknown;
interface LegacyRow {
  line: number;
  /** Undefined when the record cannot be parsed (malformed). */
  fields: Record<string, Value> | undefined;
  bytes: number;
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

function parseObject(text: string): Record<string, Value> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, Value>) : undefined;
  } catch {
    return undefined;
  }
}

async function readLegacyFile(dir: string, file: string): Promise<LegacyRow[]> {
  const text = await readFile(join(dir, file), 'utf8');
  if (file.endsWith('.jsonl')) {
    return splitLines(text).map((raw, i) => ({ line: i + 1, fields: parseObject(raw), bytes: Buffer.byteLength(raw) }));
  }
  if (file.endsWith('.json')) {
    const lines = splitLines(text);
    expect(lines[0]).toBe('[');
    expect(lines.at(-1)).toBe(']');
    return lines.slice(1, -1).map((raw, i) => {
      const element = raw.endsWith(',') ? raw.slice(0, -1) : raw;
      return { line: i + 2, fields: parseObject(element), bytes: Buffer.byteLength(element) };
    });
  }
  const records = parse(text, { info: true, raw: true, relax_column_count: true }) as unknown as {
    record: string[];
    raw: string;
    info: { lines: number };
  }[];
  const [header, ...rest] = records;
  if (!header) throw new Error(`${file} has no header.`);
  expect(header.info.lines).toBe(1);
  return rest.map(({ record, raw, info }) => {
    const line = info.lines - (raw.match(/\n/g)?.length ?? 0) + 1;
    if (record.length !== header.record.length) return { line, fields: undefined, bytes: Buffer.byteLength(raw) };
    const fields: Record<string, Value> = {};
    header.record.forEach((column, i) => {
      if (record[i] !== '') fields[column] = record[i];
    });
    return { line, fields, bytes: Buffer.byteLength(raw) };
  });
}

// ---- The oracle: docs/legacy-format.md's reject rules, applied in file order -----------------------

const present = (v: Value): boolean => v !== undefined && v !== null && v !== '';
const isNumeric = (v: Value): boolean =>
  (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v));
const isInteger = (v: Value): boolean => (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v));
const isDate = (v: Value): boolean =>
  typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && new Date(`${v}T00:00:00Z`).toISOString().startsWith(v);
const isTimestamp = (v: Value): boolean =>
  typeof v === 'string' &&
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) &&
  !Number.isNaN(Date.parse(v));
const oneOf =
  (...allowed: Value[]) =>
  (v: Value): boolean =>
    allowed.includes(v);

const REQUIRED: Record<Exclude<Kind, 'task_dependencies'>, string[]> = {
  projects: ['id', 'name'],
  phases: ['id', 'project_id', 'name'],
  tasks: ['id', 'project_id', 'title'],
};
const TYPES: Record<Exclude<Kind, 'task_dependencies'>, Record<string, (v: Value, csv: boolean) => boolean>> = {
  projects: { status: oneOf('active', 'on_hold', 'archived'), created_at: isTimestamp, updated_at: isTimestamp },
  phases: {
    position: isInteger,
    status: oneOf('planned', 'active', 'completed'),
    starts_on: isDate,
    ends_on: isDate,
    created_at: isTimestamp,
    updated_at: isTimestamp,
  },
  tasks: {
    status: oneOf('todo', 'in_progress', 'blocked', 'review', 'done', 'cancelled'),
    priority: oneOf('low', 'medium', 'high', 'critical', 1, 2, 3, 4, '1', '2', '3', '4'),
    estimate_hours: (v) => isNumeric(v) && Number(v) >= 0,
    due_on: isDate,
    tags: (v, csv) => csv || (Array.isArray(v) && v.every((t) => typeof t === 'string')),
    depends_on: (v, csv) => csv || (Array.isArray(v) && v.every((t) => typeof t === 'string')),
    created_at: isTimestamp,
    updated_at: isTimestamp,
  },
};

interface OracleResult {
  rejects: ExpectedReject[];
  legacy: Record<Kind, number>;
  migrated: Record<Kind, number>;
}

function listOf(v: Value): string[] {
  if (!present(v)) return [];
  return Array.isArray(v) ? (v as string[]) : String(v).split(';');
}

/** Applies the contract to a generated directory, as the fleet must. */
async function oracle(dir: string, summary: GenerateSummary): Promise<OracleResult> {
  const rejects: ExpectedReject[] = [];
  const legacy: Record<Kind, number> = { projects: 0, phases: 0, tasks: 0, task_dependencies: 0 };
  const migrated: Record<Kind, number> = { projects: 0, phases: 0, tasks: 0, task_dependencies: 0 };
  const accepted = { projects: new Set<string>(), phases: new Map<string, string>(), tasks: new Set<string>() };
  const parsedTasks: { row: LegacyRow; file: string; id: string | null; ok: boolean }[] = [];

  for (const kind of ['projects', 'phases', 'tasks'] as const) {
    const file = summary.files[kind] as string;
    const csv = file.endsWith('.csv');
    const seen = new Set<string>();
    for (const row of await readLegacyFile(dir, file)) {
      legacy[kind]++;
      const reject = (cls: ExpectedReject['class'], field: string | null, legacyId: string | null): void => {
        rejects.push({ kind, ref: `${file}:${row.line}`, file, line: row.line, legacyId, class: cls, field });
      };
      if (row.bytes > MAX_RECORD_BYTES) {
        reject('oversized_record', null, null);
        continue;
      }
      const f = row.fields;
      if (!f) {
        reject('malformed_record', null, null);
        continue;
      }
      const id = typeof f.id === 'string' && f.id !== '' ? f.id : null;
      const fault = ((): [ExpectedReject['class'], string] | undefined => {
        const missing = REQUIRED[kind].find((field) => !present(f[field]));
        if (missing) return ['missing_required_field', missing];
        const wrong = Object.entries(TYPES[kind]).find(([field, ok]) => present(f[field]) && !ok(f[field], csv));
        if (wrong) return ['wrong_type', wrong[0]];
        if (id && seen.has(id)) return ['duplicate_id', 'id'];
        if (kind === 'phases' && !accepted.projects.has(String(f.project_id))) return ['dangling_reference', 'project_id'];
        if (kind === 'tasks') {
          if (!accepted.projects.has(String(f.project_id))) return ['dangling_reference', 'project_id'];
          if (present(f.phase_id)) {
            const phaseProject = accepted.phases.get(String(f.phase_id));
            if (phaseProject === undefined) return ['dangling_reference', 'phase_id'];
            if (phaseProject !== f.project_id) return ['phase_of_another_project', 'phase_id'];
          }
        }
        return undefined;
      })();
      if (id) seen.add(id);
      if (kind === 'tasks') parsedTasks.push({ row, file, id, ok: fault === undefined });
      if (fault) {
        reject(fault[0], fault[1], id);
        continue;
      }
      migrated[kind]++;
      if (kind === 'projects') accepted.projects.add(id as string);
      if (kind === 'phases') accepted.phases.set(id as string, String(f.project_id));
      if (kind === 'tasks') accepted.tasks.add(id as string);
    }
  }

  // Edges in file order: the tasks' depends_on, then task_dependencies rows.
  const edges = new Map<string, Set<string>>();
  const declared = new Set<string>();
  const reaches = (from: string, to: string): boolean => {
    const stack = [from];
    const visited = new Set<string>();
    while (stack.length > 0) {
      const node = stack.pop() as string;
      if (node === to) return true;
      if (visited.has(node)) continue;
      visited.add(node);
      for (const next of edges.get(node) ?? []) stack.push(next);
    }
    return false;
  };
  const edgeFault = (task: string, target: string): ExpectedReject['class'] | undefined => {
    if (!accepted.tasks.has(target)) return 'dangling_dependency';
    if (task === target) return 'self_dependency';
    if (declared.has(`${task}>${target}`)) return 'duplicate_dependency';
    if (reaches(target, task)) return 'dependency_cycle';
    return undefined;
  };
  const addEdge = (task: string, target: string): void => {
    declared.add(`${task}>${target}`);
    if (!edges.has(task)) edges.set(task, new Set());
    edges.get(task)?.add(target);
    migrated.task_dependencies++;
  };

  for (const { row, file, id, ok } of parsedTasks) {
    listOf(row.fields?.depends_on).forEach((target, i) => {
      legacy.task_dependencies++;
      const base = { kind: 'task_dependencies' as const, ref: `${file}:${row.line}#depends_on[${i}]`, file, line: row.line, legacyId: `${id}->${target}`, field: 'depends_on' };
      const fault = ok ? edgeFault(id as string, target) : 'edge_of_rejected_task';
      if (fault) rejects.push({ ...base, class: fault });
      else addEdge(id as string, target);
    });
  }
  const depsFile = summary.files.task_dependencies;
  if (depsFile) {
    for (const row of await readLegacyFile(dir, depsFile)) {
      legacy.task_dependencies++;
      const f = row.fields;
      const base = { kind: 'task_dependencies' as const, ref: `${depsFile}:${row.line}`, file: depsFile, line: row.line };
      if (row.bytes > MAX_RECORD_BYTES || !f) {
        rejects.push({ ...base, legacyId: null, class: f ? 'oversized_record' : 'malformed_record', field: null });
        continue;
      }
      const task = present(f.task_id) ? String(f.task_id) : null;
      if (!task || !present(f.depends_on_id)) {
        rejects.push({ ...base, legacyId: task, class: 'missing_required_field', field: task ? 'depends_on_id' : 'task_id' });
        continue;
      }
      const target = String(f.depends_on_id);
      const fault = accepted.tasks.has(task) ? edgeFault(task, target) : 'edge_of_rejected_task';
      if (fault) rejects.push({ ...base, legacyId: `${task}->${target}`, class: fault, field: 'depends_on_id' });
      else addEdge(task, target);
    }
  }
  return { rejects, legacy, migrated };
}

async function expectedRejects(dir: string): Promise<ExpectedReject[]> {
  const text = await readFile(join(dir, '_expected_rejects.jsonl'), 'utf8');
  return splitLines(text).map((line) => JSON.parse(line) as ExpectedReject);
}

// ---- Tests ------------------------------------------------------------------------------------------

const small = { projects: 12, phasesPerProject: 3, tasks: 3000, badRatio: 0.05 } as const;

const RECORD_CLASSES = ['malformed_record', 'wrong_type', 'missing_required_field', 'duplicate_id', 'oversized_record'];
/** Every reject class the generator produces for each kind (with a layout of ≥ 2 projects and phases). */
const CLASSES_BY_KIND: Record<Kind, string[]> = {
  projects: RECORD_CLASSES,
  phases: [...RECORD_CLASSES, 'dangling_reference'],
  tasks: [...RECORD_CLASSES, 'dangling_reference', 'phase_of_another_project'],
  task_dependencies: [
    'malformed_record', 'missing_required_field', 'oversized_record',
    'dangling_dependency', 'self_dependency', 'duplicate_dependency', 'dependency_cycle',
  ],
};

function classesOf(rejects: readonly ExpectedReject[], kind: Kind): string[] {
  return [...new Set(rejects.filter((r) => r.kind === kind).map((r) => r.class))].sort();
}

describe('generateLegacyData', () => {
  it('writes identical bytes for the same seed, and different data for another seed', async () => {
    for (const format of FORMATS) {
      const a = await generate({ ...small, tasks: 400, format, seed: 7 });
      const b = await generate({ ...small, tasks: 400, format, seed: 7 });
      const c = await generate({ ...small, tasks: 400, format, seed: 8 });
      const files = (await readdir(a.dir)).sort();
      expect(files).toEqual((await readdir(b.dir)).sort());
      expect(files).toContain('_generator_manifest.json');
      for (const file of files) {
        const [bytesA, bytesB] = await Promise.all([readFile(join(a.dir, file)), readFile(join(b.dir, file))]);
        expect(bytesA.equals(bytesB), `${format}: ${file} differs between runs`).toBe(true);
      }
      const tasksA = await readFile(join(a.dir, `tasks.${format}`));
      expect(tasksA.equals(await readFile(join(c.dir, `tasks.${format}`)))).toBe(false);
    }
  });

  for (const format of FORMATS) {
    it(`${format}: the rejects the contract finds are exactly _expected_rejects.jsonl, and the counts match`, async () => {
      const { dir, summary } = await generate({ ...small, format, seed: 3 });
      const found = await oracle(dir, summary);
      const promised = await expectedRejects(dir);

      expect(promised).toEqual(found.rejects);
      expect(summary.legacy).toEqual(found.legacy);
      for (const kind of ['projects', 'phases', 'tasks', 'task_dependencies'] as const) {
        expect(summary.expectedRejects[kind]).toBe(promised.filter((r) => r.kind === kind).length);
        expect(found.migrated[kind] + summary.expectedRejects[kind]).toBe(summary.legacy[kind]);
      }
      // Good counts are exactly as asked; bad records are extra.
      expect(found.migrated.projects).toBe(small.projects);
      expect(found.migrated.phases).toBe(small.projects * small.phasesPerProject);
      expect(found.migrated.tasks).toBe(small.tasks);

      const manifest = JSON.parse(await readFile(join(dir, '_generator_manifest.json'), 'utf8')) as { summary: unknown };
      expect(manifest.summary).toEqual(summary);
    });
  }

  it('points every expected reject at a record on that line', async () => {
    for (const format of FORMATS) {
      const { dir } = await generate({ ...small, tasks: 1500, format, seed: 5 });
      const files = new Map<string, Map<number, LegacyRow>>();
      for (const reject of await expectedRejects(dir)) {
        let rows = files.get(reject.file);
        if (!rows) {
          rows = new Map((await readLegacyFile(dir, reject.file)).map((row) => [row.line, row]));
          files.set(reject.file, rows);
        }
        const row = rows.get(reject.line);
        expect(row, `${format}: ${reject.ref}`).toBeDefined();
        expect(reject.ref.startsWith(`${reject.file}:${reject.line}`)).toBe(true);
        const edge = /#depends_on\[(\d+)\]$/.exec(reject.ref);
        if (edge) expect(listOf(row?.fields?.depends_on)[Number(edge[1])], reject.ref).toBeDefined();
        // Records carry their own id; an edge is named TASK->DEPENDS_ON.
        const task = reject.file.startsWith('task_dependencies') ? row?.fields?.task_id : row?.fields?.id;
        if (edge) expect(reject.legacyId).toBe(`${String(task)}->${listOf(row?.fields?.depends_on)[Number(edge[1])]}`);
        else if (reject.legacyId?.includes('->')) expect(reject.legacyId).toBe(`${String(task)}->${String(row?.fields?.depends_on_id)}`);
        else if (reject.legacyId !== null) expect(task).toBe(reject.legacyId);
      }
    }
  });

  it('with badRatio 0 writes only valid records whose references all resolve', async () => {
    for (const format of FORMATS) {
      const { dir, summary } = await generate({ projects: 9, phasesPerProject: 2, tasks: 2000, format });
      expect(summary.expectedRejects).toEqual({ projects: 0, phases: 0, tasks: 0, task_dependencies: 0 });
      expect(await readFile(join(dir, '_expected_rejects.jsonl'), 'utf8')).toBe('');
      const found = await oracle(dir, summary);
      expect(found.rejects).toEqual([]);
      expect(found.migrated).toEqual(summary.legacy);
      expect(found.migrated.tasks).toBe(2000);

      const tasks = (await readLegacyFile(dir, `tasks.${format}`)).map((row) => row.fields ?? {});
      const withoutPhase = tasks.filter((t) => !present(t.phase_id)).length / tasks.length;
      expect(withoutPhase).toBeGreaterThan(0.05);
      expect(withoutPhase).toBeLessThan(0.15);
      // Task i belongs to project floor(i * projects / tasks), and depends on tasks of its own project.
      tasks.forEach((task, i) => {
        const project = Math.floor((i * 9) / 2000);
        expect(task.project_id).toBe(`P-${String(project + 1).padStart(6, '0')}`);
        for (const target of listOf(task.depends_on)) {
          const j = Number(target.slice(2)) - 1;
          expect(Math.floor((j * 9) / 2000)).toBe(project);
        }
      });
      // Without bad records every file parses whole with an ordinary parser.
      const tasksText = await readFile(join(dir, `tasks.${format}`), 'utf8');
      const parsed: unknown[] =
        format === 'json'
          ? (JSON.parse(tasksText) as unknown[])
          : format === 'jsonl'
            ? splitLines(tasksText).map((line): unknown => JSON.parse(line))
            : parse<unknown>(tasksText, { columns: true });
      expect(parsed).toHaveLength(2000);
      const rows = await readLegacyFile(dir, `task_dependencies.${format}`);
      expect(rows.length / 2000).toBeGreaterThan(0.02);
      expect(rows.length / 2000).toBeLessThan(0.08);
      // Texture the fleet must cope with: unknown fields, unicode, and CSV quoting.
      const text = tasksText;
      expect(tasks.some((t) => present(t.legacy_color) || present(t.custom_7))).toBe(true);
      expect(text).toMatch(/[\u3040-\u30ff\u4e00-\u9fff]/u);
      expect(text).toMatch(/\p{Extended_Pictographic}/u);
      if (format === 'csv') expect(text).toMatch(/"[^"]*(""|\n|,)[^"]*"/);
    }
  });

  it('covers every reject class a kind can have, in every format', async () => {
    for (const format of FORMATS) {
      // Even a tiny data set with a tiny ratio gets at least one record of every class.
      const tiny = await generate({ projects: 3, phasesPerProject: 2, tasks: 40, badRatio: 0.001, format, seed: 11 });
      const tinyRejects = await expectedRejects(tiny.dir);
      for (const kind of Object.keys(CLASSES_BY_KIND) as Kind[]) {
        expect(classesOf(tinyRejects, kind), `tiny ${format} ${kind}`).toEqual([...CLASSES_BY_KIND[kind]].sort());
      }

      const { dir } = await generate({ ...small, format, seed: 11 });
      const rejects = await expectedRejects(dir);
      for (const kind of Object.keys(CLASSES_BY_KIND) as Kind[]) {
        expect(classesOf(rejects, kind), `${format} ${kind}`).toEqual([...CLASSES_BY_KIND[kind]].sort());
      }
      // Edge faults appear both in the tasks' depends_on and as task_dependencies rows.
      for (const cls of ['dangling_dependency', 'self_dependency', 'duplicate_dependency', 'dependency_cycle']) {
        const places = new Set(rejects.filter((r) => r.class === cls).map((r) => (r.ref.includes('#') ? 'inline' : 'row')));
        expect([...places].sort(), `${format} ${cls}`).toEqual(['inline', 'row']);
      }
      const wrongTypeFields = new Set(rejects.filter((r) => r.class === 'wrong_type' && r.kind === 'tasks').map((r) => r.field));
      expect(wrongTypeFields.has('tags')).toBe(format !== 'csv');
    }
  });

  it('keeps about badRatio extra records per kind', async () => {
    const { summary } = await generate({ projects: 500, phasesPerProject: 5, tasks: 20_000, format: 'jsonl', badRatio: 0.02 });
    expect(summary.legacy.projects).toBe(510);
    expect(summary.legacy.phases).toBe(2550);
    expect(summary.legacy.tasks).toBe(20_400);
    const edgeRatio = summary.expectedRejects.task_dependencies / summary.legacy.task_dependencies;
    expect(edgeRatio).toBeGreaterThan(0.01);
    expect(edgeRatio).toBeLessThan(0.03);
  });

  it('writes no task_dependencies file when asked not to, and removes a stale one', async () => {
    const dir = join(root, 'no-deps');
    await generateLegacyData({ ...small, tasks: 300, format: 'csv', out: dir });
    const summary = await generateLegacyData({ ...small, tasks: 300, format: 'jsonl', dependencyFile: false, out: dir });
    expect(summary.files.task_dependencies).toBeUndefined();
    expect((await readdir(dir)).filter((f) => !f.startsWith('_')).sort()).toEqual(['phases.jsonl', 'projects.jsonl', 'tasks.jsonl']);
    const found = await oracle(dir, summary);
    expect(await expectedRejects(dir)).toEqual(found.rejects);
  });

  it('with dependencies false writes no edges at all, and still every other reject class', async () => {
    for (const format of FORMATS) {
      // A directory that held dependencies before: the stale task_dependencies file must go.
      const dir = join(root, `no-edges-${format}`);
      await generateLegacyData({ ...small, tasks: 300, format, out: dir });
      expect(await readdir(dir)).toContain(`task_dependencies.${format}`);

      for (const options of [
        { ...small, format, seed: 13 },
        { projects: 3, phasesPerProject: 2, tasks: 40, badRatio: 0.001, format, seed: 13 },
      ]) {
        // dependencyFile: true must not bring the file back.
        const summary = await generateLegacyData({ ...options, dependencies: false, dependencyFile: true, out: dir });
        const label = `${format} ${options.tasks} tasks`;
        expect(summary.files.task_dependencies, label).toBeUndefined();
        expect((await readdir(dir)).filter((f) => !f.startsWith('_')).sort(), label).toEqual(
          [`phases.${format}`, `projects.${format}`, `tasks.${format}`],
        );
        expect(summary.legacy.task_dependencies, label).toBe(0);
        expect(summary.expectedRejects.task_dependencies, label).toBe(0);

        const tasks = await readLegacyFile(dir, `tasks.${format}`);
        for (const task of tasks) expect(listOf(task.fields?.depends_on), `${label} line ${task.line}`).toEqual([]);
        // Not even a malformed or oversized task (unparsed above) declares an edge.
        if (format !== 'csv') expect(await readFile(join(dir, `tasks.${format}`), 'utf8')).not.toMatch(/"depends_on":\["/);

        const found = await oracle(dir, summary);
        const promised = await expectedRejects(dir);
        expect(promised, label).toEqual(found.rejects);
        expect(summary.legacy, label).toEqual(found.legacy);
        expect(found.migrated.task_dependencies, label).toBe(0);
        expect(found.migrated.tasks, label).toBe(options.tasks);
        for (const kind of ['projects', 'phases', 'tasks'] as const) {
          expect(summary.expectedRejects[kind], label).toBe(promised.filter((r) => r.kind === kind).length);
          expect(classesOf(promised, kind), `${label} ${kind}`).toEqual([...CLASSES_BY_KIND[kind]].sort());
        }
        expect(classesOf(promised, 'task_dependencies'), label).toEqual([]);

        const manifest = JSON.parse(await readFile(join(dir, '_generator_manifest.json'), 'utf8')) as {
          options: { dependencies: unknown };
          summary: unknown;
        };
        expect(manifest.options.dependencies).toBe(false);
        expect(manifest.summary).toEqual(summary);
      }

      // Same seed, same bytes.
      const a = await generate({ ...small, tasks: 400, format, seed: 7, dependencies: false });
      const b = await generate({ ...small, tasks: 400, format, seed: 7, dependencies: false });
      const files = (await readdir(a.dir)).sort();
      expect(files).toEqual((await readdir(b.dir)).sort());
      for (const file of files) {
        const [bytesA, bytesB] = await Promise.all([readFile(join(a.dir, file)), readFile(join(b.dir, file))]);
        expect(bytesA.equals(bytesB), `${format}: ${file} differs between runs`).toBe(true);
      }
    }
  });

  it('handles edge-case layouts: no tasks, fewer tasks than projects, no phases', async () => {
    for (const layout of [
      { projects: 0, phasesPerProject: 0, tasks: 0 },
      { projects: 50, phasesPerProject: 1, tasks: 7 },
      { projects: 3, phasesPerProject: 0, tasks: 100 },
      { projects: 1, phasesPerProject: 2, tasks: 1 },
    ]) {
      for (const format of FORMATS) {
        const { dir, summary } = await generate({ ...layout, format, badRatio: 0.1 });
        const found = await oracle(dir, summary);
        expect(await expectedRejects(dir), JSON.stringify(layout)).toEqual(found.rejects);
        expect(found.migrated.tasks).toBe(layout.tasks);
        expect(found.migrated.phases).toBe(layout.projects * layout.phasesPerProject);
      }
    }
  });

  it('rejects invalid options with a readable message', async () => {
    await expect(generateLegacyData({ out: join(root, 'x'), projects: 0, phasesPerProject: 1, tasks: 5, format: 'jsonl' })).rejects.toThrow(
      /tasks need at least one project/,
    );
    await expect(
      generateLegacyData({ out: join(root, 'x'), projects: 1, phasesPerProject: 1.5, tasks: 5, format: 'xml' as Format, badRatio: 2 }),
    ).rejects.toThrow(/phasesPerProject must be a whole number.*format must be one of.*badRatio must be between 0 and 1/);
    await expect(
      generateLegacyData({ out: join(root, 'x'), projects: 1, phasesPerProject: 1, tasks: 5, format: 'jsonl', dependencies: 'no' as unknown as boolean }),
    ).rejects.toThrow(/dependencies must be true or false/);
  });

  it('streams: heap stays flat while writing 200k tasks', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = 0;
    let calls = 0;
    const { summary } = await generate({
      projects: 1000,
      phasesPerProject: 4,
      tasks: 200_000,
      format: 'jsonl',
      badRatio: 0.01,
      onProgress: (written, total) => {
        calls++;
        expect(written).toBeLessThanOrEqual(total);
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
      },
    });
    expect(summary.legacy.tasks).toBe(202_000);
    expect(calls).toBeGreaterThanOrEqual(20);
    // Holding the records would take hundreds of MB; streaming keeps a few buffers.
    expect(peak).toBeLessThan(16 * 1024 * 1024);
  });
});
