// Prepare's validator without a database: its record stream parses exactly like a worker's planned
// chunks; its classes follow the normalizer's reasons; and hand-made directories get the findings the
// reject rules of docs/legacy-format.md call for (file:line, field, legacy id, class), plus warnings.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLegacyMapping } from '../../src/config/legacy-mapping.js';
import type { LegacyFormat } from '../../src/legacy/kinds.js';
import { createNormalizer } from '../../src/legacy/normalize.js';
import { parseChunk, readChunkBytes, splitChunk, type RawRecord } from '../../src/legacy/read-chunk.js';
import { classOfInvalidField, classOfUnreadableRecord, type Finding } from '../../src/validation/findings.js';
import { streamLegacyRecords } from '../../src/validation/record-stream.js';
import { validateLegacyData, type ValidationSummary } from '../../src/validation/validate-legacy-data.js';
import { chunkLocation, prng, scanAll, tempDir, type TempDir } from './support.js';

const MAPPING = parseLegacyMapping({
  values: { tasks: { priority: { 1: 'low', 2: 'medium', 3: 'high', 4: 'critical' } } },
  defaults: { projects: { status: 'active' }, phases: { status: 'planned' }, tasks: { status: 'todo', priority: 'medium', type: 'default' } },
}, 'test');

let dir: TempDir;
beforeAll(() => {
  dir = tempDir('validation');
});
afterAll(() => dir.remove());

const jsonl = (records: readonly unknown[]): string => records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';

async function collect(file: Parameters<typeof streamLegacyRecords>[0], maxRecordBytes: number, readBytes?: number): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for await (const batch of streamLegacyRecords(file, { maxRecordBytes }, readBytes)) out.push(...batch);
  return out;
}

/** The worker's reading: plan chunks, read each back, parse it. */
async function workerRecords(file: Parameters<typeof streamLegacyRecords>[0], maxRecordBytes: number): Promise<RawRecord[]> {
  const { chunks, headers } = await scanAll(file, { chunkSize: 7, chunkMaxBytes: 1 << 30 });
  const out: RawRecord[] = [];
  for (const [i, chunk] of chunks.entries()) {
    const loc = chunkLocation(file, chunk, headers[i]!);
    const buf = await readChunkBytes(loc);
    out.push(...parseChunk(buf, splitChunk(buf, loc), loc, { maxRecordBytes }));
  }
  return out;
}

describe('streamLegacyRecords', () => {
  const formats: LegacyFormat[] = ['jsonl', 'csv', 'json'];
  it.each(formats)('parses %s files exactly as the workers parse their chunks, whatever the read size (random files, 40 seeds)', async (format) => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = prng(seed * 31 + format.length);
      const rows: string[] = [];
      const n = r.int(0, 40);
      for (let i = 0; i < n; i++) {
        const title = r.pick(['plain', 'with "quotes"', 'multi\nline', 'ünïcödé ✓', 'x'.repeat(r.int(0, 3000))]);
        const bad = r.next() < 0.15;
        if (format === 'csv') rows.push(bad ? `T${i},"unterminated` : `T${i},"${title.replace(/"/g, '""')}",${r.int(0, 9)}`);
        else if (bad) rows.push(`{"id":"T${i}" "title": 1}`); // balanced, but no comma
        else rows.push(JSON.stringify({ id: `T${i}`, title, n: r.int(0, 9) }));
      }
      let text: string;
      if (format === 'csv') text = `id,title,n\r\n${rows.join(r.next() < 0.5 ? '\r\n' : '\n')}\n`;
      else if (format === 'jsonl') text = rows.join('\n') + (r.next() < 0.5 ? '\n' : '');
      else text = `[\n${rows.map((row) => `  ${row}`).join(',\n')}\n]\n`;
      let bytes = Buffer.from(text);
      // Now and then, bytes that are not UTF-8 inside a record (inside a text value: between JSON
      // elements they would start a second record on the line, and the file is refused).
      const at = bytes.indexOf('T', 20);
      if (at > 0 && r.next() < 0.3) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff, 0xfe]), bytes.subarray(at)]);
      const file = dir.legacyFile('tasks', format, bytes);
      const maxRecordBytes = r.pick([1024, 2048, 1 << 20]);
      const expected = await workerRecords(file, maxRecordBytes);
      for (const readBytes of [7, 100, 4096, 1 << 20]) {
        expect(await collect(file, maxRecordBytes, readBytes), `seed ${seed}, read size ${readBytes}`).toEqual(expected);
      }
    }
  });

  it('drops the bytes of a record far past maxRecordBytes and still reports it, with its size and line', async () => {
    const big = JSON.stringify({ id: 'T2', description: 'y'.repeat(300_000) });
    const file = dir.legacyFile('tasks', 'jsonl', jsonl([{ id: 'T1' }, big, { id: 'T3' }]));
    const records = await collect(file, 1024, 4096);
    expect(records.map((r) => [r.line, r.error])).toEqual([
      [1, null],
      [2, `record is ${Buffer.byteLength(big)} bytes, more than the 1024-byte limit (maxRecordBytes)`],
      [3, null],
    ]);
    expect(records).toEqual(await workerRecords(file, 1024));
  });
});

describe('finding classes follow the reader\'s and the normalizer\'s reasons', () => {
  const normalize = createNormalizer('tasks', MAPPING);
  const base = { id: 'T1', project_id: 'P1', title: 'ok' };
  const cases: [Record<string, unknown>, string, string][] = [
    [{ ...base, title: undefined }, 'title', 'missing_required_field'],
    // The reason then names the unknown field (normalize's hint); the class stays.
    [{ id: 'T1', project_id: 'P1', titel: 'ok' }, 'title', 'missing_required_field'],
    [{ ...base, title: '  ' }, 'title', 'missing_required_field'],
    [{ ...base, id: '' }, 'id', 'missing_required_field'],
    [{ ...base, estimate_hours: 'abc' }, 'estimate_hours', 'wrong_type'],
    [{ ...base, tags: 5 }, 'tags', 'wrong_type'],
    [{ ...base, status: 'someday' }, 'status', 'wrong_type'],
    [{ ...base, due_on: '2024-02-30' }, 'due_on', 'wrong_type'],
    [{ ...base, title: 'a\u0000b' }, 'title', 'unstorable_text'],
    [{ ...base, description: 'cut \ud83d' }, 'description', 'unstorable_text'],
    [{ ...base, custom: { note: 'x\u0000' } }, 'custom', 'unstorable_text'],
  ];
  it.each(cases)('%j -> field %s, class %s', (raw, field, cls) => {
    const result = normalize(raw);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.field).toBe(field);
    expect(classOfInvalidField(result.reason)).toBe(cls);
  });

  it('classes unreadable records: invalid UTF-8, oversized, malformed', async () => {
    const file = dir.legacyFile('tasks', 'jsonl', Buffer.concat([
      Buffer.from('{"id":"T1","title":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n'),
      Buffer.from(`${JSON.stringify({ id: 'T2', title: 'z'.repeat(2000) })}\n`),
      Buffer.from('{"id":"T3",\n'),
    ]));
    const classes = (await collect(file, 1024)).map((r) => (r.error === null ? null : classOfUnreadableRecord(r.error)));
    expect(classes).toEqual(['invalid_utf8', 'oversized_record', 'malformed_record']);
  });
});

interface Validated {
  summary: ValidationSummary;
  errors: Finding[];
  warnings: Finding[];
}

async function validateDir(name: string, files: Record<string, string | Buffer>, mapping = MAPPING): Promise<Validated> {
  const path = join(dir.path, name);
  mkdirSync(path, { recursive: true });
  for (const [file, content] of Object.entries(files)) dir.file(join(name, file), content);
  const found: Finding[] = [];
  const summary = await validateLegacyData(path, mapping, { onFindings: (batch) => { found.push(...batch); } });
  return { summary, errors: found.filter((f) => f.severity === 'error'), warnings: found.filter((f) => f.severity === 'warning') };
}

const brief = (f: Finding) => `${f.kind} ${f.ref} ${f.class} ${f.field ?? '-'} ${f.legacyId ?? '-'}`;

describe('validateLegacyData on hand-made directories', () => {
  it('applies the entity rules: parents, phase of another project, rejected parents, earliest valid declaration wins', async () => {
    const { errors, summary } = await validateDir('entities', {
      'projects.jsonl': jsonl([
        { id: 'P1', name: 'One' },
        { id: 'P2', name: 'Two' },
        { id: 'P1', name: 'One again' },
        { id: 'PX', name: '' },
      ]),
      'phases.jsonl': jsonl([
        { id: 'F1', project_id: 'P1', name: 'a' },
        { id: 'F2', project_id: 'P2', name: 'b' },
        { id: 'F9', project_id: 'P9', name: 'dangling' },
        { id: 'FX', project_id: 'PX', name: 'child of a rejected project' },
        // A record rejected for another reason holds no id: this later F9 migrates.
        { id: 'F9', project_id: 'P1', name: 'now fine' },
      ]),
      'tasks.jsonl': jsonl([
        { id: 'T1', project_id: 'P1', phase_id: 'F1', title: 't' },
        { id: 'T2', project_id: 'P1', phase_id: 'F2', title: 'phase of P2' },
        { id: 'T3', project_id: 'P1', phase_id: 'FX', title: 'phase was rejected' },
        { id: 'T4', project_id: 'P1', phase_id: 'F9', title: 'the second F9' },
        { id: 'T1', project_id: 'P2', title: 'duplicate' },
      ]),
    });
    expect(errors.map(brief)).toEqual([
      'projects projects.jsonl:3 duplicate_id id P1',
      'projects projects.jsonl:4 missing_required_field name PX',
      'phases phases.jsonl:3 dangling_reference project_id F9',
      'phases phases.jsonl:4 rejected_parent project_id FX',
      'tasks tasks.jsonl:2 phase_of_another_project phase_id T2',
      'tasks tasks.jsonl:3 rejected_parent phase_id T3',
      'tasks tasks.jsonl:5 duplicate_id id T1',
    ]);
    expect(errors[0]!.reason).toBe('duplicate id P1 (first at projects.jsonl:1)');
    expect(errors[3]!.reason).toBe('project PX was rejected (projects.jsonl:4)');
    expect(summary.perKind.tasks).toMatchObject({ records: 5, valid: 2, errors: 3 });
    expect(summary.errorsByClass).toMatchObject({ duplicate_id: 2, rejected_parent: 2 });
  });

  it('applies the edge rules in declaration order: rejected task, self, dangling, duplicate, cycle (depends_on before rows)', async () => {
    const { errors, summary } = await validateDir('edges', {
      'projects.csv': 'id,name\nP1,One\nP2,Two\n',
      'phases.csv': 'id,project_id,name\n',
      'tasks.csv': [
        'id,project_id,title,depends_on',
        'T1,P1,one,T2',          // T1 -> T2
        'T2,P1,two,T3;T2;T9',    // T2 -> T3, self, dangling
        'T3,P1,three,T1;T2',     // T3 -> T1 closes T1->T2->T3->T1; T3 -> T2 closes T2->T3->T2
        'T4,,no project,T1',     // rejected task: its edge too
        'T5,P2,"other project",T1;T1',
        '',
      ].join('\n'),
      'task_dependencies.csv': 'task_id,depends_on_id\nT1,T2\nT5,T4\nT9,T1\nT4,\n',
    });
    expect(errors.map(brief)).toEqual([
      'tasks tasks.csv:5 missing_required_field project_id T4',
      'task_dependencies tasks.csv:5#depends_on[0] edge_of_rejected_task depends_on T4->T1',
      'task_dependencies tasks.csv:3#depends_on[1] self_dependency depends_on T2->T2',
      'task_dependencies tasks.csv:3#depends_on[2] dangling_dependency depends_on T2->T9',
      'task_dependencies task_dependencies.csv:3 dangling_dependency depends_on_id T5->T4',
      'task_dependencies task_dependencies.csv:4 dangling_dependency task_id T9->T1',
      'task_dependencies task_dependencies.csv:5 missing_required_field depends_on_id T4',
      'task_dependencies task_dependencies.csv:2 duplicate_dependency depends_on_id T1->T2',
      'task_dependencies tasks.csv:6#depends_on[1] duplicate_dependency depends_on T5->T1',
      'task_dependencies tasks.csv:4#depends_on[0] dependency_cycle depends_on T3->T1',
      'task_dependencies tasks.csv:4#depends_on[1] dependency_cycle depends_on T3->T2',
    ]);
    expect(errors.find((e) => e.class === 'duplicate_dependency' && e.file === 'task_dependencies.csv')!.reason)
      .toBe('duplicate dependency T1->T2 (first at tasks.csv:2#depends_on[0])');
    // Counted as docs/legacy-format.md counts them: every depends_on entry of a readable task, plus every row.
    expect(summary.perKind.task_dependencies).toMatchObject({ records: 13, errors: 10, valid: 3 });
  });

  it('reports invalid UTF-8, NUL and cut surrogates, oversized records and unreadable files with file:line', async () => {
    const mapping = { ...MAPPING, maxRecordBytes: 1024 };
    const { errors, summary } = await validateDir('text', {
      'projects.jsonl': jsonl([{ id: 'P1', name: 'p' }]),
      'phases.json': '[\n  {"id": "F1", "project_id": "P1", "name": "f"}\n]\n{"id": "F2"}\n',
      'tasks.jsonl': Buffer.concat([
        Buffer.from(`${JSON.stringify({ id: 'T1', project_id: 'P1', title: 'fine' })}\n\n`),
        Buffer.from('{"id":"T2","project_id":"P1","title":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n'),
        Buffer.from(`${JSON.stringify({ id: 'T3', project_id: 'P1', title: 'nul \u0000 here' })}\n`),
        Buffer.from('{"id":"T4","project_id":"P1","title":"half \\ud83d"}\n'),
        Buffer.from(`${JSON.stringify({ id: 'T5', project_id: 'P1', title: 'big', description: 'd'.repeat(5000) })}\n`),
      ]),
    }, mapping);
    expect(errors.map(brief)).toEqual([
      'phases phases.json:4 unreadable_file - -',
      'tasks tasks.jsonl:3 invalid_utf8 - -',
      'tasks tasks.jsonl:4 unstorable_text title T3',
      'tasks tasks.jsonl:5 unstorable_text title T4',
      'tasks tasks.jsonl:6 oversized_record - -',
    ]);
    expect(errors[0]!.reason).toMatch(/phases\.json:4: unexpected data after the end of the JSON array.*a migration would refuse to start/);
    expect(summary.unreadableFiles).toBe(1);
    expect(summary.errors).toBe(5);
    expect(summary.perKind.phases).toMatchObject({ records: 1, valid: 1, errors: 0 });
    expect(summary.perKind.tasks).toMatchObject({ records: 5, valid: 1, errors: 4 });
  });

  it('warns without blocking: unknown fields and defaults aggregated with a count and first line, dates out of order, ignored files', async () => {
    const tasks = Array.from({ length: 30 }, (_, i) => ({ id: `T${i + 1}`, project_id: 'P1', title: 't', colour: 'red', ...(i % 2 ? { status: 'done' } : {}) }));
    const { errors, warnings, summary } = await validateDir('warnings', {
      'projects.jsonl': jsonl([{ id: 'P1', name: 'p', status: 'active', created_at: '2024-05-01T00:00:00Z', updated_at: '2024-04-01T00:00:00Z' }]),
      'phases.jsonl': jsonl([{ id: 'F1', project_id: 'P1', name: 'f', status: 'active', starts_on: '2024-03-01', ends_on: '2024-02-01' }]),
      'tasks.jsonl': jsonl(tasks),
      'notes.txt': 'not data',
    });
    expect(errors).toEqual([]);
    const byClass = new Map(warnings.map((w) => [`${w.class} ${w.field ?? '-'}`, w]));
    expect(byClass.get('updated_before_created updated_at')).toMatchObject({ ref: 'projects.jsonl:1', legacyId: 'P1' });
    expect(byClass.get('ends_before_start ends_on')).toMatchObject({ ref: 'phases.jsonl:1', legacyId: 'F1' });
    expect(byClass.get('unknown_field colour')).toMatchObject({ ref: 'tasks.jsonl:1', count: 30 });
    expect(byClass.get('default_applied status')).toMatchObject({ ref: 'tasks.jsonl:1', count: 15 });
    expect(byClass.get('default_applied priority')).toMatchObject({ count: 30 });
    expect(byClass.get('task_without_phase phase_id')).toMatchObject({ count: 30 });
    expect(byClass.get('ignored_file -')).toMatchObject({ ref: 'notes.txt', kind: 'other', line: 0 });
    expect(summary.perKind.tasks.warnings).toBe(30 + 15 + 30 + 30 + 30); // colour, status, priority, type, no phase
  });

  // Found by the exports probe: a Jira link export's "Link Type" and "Created" columns vanished unsaid.
  it('warns of task_dependencies columns that are not migrated (an edge has no legacy_extra), per column with a count', async () => {
    const mapping = parseLegacyMapping({ fields: { task_dependencies: { Source: 'task_id', Destination: 'depends_on_id' } } }, 'm', MAPPING);
    const { errors, warnings, summary } = await validateDir('dependency-columns', {
      'projects.jsonl': jsonl([{ id: 'P1', name: 'p' }]),
      'phases.jsonl': '',
      'tasks.jsonl': jsonl([{ id: 'T1', project_id: 'P1', title: 'a' }, { id: 'T2', project_id: 'P1', title: 'b' }, { id: 'T3', project_id: 'P1', title: 'c' }]),
      // The third row's empty cells drop nothing: no warning for them.
      'task_dependencies.csv': 'Source,Destination,Link Type,Created\nT2,T1,blocks,2021-01-01\nT3,T1,relates to,2021-01-02\nT3,T2,,\n',
    }, mapping);
    expect(errors).toEqual([]);
    expect(summary.perKind.task_dependencies).toMatchObject({ records: 3, valid: 3 });
    const dropped = warnings.filter((w) => w.kind === 'task_dependencies' && w.class === 'unknown_field');
    expect(dropped.map((w) => [w.field, w.ref, w.legacyId, w.count ?? 1])).toEqual([['Link Type', 'task_dependencies.csv:2', 'T2->T1', 2], ['Created', 'task_dependencies.csv:2', 'T2->T1', 2]]);
    expect(dropped[0]!.reason).toMatch(/field "Link Type" is not migrated: a dependency edge keeps only its two task ids \(it has no legacy_extra\)/);
  });

  it('warns of what other exporters write that migrates changed: \\N as text, tags in another list syntax, timestamps without an offset', async () => {
    const files = {
      'projects.csv': 'id,name,owner,created_at\nP1,p,\\N,2024-01-05 10:00:00\nP2,q,ann,2024-01-05T10:00:00+05:30\n',
      'phases.jsonl': jsonl([{ id: 'F1', project_id: 'P1', name: 'f', created_at: '2024-01-05' }]),
      'tasks.jsonl': jsonl([
        { id: 'T1', project_id: 'P1', title: 't', tags: '{a,"b c"}' },
        { id: 'T2', project_id: 'P1', title: 't', tags: 'a, b' },
        { id: 'T3', project_id: 'P1', title: 't', tags: 'a;b', created_at: '2024-01-05T10:00:00Z' },
        { id: 'T4', project_id: 'P1', title: 't', tags: ['x', 'y'], updated_at: '2024-01-05T10:00:00.123-0800' },
        '{"id":"T5","project_id":"P1","title":"first","title":"second"}',
        { id: 'T6', project_id: 'P1', title: 't', tags: '[urgent]' },
      ]),
    };
    const { errors, warnings } = await validateDir('other-exporters', files);
    expect(errors).toEqual([]);
    const byClass = new Map(warnings.map((w) => [`${w.class} ${w.file} ${w.field ?? '-'}`, w]));
    expect(byClass.get('null_marker_text projects.csv owner')).toMatchObject({ ref: 'projects.csv:2', count: 1 });
    expect(byClass.get('null_marker_text projects.csv owner')!.reason).toMatch(/owner holds \\N \(MySQL's NULL\) and is migrated as that text; list it in the mapping \(nullText: \['\\N'\]\)/);
    expect(byClass.get('list_as_text tasks.jsonl tags')).toMatchObject({ ref: 'tasks.jsonl:1', count: 2 });
    expect(byClass.get('timestamp_without_offset projects.csv created_at')).toMatchObject({ ref: 'projects.csv:2', count: 1 });
    expect(byClass.get('timestamp_without_offset phases.jsonl created_at')).toMatchObject({ ref: 'phases.jsonl:1', count: 1 });
    expect([...byClass.keys()].filter((k) => k.startsWith('timestamp_without_offset tasks'))).toEqual([]);
    expect(byClass.get('duplicate_field tasks.jsonl title')).toMatchObject({ ref: 'tasks.jsonl:5', legacyId: 'T5' });
    expect(byClass.get('duplicate_field tasks.jsonl title')!.reason).toMatch(/^title appears twice in the record: the last value is migrated and the first is lost/);

    // Told that \N means no value, prepare reads it so (and says nothing).
    const told = await validateDir('other-exporters-told', files, { ...MAPPING, nullText: ['\\N'] });
    expect(told.warnings.filter((w) => w.class === 'null_marker_text')).toEqual([]);
  });

  it('a minified .json that breaks: the finding is the whole file, at the file\'s own line (records are numbered there)', async () => {
    const { errors } = await validateDir('minified-cut', {
      'projects.jsonl': jsonl([{ id: 'P1', name: 'p' }]),
      'phases.jsonl': jsonl([]),
      'tasks.json': '[{"id":"T1","project_id":"P1","title":"a"},{"id":"T2","project_id":"P1","title":"b"},\n{"id":"T3"',
    });
    expect(errors.map((e) => [e.class, e.ref, e.line])).toEqual([['unreadable_file', 'tasks.json', 2]]);
    expect(errors[0]!.reason).toMatch(/^tasks\.json \(line 2 of the file\): the file ends inside its JSON array/);
  });

  it('an empty .json or .csv is an unreadable file (what a failed export leaves), not "no records"; [] and a header row are', async () => {
    const { errors, warnings } = await validateDir('empty-files', {
      'projects.json': '[]',
      'phases.csv': 'id,project_id,name\n',
      'tasks.json': '',
      'task_dependencies.csv': '',
    });
    expect(errors.map((e) => [e.class, e.ref])).toEqual([['unreadable_file', 'tasks.json:1'], ['unreadable_file', 'task_dependencies.csv:1']]);
    expect(errors[0]!.reason).toMatch(/the file holds no JSON array \(it is empty or blank\): is the export incomplete\?/);
    expect(errors[1]!.reason).toMatch(/the file is empty: is the export incomplete\?/);
    // "holds no records" for the two readable files only: the unreadable ones have their error.
    expect(warnings.filter((w) => w.class === 'empty_file').map((w) => w.ref)).toEqual(['projects.json', 'phases.csv']);
  });
});
