// The worker's fast way to a task's workflow row (template parts cached, no definition object) must give
// exactly what the plain way gives: the hash of renderWorkflow's definition (the cache key: its format
// must not change), and the template's stored id must follow its content. Random tasks, the shipped
// templates and one with a cache mount and step env.
import { describe, expect, it } from 'vitest';
import { storedTemplateId } from '../../src/store/workflow-templates.js';
import { workflowRow, type MigratedTask } from '../../src/store/workflow-rows.js';
import { canonicalJson, definitionHash, MAX_TEXT_VARIABLE_BYTES, renderWorkflow } from '../../src/workflows/render.js';
import { DEFAULT_TEMPLATES_DIR, loadTemplates, templateSetFromJson, templateSetToJson } from '../../src/workflows/templates.js';
import type { TaskValues } from '../../src/legacy/normalize.js';

/** The canonical JSON as first written (a replacer building sorted copies): the reference the fast writer must equal. */
function referenceCanonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['a', 'Z', ' ', '"', '\\', '\n', '\t', '\r', '\u0001', '\u001f', 'é', 'ß', '山田', '🔥', '{', '}', ',', ':', '$(x)', "'", '\u2028', '/', '<>', 'null'];

function text(rnd: () => number, max = 12): string {
  let s = '';
  const n = Math.floor(rnd() * max);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(rnd() * PIECES.length)];
  return s;
}

function maybe<T>(rnd: () => number, value: T): T | null {
  return rnd() < 0.3 ? null : value;
}

function task(rnd: () => number, i: number, type: string): MigratedTask {
  const values = {
    legacyId: `T-${i}${text(rnd, 3)}`, projectLegacyId: 'P-1', phaseLegacyId: null, title: text(rnd, 20) || 'x',
    description: maybe(rnd, text(rnd, 40)), status: 'todo', priority: 'high', type, assignee: maybe(rnd, text(rnd)), reporter: maybe(rnd, text(rnd)),
    estimateHours: maybe(rnd, rnd() < 0.5 ? (Math.round(rnd() * 1000) / 8).toString() : Math.round(rnd() * 100) / 4),
    dueOn: maybe(rnd, '2026-12-01'), tags: maybe(rnd, Array.from({ length: Math.floor(rnd() * 4) }, () => text(rnd, 5))),
  } as unknown as TaskValues;
  return { id: `00000000-0000-5000-8000-${String(i).padStart(12, '0')}`, projectId: '11111111-1111-5111-8111-111111111111', phaseId: maybe(rnd, '22222222-2222-5222-8222-222222222222'), values };
}

// The shipped templates, and one with everything a step can hold (JSON round trip = as a run stores them).
const shipped = loadTemplates(DEFAULT_TEMPLATES_DIR);
const rich = templateSetFromJson({
  ...templateSetToJson(shipped),
  templates: [{
    name: 'default', version: '7', run: 'on-migrate',
    steps: [{ name: 'build "it"', image: 'node:20', command: ['node', '-e', 'console.log("\\t")'], env: { B: '2', A: 'é', LONGER_KEY: '' }, cache: { key: 'npm', path: '/root/.npm' }, timeoutSeconds: 30 },
      { name: 'two', image: 'alpine:3', command: ['true'], env: {}, cache: null, timeoutSeconds: 5 }],
  }],
});

describe('a workflow row, the fast way', () => {
  for (const [name, templates, types] of [['shipped templates', shipped, ['default', 'bug', 'feature', 'chore', 'unknown-type']], ['a rich template', rich, ['default']]] as const) {
    it(`hashes the definition exactly as renderWorkflow + definitionHash do (${name})`, () => {
      const rnd = random(name.length);
      const tasks = Array.from({ length: 300 }, (_, i) => task(rnd, i, types[i % types.length]!));
      const fast = tasks.map((t) => workflowRow(templates, t));
      for (const [i, t] of tasks.entries()) {
        const template = templates.templateFor(t.values.type);
        const definition = renderWorkflow(template, {
          id: t.id, legacyId: t.values.legacyId, projectId: t.projectId, phaseId: t.phaseId, title: t.values.title, description: t.values.description,
          status: t.values.status, priority: t.values.priority, type: t.values.type, assignee: t.values.assignee, reporter: t.values.reporter,
          estimateHours: t.values.estimateHours, dueOn: t.values.dueOn, tags: t.values.tags,
        });
        expect(canonicalJson(definition)).toBe(referenceCanonicalJson(definition));
        expect(fast[i]!.definitionHash, t.values.legacyId).toBe(definitionHash(definition));
        expect(fast[i]!.template.name).toBe(definition.template);
        expect(fast[i]!.template.version).toBe(definition.templateVersion);
        expect(fast[i]!.runMode).toBe(definition.run);
      }
    });
  }

  // Found by the input probe: a description over 128 KiB made every run of its workflow fail (E2BIG).
  it('cuts a title or description too long for a variable, alike both ways, at a character boundary; the task file keeps it whole', () => {
    const rnd = random(7);
    for (const [i, [title, description]] of ([
      ['x'.repeat(MAX_TEXT_VARIABLE_BYTES + 1), null],
      ['short', `${'a'.repeat(MAX_TEXT_VARIABLE_BYTES - 1)}🔥 and more`],
      [`${'山'.repeat(30_000)}`, `${'é'.repeat(40_000)}\n"quoted"`],
      ['x'.repeat(MAX_TEXT_VARIABLE_BYTES), 'y'.repeat(MAX_TEXT_VARIABLE_BYTES)],
    ] as const).entries()) {
      const t = task(rnd, i, 'default');
      t.values = { ...t.values, title, description };
      const definition = renderWorkflow(shipped.templateFor('default'), {
        id: t.id, legacyId: t.values.legacyId, projectId: t.projectId, phaseId: t.phaseId, title, description,
        status: t.values.status, priority: t.values.priority, type: t.values.type, assignee: t.values.assignee, reporter: t.values.reporter,
        estimateHours: t.values.estimateHours, dueOn: t.values.dueOn, tags: t.values.tags,
      });
      expect(workflowRow(shipped, t).definitionHash).toBe(definitionHash(definition));
      const { env, file } = definition.inputs;
      for (const [name, whole] of [['TASK_TITLE', title], ['TASK_DESCRIPTION', description ?? '']] as const) {
        const variable = env[name]!;
        if (Buffer.byteLength(whole) <= MAX_TEXT_VARIABLE_BYTES) {
          expect(variable).toBe(whole);
          continue;
        }
        const [kept, note] = variable.split(/\n(?=\[taskfleet: cut)/);
        expect(note).toBe(`[taskfleet: cut at ${MAX_TEXT_VARIABLE_BYTES} of ${Buffer.byteLength(whole)} bytes; $TASK_FILE holds the whole text]`);
        expect(whole.startsWith(kept!)).toBe(true);
        expect(Buffer.byteLength(kept!)).toBeGreaterThan(MAX_TEXT_VARIABLE_BYTES - 4);
        expect(Buffer.byteLength(kept!)).toBeLessThanOrEqual(MAX_TEXT_VARIABLE_BYTES);
        expect(kept).not.toContain('\uFFFD');
      }
      expect(JSON.parse(file) as { title: string; description: string | null }).toMatchObject({ title, description });
    }
  });

  it('cuts the other unbounded variables too (reporter, type, tags), alike both ways', () => {
    const long = 'r'.repeat(MAX_TEXT_VARIABLE_BYTES + 10);
    const t = task(random(9), 0, long);
    t.values = { ...t.values, reporter: long, tags: [long] };
    const template = shipped.templateFor(long);
    const definition = renderWorkflow(template, {
      id: t.id, legacyId: t.values.legacyId, projectId: t.projectId, phaseId: t.phaseId, title: t.values.title, description: t.values.description,
      status: t.values.status, priority: t.values.priority, type: long, assignee: t.values.assignee, reporter: long,
      estimateHours: t.values.estimateHours, dueOn: t.values.dueOn, tags: [long],
    });
    expect(workflowRow(shipped, t).definitionHash).toBe(definitionHash(definition));
    for (const name of ['TASK_REPORTER', 'TASK_TYPE', 'TASK_TAGS']) {
      expect(definition.inputs.env[name], name).toMatch(/\n\[taskfleet: cut at 65536 of \d+ bytes; \$TASK_FILE holds the whole text\]$/);
    }
    expect(JSON.parse(definition.inputs.file) as { reporter: string; tags: string[]; type: string }).toMatchObject({ reporter: long, tags: [long], type: long });
  });

  it('keeps the hash format of earlier runs (stored hashes are cache keys: a new format would re-run their workflows)', () => {
    const set = templateSetFromJson({ dir: '/x', templates: [{ name: 'default', version: '7', run: 'on-migrate',
      steps: [{ name: 's', image: 'node:20', command: ['node', '-e', '1'], env: { A: 'é' }, cache: { key: 'npm', path: '/root/.npm' }, timeoutSeconds: 30 }] }] });
    const t: MigratedTask = { id: '00000000-0000-5000-8000-000000000001', projectId: '11111111-1111-5111-8111-111111111111', phaseId: null,
      values: { legacyId: 'T-1', title: 'Ünïcode "title"', description: null, status: 'todo', priority: 'high', type: 'default', assignee: '山田',
        reporter: null, estimateHours: '2.5', dueOn: '2026-12-01', tags: ['a', 'b'] } as unknown as TaskValues };
    // The value the first release computed (sha256 of the replacer-based canonical JSON), written down.
    expect(workflowRow(set, t).definitionHash).toBe('b25f975327777daabe00d7b2030c735b5e1997aae3b0d31897e97498445e9aa7');
  });

  it('gives a template the same stored id for the same content, whatever its key order, and a new one when it changes', () => {
    const json = templateSetToJson(rich);
    const again = templateSetFromJson(JSON.parse(JSON.stringify(json)) as typeof json);
    const reordered = templateSetFromJson({ ...json, templates: json.templates.map((t) => ({ steps: t.steps, run: t.run, version: t.version, name: t.name })) });
    const id = storedTemplateId(rich.templateFor('default'));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(storedTemplateId(again.templateFor('default'))).toBe(id);
    expect(storedTemplateId(reordered.templateFor('default'))).toBe(id);
    const changed = templateSetFromJson({ ...json, templates: json.templates.map((t) => ({ ...t, steps: t.steps.map((st, k) => (k === 0 ? { ...st, timeoutSeconds: 31 } : st)) })) });
    expect(storedTemplateId(changed.templateFor('default'))).not.toBe(id);
    const renamed = templateSetFromJson({ ...json, templates: json.templates.map((t) => ({ ...t, version: '8' })) });
    expect(storedTemplateId(renamed.templateFor('default'))).not.toBe(id);
  });

  it('writes canonical JSON as the reference does for odd values (nesting, arrays with holes, toJSON, undefined)', () => {
    const values: unknown[] = [
      { b: 1, a: [3, { d: null, c: undefined, e: 'x' }], 'é': true, '': -0.5 },
      [undefined, () => 1, { toJSON: () => ({ z: 1, y: 2 }) }],
      { date: new Date(0), nested: { list: [[], {}], n: 1e21, s: '\u2028"\\' } },
      'plain', 42, null, true,
    ];
    for (const v of values) expect(canonicalJson(v)).toBe(referenceCanonicalJson(v));
  });
});
