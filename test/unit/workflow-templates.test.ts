// Workflow templates (loading, validation messages, fallback), dagger.yaml, and rendering: task data
// only in TASK_* variables and the task file, never in a command; the definition hash as a cache key.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadLegacyMapping } from '../../src/config/legacy-mapping.js';
import { checkWorkflowTemplates, collectTaskTypes, formatTemplateCheck } from '../../src/validation/template-checks.js';
import { DEFAULT_DAGGER_CONFIG_FILE, isImageAllowed, loadDaggerConfig, parseDaggerConfig } from '../../src/workflows/dagger-config.js';
import { canonicalJson, definitionHash, renderWorkflow, type TaskForWorkflow } from '../../src/workflows/render.js';
import {
  DEFAULT_TEMPLATES_DIR, loadTemplates, readTemplateFiles, TemplateError, templateSetFromJson, templateSetToJson, templatesSha256,
} from '../../src/workflows/templates.js';
import { TASK_FILE_PATH, type WorkflowDefinition } from '../../src/workflows/types.js';
import { tempDir, type TempDir } from './support.js';

const root: TempDir = tempDir('templates');
let counter = 0;
afterAll(() => root.remove());

/** A fresh templates directory holding the given files. */
function templatesDir(files: Record<string, string>): string {
  const dir = join(root.path, `set-${++counter}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const GOOD = `version: "2"
run: on-migrate
steps:
  - name: lint
    image: node:20-bookworm-slim
    command: [node, -e, "console.log(1)"]
    env: { MODE: strict }
    cache: { key: npm-cache, path: /root/.npm }
  - name: notify
    image: node:20-bookworm-slim
    command: [node, --version]
    timeoutSeconds: 7
`;

/** The error loadTemplates throws for a directory holding only `bug.yaml` with this text. */
function templateError(text: string): TemplateError {
  const dir = templatesDir({ 'bug.yaml': text });
  try {
    loadTemplates(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).file).toBe(join(dir, 'bug.yaml'));
    expect((err as Error).message).toContain(join(dir, 'bug.yaml'));
    return err as TemplateError;
  }
  throw new Error('expected a TemplateError');
}

describe('loadTemplates', () => {
  it('loads a template with its defaults filled in', () => {
    const set = loadTemplates(templatesDir({ 'default.yaml': GOOD }));
    const t = set.templates.get('default')!;
    expect(t).toEqual({
      name: 'default', version: '2', run: 'on-migrate', steps: [
        { name: 'lint', image: 'node:20-bookworm-slim', command: ['node', '-e', 'console.log(1)'], env: { MODE: 'strict' }, cache: { key: 'npm-cache', path: '/root/.npm' }, timeoutSeconds: 300 },
        { name: 'notify', image: 'node:20-bookworm-slim', command: ['node', '--version'], env: {}, cache: null, timeoutSeconds: 7 },
      ],
    });
  });

  it('takes the default step timeout from dagger.yaml when given', () => {
    const set = loadTemplates(templatesDir({ 'default.yaml': GOOD }), { defaultTimeoutSeconds: 42 });
    expect(set.templates.get('default')!.steps.map((s) => s.timeoutSeconds)).toEqual([42, 7]);
  });

  it('falls back to default for a type without a template, and for no type at all', () => {
    const set = loadTemplates(templatesDir({ 'default.yaml': GOOD, 'bug.yaml': GOOD.replace('"2"', '"bug-1"') }));
    expect(set.templateFor('bug').name).toBe('bug');
    expect(set.templateFor('bug').version).toBe('bug-1');
    expect(set.templateFor('feature').name).toBe('default');
    expect(set.templateFor(null).name).toBe('default');
  });

  it('says clearly when a type has no template and there is no default', () => {
    const dir = templatesDir({ 'bug.yaml': GOOD });
    const set = loadTemplates(dir);
    expect(() => set.templateFor('feature')).toThrow(ConfigError);
    expect(() => set.templateFor('feature')).toThrow(`No workflow template for task type "feature" in ${dir}: add feature.yaml, or default.yaml for every type without its own`);
    expect(() => set.templateFor(null)).toThrow(`No workflow template for task type "default" in ${dir}: add default.yaml`);
  });

  it('refuses a directory without templates, or one that does not exist', () => {
    expect(() => loadTemplates(templatesDir({ 'README.md': '# not a template' }))).toThrow(/holds no template \(\*\.yaml\): add at least default\.yaml/);
    expect(() => loadTemplates(join(root.path, 'nowhere'))).toThrow(/Cannot read the workflow templates directory .*nowhere \(--templates-dir\)/);
  });

  it('names file:line for YAML that does not parse, without a dangling position', () => {
    const err = templateError('version: "1"\nrun: manual\nsteps:\n  - name: a\n    command: [sh\n    image: alpine\n');
    expect(err.field).toBeNull();
    // Where the parser noticed it: the line after the unclosed list.
    expect(err.line).toBe(6);
    expect(err.message).toMatch(/bug\.yaml:6 is not valid YAML: \S/);
    expect(err.message).not.toMatch(/line \d+, column \d+|\n/);
  });

  it('says a missing command is required, names the misspelt key, and gives the line', () => {
    const err = templateError(GOOD.replace('command: [node, --version]', 'commnd: [sh]'));
    expect(err.field).toBe('steps[1].command');
    expect(err.line).toBe(11);
    expect(err.message).toMatch(/bug\.yaml:11: steps\[1\]\.command is required: /);
    expect(err.message).not.toContain('never a shell string');
    expect(err.reason).toContain('steps[1] has the unknown key "commnd"');
  });

  it('gives the line of the offending key', () => {
    expect(templateError(GOOD.replace('    timeoutSeconds: 7', '    timeout: 7')).line).toBe(12);
    expect(templateError(GOOD.replace('/root/.npm', 'cache')).line).toBe(8);
    expect(templateError(GOOD.replace('on-migrate', 'nightly')).line).toBe(2);
  });

  it.each([['1.10'], ['1.0'], ['1.5'], ['007']])('refuses version: %s unquoted (YAML would read it as another text)', (written) => {
    const err = templateError(GOOD.replace('version: "2"', `version: ${written}`));
    expect(err.field).toBe('version');
    expect(err.line).toBe(1);
    expect(err.reason).toMatch(/quote it, e\.g\. version: "1\.10"/);
  });

  it('keeps a quoted version as written, and an unquoted integer as its text', () => {
    const dir = templatesDir({ 'a.yaml': GOOD.replace('version: "2"', 'version: "1.10"'), 'b.yaml': GOOD.replace('version: "2"', 'version: 2') });
    const set = loadTemplates(dir);
    expect(set.templates.get('a')!.version).toBe('1.10');
    expect(set.templates.get('b')!.version).toBe('2');
  });

  it.each([
    ['a shell string as command', GOOD.replace('[node, -e, "console.log(1)"]', '"node -e console.log(1)"'), 'steps[0].command', /never a shell string \(step "lint"\)/],
    ['an empty command', GOOD.replace('[node, --version]', '[]'), 'steps[1].command', /at least the program to run \(step "notify"\)/],
    ['a number in a command', GOOD.replace('[node, --version]', '[node, 5]'), 'steps[1].command[1]', /every argument must be a string/],
    ['an env name reserved for the task', GOOD.replace('MODE: strict', 'TASK_TITLE: x'), 'steps[0].env.TASK_TITLE', /reserved for the task's own fields/],
    ['an invalid env name', GOOD.replace('MODE: strict', '"MY-VAR": x'), 'steps[0].env.MY-VAR', /not a valid environment variable name/],
    ['a relative cache path', GOOD.replace('/root/.npm', 'cache'), 'steps[0].cache.path', /absolute path/],
    ['an unknown run mode', GOOD.replace('on-migrate', 'nightly'), 'run', /must be on-migrate or manual/],
    ['no version', GOOD.replace('version: "2"\n', ''), 'version', /is required: the template's version as text/],
    ['an empty version', GOOD.replace('version: "2"', 'version: ""'), 'version', /is required: the template's version as text/],
    ['an unknown setting', GOOD.replace('    timeoutSeconds: 7', '    timeout: 7'), 'steps[1].timeout', /is not a template setting/],
    ['a fractional timeout', GOOD.replace('timeoutSeconds: 7', 'timeoutSeconds: 1.5'), 'steps[1].timeoutSeconds', /whole number/],
    ['no steps', 'version: "1"\nrun: manual\nsteps: []\n', 'steps', /at least one step/],
    ['two steps with one name', GOOD.replace('name: notify', 'name: lint'), 'steps[1].name', /must be unique/],
  ])('names file and field for %s', (_label, text, field, reason) => {
    const err = templateError(text);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(new RegExp(`:\\d+: ${field.replace(/[[\].]/g, '\\$&')}(: | is )`));
    expect(err.reason).toMatch(reason);
  });

  it('collects every broken file for prepare instead of stopping at the first', () => {
    const dir = templatesDir({ 'default.yaml': GOOD, 'bug.yaml': 'version: 1\n', 'chore.yaml': ':\n  - [', 'feature.yml': GOOD, 'feature.yaml': GOOD });
    const read = readTemplateFiles(dir);
    expect([...read.templates.keys()].sort()).toEqual(['default', 'feature']);
    expect(read.errors.map((e) => [e.file.slice(dir.length + 1), e.field])).toEqual([['bug.yaml', 'run'], ['chore.yaml', null], ['feature.yml', null]]);
    expect(read.errors[2]!.reason).toContain('like');
  });

  it('round-trips through the JSON a run stores, and refuses a corrupted one', () => {
    const set = loadTemplates(templatesDir({ 'default.yaml': GOOD, 'bug.yaml': GOOD }));
    const json = JSON.parse(JSON.stringify(templateSetToJson(set))) as unknown;
    const back = templateSetFromJson(json);
    expect(back.dir).toBe(set.dir);
    expect([...back.templates.entries()].sort()).toEqual([...set.templates.entries()].sort());
    expect(() => templateSetFromJson({ dir: 'x', templates: [{ name: 'a', version: '1', run: 'manual', steps: [] }] })).toThrow(/templates\[0\]\.steps/);
  });

  it('ships valid templates for every generated task type, using allowed images', () => {
    const set = loadTemplates(DEFAULT_TEMPLATES_DIR);
    const config = loadDaggerConfig();
    expect([...set.templates.keys()].sort()).toEqual(['bug', 'chore', 'default', 'feature']);
    const runs = new Set([...set.templates.values()].map((t) => t.run));
    // Shipped as manual: a migration creates workflows for years of history but runs none unless asked to.
    expect(runs).toEqual(new Set(['manual']));
    const steps = [...set.templates.values()].flatMap((t) => t.steps);
    expect(steps.some((s) => s.cache !== null)).toBe(true);
    for (const step of steps) expect(isImageAllowed(config, step.image), step.image).toBe(true);
  });
});

describe('dagger.yaml', () => {
  it('loads the shipped file', () => {
    const config = loadDaggerConfig(DEFAULT_DAGGER_CONFIG_FILE);
    expect(config).toMatchObject({ runner: 'auto', concurrency: 4, defaultTimeoutSeconds: 300, retry: { attempts: 3, backoffMs: 1000 }, cache: { enabled: true } });
  });

  it('fills defaults for an empty file', () => {
    expect(parseDaggerConfig(null, 'x.yaml')).toEqual({ runner: 'auto', concurrency: 4, defaultTimeoutSeconds: 300, retry: { attempts: 3, backoffMs: 1000 }, cache: { enabled: true }, allowedImages: [] });
  });

  it.each([
    [{ runner: 'docker' }, 'runner'],
    [{ concurrency: 0 }, 'concurrency'],
    [{ retry: { attempts: 'three' } }, 'retry.attempts'],
    [{ cache: { enabled: 'yes' } }, 'cache.enabled'],
    [{ allowedImages: ['node:*', 'bad image'] }, 'allowedImages[1]'],
    [{ allowedImages: ['no*where'] }, 'allowedImages[0]'],
  ])('names the setting: %j', (doc, setting) => {
    expect(() => parseDaggerConfig(doc, 'dagger.yaml')).toThrow(ConfigError);
    expect(() => parseDaggerConfig(doc, 'dagger.yaml')).toThrow(`Dagger config dagger.yaml: ${setting}: `);
  });

  it('reports an unreadable or unparsable file by name', () => {
    expect(() => loadDaggerConfig(join(root.path, 'missing.yaml'))).toThrow(/Cannot read Dagger config .*missing\.yaml \(--dagger-config\)/);
    expect(() => loadDaggerConfig(root.file('broken.yaml', 'runner: [local\n'))).toThrow(/Dagger config .*broken\.yaml is not valid YAML/);
  });

  it('allows exact references and prefix patterns only', () => {
    const config = { allowedImages: ['node:20-bookworm-slim', 'ghcr.io/acme/*'] };
    expect(isImageAllowed(config, 'node:20-bookworm-slim')).toBe(true);
    expect(isImageAllowed(config, 'node:20')).toBe(false);
    expect(isImageAllowed(config, 'node:20-bookworm-slim-evil')).toBe(false);
    expect(isImageAllowed(config, 'ghcr.io/acme/tools:1')).toBe(true);
    expect(isImageAllowed(config, 'ghcr.io/other/tools:1')).toBe(false);
    expect(isImageAllowed({ allowedImages: ['*'] }, 'anything:latest')).toBe(true);
    expect(isImageAllowed({ allowedImages: [] }, 'node:20')).toBe(false);
  });
});

describe('renderWorkflow', () => {
  const template = loadTemplates(templatesDir({ 'default.yaml': GOOD })).templateFor('bug');
  const task: TaskForWorkflow = {
    id: '6f1c1a8e-4a8b-5d55-9a57-0f1f0a7f0b11', legacyId: 'T-17', projectId: 'b0c1b8a2-0d3b-5a51-8f6f-1d1c8c1b2c3d', phaseId: null,
    title: '$(touch /tmp/pwned); "; rm -rf ~', description: null, status: 'todo', priority: 'high', type: 'bug', assignee: 'ana',
    reporter: null, estimateHours: '2.5', dueOn: '2026-12-01', tags: ['ui', 'p1'],
  };

  it('puts task fields in TASK_* variables and the task file, never in a command', () => {
    const def = renderWorkflow(template, task);
    expect(def).toMatchObject({ template: 'default', templateVersion: '2', run: 'on-migrate' });
    expect(def.steps).toEqual(template.steps);
    expect(def.inputs.env).toEqual({
      TASK_ID: task.id, TASK_LEGACY_ID: 'T-17', TASK_TITLE: task.title, TASK_DESCRIPTION: '', TASK_STATUS: 'todo', TASK_PRIORITY: 'high',
      TASK_TYPE: 'bug', TASK_PROJECT_ID: task.projectId, TASK_PHASE_ID: '', TASK_ASSIGNEE: 'ana', TASK_REPORTER: '', TASK_ESTIMATE_HOURS: '2.5',
      TASK_DUE_ON: '2026-12-01', TASK_TAGS: '["ui","p1"]', TASK_FILE: TASK_FILE_PATH,
    });
    expect(JSON.parse(def.inputs.file)).toEqual({
      id: task.id, legacyId: 'T-17', projectId: task.projectId, phaseId: null, title: task.title, description: null, status: 'todo',
      priority: 'high', type: 'bug', assignee: 'ana', reporter: null, estimateHours: '2.5', dueOn: '2026-12-01', tags: ['ui', 'p1'],
    });
    const commands = JSON.stringify(def.steps.map((s) => s.command));
    for (const value of [task.title, task.legacyId, task.id, 'ana', '2026-12-01']) expect(commands).not.toContain(value);
    // The steps' own env holds only the template's variables.
    expect(def.steps.map((s) => s.env)).toEqual([{ MODE: 'strict' }, {}]);
  });

  it('does not share arrays with the template (a stored definition cannot change under it)', () => {
    const def = renderWorkflow(template, task);
    def.steps[0]!.command.push('x');
    def.steps[0]!.env.MODE = 'lax';
    expect(template.steps[0]!.command).toEqual(['node', '-e', 'console.log(1)']);
    expect(template.steps[0]!.env).toEqual({ MODE: 'strict' });
  });

  it('hashes the same definition alike whatever its key order', () => {
    const def = renderWorkflow(template, task);
    const reversed = (value: unknown): unknown => {
      if (value === null || typeof value !== 'object') return value;
      if (Array.isArray(value)) return value.map(reversed);
      return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversed(v)]));
    };
    const shuffled = reversed(def) as WorkflowDefinition;
    expect(JSON.stringify(shuffled)).not.toBe(JSON.stringify(def));
    expect(definitionHash(shuffled)).toBe(definitionHash(def));
    expect(definitionHash(renderWorkflow(template, { ...task, tags: ['ui', 'p1'] }))).toBe(definitionHash(def));
    expect(definitionHash(def)).toMatch(/^[0-9a-f]{64}$/);
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}');
  });

  it('changes the hash when any one task field changes, or the template does', () => {
    const base = definitionHash(renderWorkflow(template, task));
    const changes: Partial<TaskForWorkflow>[] = [
      { title: `${task.title} ` }, { description: '' }, { status: 'done' }, { priority: 'low' }, { assignee: null }, { reporter: 'bo' },
      { estimateHours: 3 }, { dueOn: null }, { tags: ['ui'] }, { tags: null }, { phaseId: 'a1b2c3d4-0000-5000-8000-000000000000' }, { legacyId: 'T-18' },
    ];
    const hashes = changes.map((change) => definitionHash(renderWorkflow(template, { ...task, ...change })));
    for (const hash of hashes) expect(hash).not.toBe(base);
    expect(new Set(hashes).size).toBe(hashes.length);
    const bumped = { ...template, version: '3' };
    expect(definitionHash(renderWorkflow(bumped, task))).not.toBe(base);
    const otherTimeout = { ...template, steps: template.steps.map((s, i) => (i === 0 ? { ...s, timeoutSeconds: 301 } : s)) };
    expect(definitionHash(renderWorkflow(otherTimeout, task))).not.toBe(base);
  });

  it('renders a numeric estimate like its text', () => {
    const asNumber = renderWorkflow(template, { ...task, estimateHours: 2.5 });
    expect(asNumber.inputs.env.TASK_ESTIMATE_HOURS).toBe('2.5');
    expect(definitionHash(asNumber)).toBe(definitionHash(renderWorkflow(template, task)));
  });
});

describe('prepare\'s template checks', () => {
  const mapping = loadLegacyMapping();
  const tasksJsonl = [
    { id: 'T1', project_id: 'P1', title: 'a', type: 'bug' },
    { id: 'T2', project_id: 'P1', title: 'b', type: 'epic' },
    { id: 'T3', project_id: 'P1', title: 'c' },
    { id: 'T4', project_id: 'P1', title: '', type: 'ghost' },
    { id: 'T5', project_id: 'P1', title: 'e', type: 'epic' },
  ].map((t) => JSON.stringify(t)).join('\n');

  it('collects the types of the tasks that would migrate, with the first of each', async () => {
    const dir = tempDir('task-types');
    try {
      const types = await collectTaskTypes(dir.legacyFile('tasks', 'jsonl', `${tasksJsonl}\nnot json\n`), mapping);
      expect(types).toEqual([
        { type: 'bug', tasks: 1, firstLine: 1, firstLegacyId: 'T1' },
        { type: 'default', tasks: 1, firstLine: 3, firstLegacyId: 'T3' },
        { type: 'epic', tasks: 2, firstLine: 2, firstLegacyId: 'T2' },
      ]);
    } finally {
      dir.remove();
    }
  });

  const uses = [
    { type: 'bug', tasks: 1, firstLine: 1, firstLegacyId: 'T1' },
    { type: 'epic', tasks: 2, firstLine: 2, firstLegacyId: 'T2' },
  ];
  const config = parseDaggerConfig({ allowedImages: ['node:20-bookworm-slim'] }, 'dagger.yaml');

  it('passes when every type has its template or the default, all parse and use allowed images', () => {
    const read = readTemplateFiles(templatesDir({ 'default.yaml': GOOD, 'bug.yaml': GOOD }));
    const result = checkWorkflowTemplates({ templates: read, daggerConfig: config, daggerConfigFile: 'dagger.yaml', taskTypes: uses, tasksFileName: 'tasks.jsonl' });
    expect(result.findings).toEqual([]);
    expect(result.taskTypes.map((t) => [t.type, t.template])).toEqual([['bug', 'bug'], ['epic', 'default']]);
    expect(formatTemplateCheck(result).join('\n')).toContain('epic 2 → default');
  });

  it('reports a type without template or default, a broken template and a disallowed image, naming file and field', () => {
    const dir = templatesDir({ 'bug.yaml': GOOD.replace('image: node:20-bookworm-slim\n    command: [node, --version]', 'image: alpine:3\n    command: [node, --version]'), 'chore.yaml': 'run: manual\n' });
    const read = readTemplateFiles(dir);
    const result = checkWorkflowTemplates({ templates: read, daggerConfig: config, daggerConfigFile: 'dagger.yaml', taskTypes: uses, tasksFileName: 'tasks.jsonl' });
    expect(result.findings.map((f) => [f.class, f.ref, f.field])).toEqual([
      ['workflow_template_invalid', 'chore.yaml#version', 'version'],
      ['workflow_image_not_allowed', 'bug.yaml#steps[1].image', 'steps[1].image'],
      ['workflow_template_missing', 'tasks.jsonl:2', 'type'],
    ]);
    expect(result.findings.every((f) => f.severity === 'error')).toBe(true);
    expect(result.findings[0]!.reason).toContain(join(dir, 'chore.yaml'));
    expect(result.findings[1]!.reason).toBe(`Workflow template ${join(dir, 'bug.yaml')}: steps[1].image: image "alpine:3" (step "notify") is not allowed by allowedImages in dagger.yaml: add it there, or use an allowed image`);
    expect(result.findings[2]).toMatchObject({ kind: 'tasks', file: 'tasks.jsonl', line: 2, legacyId: 'T2' });
    expect(result.findings[2]!.reason).toBe(`2 task(s) of type "epic" have no workflow template in ${dir}: add epic.yaml, or default.yaml for every type without its own`);
  });
});

// Migrate's gate compares the templates a prepare checked (as read from their files) with those the run
// stores (read back from the run's JSON): the same templates give one hash, wherever they lie.
describe('templatesSha256', () => {
  it('is the same for the files prepare reads and the set a run stores, and changes with any template', () => {
    const a = templatesDir({ 'default.yaml': GOOD, 'bug.yaml': GOOD.replace('lint', 'triage') });
    const copy = templatesDir({ 'bug.yaml': GOOD.replace('lint', 'triage'), 'default.yaml': GOOD });
    const read = templatesSha256(readTemplateFiles(a).templates);
    expect(templatesSha256(templateSetFromJson(templateSetToJson(loadTemplates(a))).templates)).toBe(read);
    expect(templatesSha256(readTemplateFiles(copy).templates)).toBe(read);
    expect(templatesSha256(readTemplateFiles(templatesDir({ 'default.yaml': GOOD })).templates)).not.toBe(read);
    expect(templatesSha256(readTemplateFiles(templatesDir({ 'default.yaml': GOOD, 'bug.yaml': GOOD.replace('strict', 'lax') })).templates)).not.toBe(read);
    // The default timeout dagger.yaml gives a step without its own is part of what runs.
    expect(templatesSha256(readTemplateFiles(a, { defaultTimeoutSeconds: 7 }).templates)).not.toBe(read);
  });
});
