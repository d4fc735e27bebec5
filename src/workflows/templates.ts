// Workflow templates (--templates-dir DIR, default config/templates): one YAML file per task type,
// `default.yaml` serving every type without its own. Each file is validated with zod; an error names
// the file, the line and the field (`bug.yaml:14: steps[1].command`, with the step's name). The loaded
// set is stored with a run (templateSetToJson) so every worker renders a task's workflow from the very
// same templates.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Scalar } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import { PACKAGE_ROOT } from '../config/package-root.js';
import { yamlErrorParts } from '../config/yaml-error.js';
import { DEFAULT_STEP_TIMEOUT_SECONDS } from './dagger-config.js';
import { canonicalJson } from './render.js';
import type { WorkflowStep, WorkflowTemplate } from './types.js';

export const DEFAULT_TEMPLATES_DIR = join(PACKAGE_ROOT, 'config', 'templates');
export const DEFAULT_TEMPLATE = 'default';
const TEMPLATE_EXTENSIONS = ['.yaml', '.yml'];

/**
 * A template problem: which file, which field (null for the file as a whole), why, and the line of the
 * field (or of the YAML error) when the parser could say. Reads as a sentence:
 * `Workflow template bug.yaml:5: steps[0].command is required (step "lint")`.
 */
export class TemplateError extends ConfigError {
  override name = 'TemplateError';
  constructor(readonly file: string, readonly field: string | null, readonly reason: string, readonly line: number | null = null) {
    const where = `Workflow template ${file}${line !== null ? `:${line}` : ''}`;
    const subject = field === null ? where : `${where}: ${field}`;
    // "is required", "is not valid YAML": the reason continues the sentence; "must be …" follows a colon.
    super(`${subject}${reason.startsWith('is ') ? ' ' : ': '}${reason}`);
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const scalarText = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const stepSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a short name of letters, digits, ".", "_" or "-"'),
  image: z.string().regex(/^\S+$/, 'must be an image reference without spaces, e.g. node:20-bookworm-slim'),
  command: z.array(z.string({ error: 'every argument must be a string (quote numbers)' }), {
    error: (issue) => (issue.input === undefined ? 'is required: the program and its arguments, e.g. [node, -e, "..."]' : 'must be a list of arguments such as [node, -e, "..."], never a shell string'),
  })
    .min(1, 'must list at least the program to run')
    .refine((args) => args[0] !== '', 'the first argument (the program) must not be empty'),
  env: z.record(
    z.string()
      .regex(ENV_NAME, 'is not a valid environment variable name (letters, digits and _, not starting with a digit)')
      .refine((k) => !k.toUpperCase().startsWith('TASK_'), 'starts with TASK_, which is reserved for the task\'s own fields'),
    scalarText,
  ).default({}),
  cache: z.object({
    key: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a name of letters, digits, ".", "_" or "-"'),
    path: z.string().regex(/^\/\S*$/, 'must be an absolute path inside the container'),
  }).strict().nullable().default(null),
  timeoutSeconds: z.number().int('must be a whole number of seconds').min(1).max(24 * 3600).optional(),
}).strict();

const VERSION_REQUIRED = 'is required: the template\'s version as text, e.g. "1"';

// YAML reads `version: 1.10` as the number 1.1: a non-integer number would silently become other text.
const VERSION_QUOTE = 'is a YAML number, read as another text than written (1.10 reads as 1.1): quote it, e.g. version: "1.10"';

const templateSchema = z.object({
  version: z.union([z.string().trim().min(1, VERSION_REQUIRED), z.number()], { error: VERSION_REQUIRED })
    .refine((v) => typeof v === 'string' || Number.isInteger(v), VERSION_QUOTE).transform(String),
  description: z.string().optional(),
  run: z.enum(['on-migrate', 'manual'], { error: 'must be on-migrate or manual' }),
  steps: z.array(stepSchema, { error: 'must be a list of steps' }).min(1, 'must list at least one step'),
}).strict().superRefine((t, ctx) => {
  const seen = new Set<string>();
  t.steps.forEach((step, i) => {
    if (seen.has(step.name)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'name'], message: `"${step.name}" is used by an earlier step: step names must be unique` });
    seen.add(step.name);
  });
});

/** `steps[1].command`, `env.foo-bar`, or the unknown key's path. */
function fieldPath(issue: z.core.$ZodIssue): string | null {
  const path: PropertyKey[] = [...issue.path];
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]!);
  if (path.length === 0) return null;
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/** For a required key that is missing: the unknown keys of the same mapping (most often it, misspelt). */
function unknownSiblings(issue: z.core.$ZodIssue, issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssueUnrecognizedKeys | undefined {
  if (issue.code !== 'invalid_type' || issue.input !== undefined) return undefined;
  const parent = issue.path.slice(0, -1);
  const found = issues.find((i) => i.code === 'unrecognized_keys' && i.path.length === parent.length && i.path.every((p, n) => p === parent[n]));
  return found?.code === 'unrecognized_keys' ? found : undefined;
}

function issueReason(issue: z.core.$ZodIssue, doc: unknown, issues: readonly z.core.$ZodIssue[]): string {
  let reason = issue.code === 'invalid_key' ? issue.issues.map((i) => i.message).join('; ') : issue.message;
  if (issue.code === 'unrecognized_keys') reason = 'is not a template setting (see docs/workflows.md)';
  const unknown = unknownSiblings(issue, issues);
  if (unknown) {
    const keys = unknown.keys.map((k) => `"${k}"`).join(', ');
    reason += `; ${fieldPath({ ...unknown, keys: [] }) ?? 'the template'} has the unknown key${unknown.keys.length === 1 ? '' : 's'} ${keys} (misspelt?)`;
  }
  // Name the step too: "steps[2] (step "notify")" is easier to find than an index.
  const [first, index] = issue.path;
  if (first === 'steps' && typeof index === 'number') {
    const step = (doc as { steps?: unknown[] }).steps?.[index] as { name?: unknown } | undefined;
    if (typeof step?.name === 'string') reason += ` (step "${step.name}")`;
  }
  return reason;
}

export interface TemplateOptions {
  /** A step's timeout when the template states none (dagger.yaml's defaultTimeoutSeconds; else 300). */
  defaultTimeoutSeconds?: number;
}

/** The line of a field in the source: the key's own line, or (for a missing key) the line of the deepest part present. */
type LineOf = (path: readonly PropertyKey[]) => number | null;

/** Validates one template document; `name` is the task type it serves. Throws TemplateError. */
export function parseTemplate(doc: unknown, name: string, file: string, opts: TemplateOptions = {}, lineOf: LineOf = () => null): WorkflowTemplate {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new TemplateError(file, null, 'must be a YAML mapping with version, run and steps', lineOf([]));
  const parsed = templateSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // The line of the offending key: an unknown one, or for a missing one the unknown key that is likely it.
    const unknown = issue.code === 'unrecognized_keys' ? issue : unknownSiblings(issue, parsed.error.issues);
    const path = unknown && unknown.keys.length > 0 ? [...unknown.path, unknown.keys[0]!] : issue.path;
    throw new TemplateError(file, fieldPath(issue), issueReason(issue, doc, parsed.error.issues), lineOf(path));
  }
  const timeout = opts.defaultTimeoutSeconds ?? DEFAULT_STEP_TIMEOUT_SECONDS;
  const steps: WorkflowStep[] = parsed.data.steps.map((s) => ({
    name: s.name, image: s.image, command: [...s.command], env: { ...s.env }, cache: s.cache ? { ...s.cache } : null, timeoutSeconds: s.timeoutSeconds ?? timeout,
  }));
  return { name, version: parsed.data.version, run: parsed.data.run, steps };
}

/** Where each field of a parsed document is: the line of its key (a list item: the item's line). */
function lineFinder(document: Document, lines: LineCounter): LineOf {
  return (path) => {
    let node: unknown = document.contents;
    let offset = (node as { range?: [number] } | null)?.range?.[0] ?? null;
    for (const part of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === part);
        if (!pair) break;
        offset = (pair.key as Scalar).range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof part === 'number' && node.items[part] !== undefined) {
        node = node.items[part];
        offset = (node as { range?: [number] }).range?.[0] ?? offset;
      } else {
        break;
      }
    }
    return offset === null ? null : lines.linePos(offset).line;
  };
}

export function parseTemplateText(text: string, name: string, file: string, opts: TemplateOptions = {}): WorkflowTemplate {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines });
  const syntax = document.errors[0];
  if (syntax) {
    const { what, line } = yamlErrorParts(syntax);
    throw new TemplateError(file, null, `is not valid YAML: ${what}`, line);
  }
  const lineOf = lineFinder(document, lines);
  // A number's text as written: `version: 1.0` or `007` would be stored as "1" or "7".
  const version = document.get('version', true);
  if (isScalar(version) && typeof version.value === 'number' && version.source !== String(version.value)) {
    throw new TemplateError(file, 'version', VERSION_QUOTE.replace('1.10 reads as 1.1', `${version.source ?? '?'} reads as ${version.value}`), lineOf(['version']));
  }
  return parseTemplate(document.toJS() as unknown, name, file, opts, lineOf);
}

export interface TemplateSet {
  dir: string;
  templates: Map<string, WorkflowTemplate>;
  /** The template of a task type, else `default`; throws ConfigError when neither exists. */
  templateFor(type: string | null): WorkflowTemplate;
}

/** What to add so tasks of `type` get a workflow. */
export function howToServe(type: string): string {
  return type === DEFAULT_TEMPLATE ? `add ${DEFAULT_TEMPLATE}.yaml` : `add ${type}.yaml, or ${DEFAULT_TEMPLATE}.yaml for every type without its own`;
}

/** How the error of a task type without a template begins (a run failed on it is not resumable: see migrate). */
export const NO_TEMPLATE_FOR_TYPE = 'No workflow template for task type';

function makeSet(dir: string, templates: Map<string, WorkflowTemplate>): TemplateSet {
  return {
    dir,
    templates,
    templateFor(type) {
      const found = (type !== null && type !== '' ? templates.get(type) : undefined) ?? templates.get(DEFAULT_TEMPLATE);
      if (!found) throw new ConfigError(`${NO_TEMPLATE_FOR_TYPE} "${type || DEFAULT_TEMPLATE}" in ${dir}: ${howToServe(type || DEFAULT_TEMPLATE)}`);
      return found;
    },
  };
}

export interface TemplateFiles {
  dir: string;
  /** The templates that parsed, by name. */
  templates: Map<string, WorkflowTemplate>;
  /** The file each template came from, by name. */
  files: Map<string, string>;
  /** Every file that did not parse (empty when all did). */
  errors: TemplateError[];
}

/** Reads every template of a directory, collecting all errors instead of stopping at the first (prepare reports them all). */
export function readTemplateFiles(dir: string, opts: TemplateOptions = {}): TemplateFiles {
  const root = resolve(dir);
  let names: string[];
  try {
    names = readdirSync(root, { withFileTypes: true }).filter((e) => e.isFile() && TEMPLATE_EXTENSIONS.includes(extname(e.name))).map((e) => e.name).sort();
  } catch (err) {
    throw new ConfigError(`Cannot read the workflow templates directory ${root} (--templates-dir): ${(err as Error).message}`, { cause: err });
  }
  const templates = new Map<string, WorkflowTemplate>();
  const files = new Map<string, string>();
  const errors: TemplateError[] = [];
  for (const fileName of names) {
    const file = join(root, fileName);
    const name = basename(fileName, extname(fileName));
    if (files.has(name)) {
      errors.push(new TemplateError(file, null, `serves task type "${name}" like ${files.get(name)}: keep one of them`));
      continue;
    }
    files.set(name, file);
    try {
      templates.set(name, parseTemplateText(readFileSync(file, 'utf8'), name, file, opts));
    } catch (err) {
      if (err instanceof TemplateError) errors.push(err);
      else errors.push(new TemplateError(file, null, `cannot be read: ${(err as Error).message}`));
    }
  }
  return { dir: root, templates, files, errors };
}

/** The templates of a directory; throws the first TemplateError (naming file and field), or ConfigError when there are none. */
export function loadTemplates(dir: string = DEFAULT_TEMPLATES_DIR, opts: TemplateOptions = {}): TemplateSet {
  const read = readTemplateFiles(dir, opts);
  if (read.errors.length > 0) throw read.errors[0]!;
  if (read.templates.size === 0) throw new ConfigError(`The workflow templates directory ${read.dir} holds no template (*.yaml): add at least ${DEFAULT_TEMPLATE}.yaml`);
  return makeSet(read.dir, read.templates);
}

// ---- stored with a run -------------------------------------------------------------------------

const storedStepSchema = z.object({
  name: z.string().min(1), image: z.string().min(1), command: z.array(z.string()).min(1), env: z.record(z.string(), z.string()),
  cache: z.object({ key: z.string().min(1), path: z.string().min(1) }).nullable(), timeoutSeconds: z.number().int().min(1),
}).strict();
const storedSetSchema = z.object({
  dir: z.string(),
  templates: z.array(z.object({ name: z.string().min(1), version: z.string(), run: z.enum(['on-migrate', 'manual']), steps: z.array(storedStepSchema).min(1) }).strict()),
}).strict();

export type TemplateSetJson = z.infer<typeof storedSetSchema>;

export function templateSetToJson(set: TemplateSet): TemplateSetJson {
  const templates = [...set.templates.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { dir: set.dir, templates: templates.map((t) => ({ name: t.name, version: t.version, run: t.run, steps: t.steps.map((s) => ({ ...s, command: [...s.command], env: { ...s.env } })) })) };
}

/**
 * The SHA-256 of templates as a run uses them (where they were read from aside): a prepare records the
 * templates it checked, and migrate starts only from a prepare that checked the ones it runs with.
 */
export function templatesSha256(templates: ReadonlyMap<string, WorkflowTemplate>): string {
  const { templates: stored } = templateSetToJson(makeSet('', new Map(templates)));
  return createHash('sha256').update(canonicalJson(stored)).digest('hex');
}

export function templateSetFromJson(value: unknown): TemplateSet {
  const parsed = storedSetSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`The run's stored workflow templates are invalid at ${issue ? fieldPath(issue) ?? '(top level)' : '?'}: ${issue?.message ?? 'invalid'}`);
  }
  return makeSet(parsed.data.dir, new Map(parsed.data.templates.map((t) => [t.name, t])));
}
