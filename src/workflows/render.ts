// Renders a task's workflow from its template: the template's steps as they are, and the task's fields
// as data only — TASK_* environment variables and a JSON file (TaskInputs). Nothing of the task enters
// a command. The definition's hash (SHA-256 of its canonical JSON) is the cache key of its runs.
import { hash } from 'node:crypto';
import { TASK_FILE_PATH, type TaskInputs, type WorkflowDefinition, type WorkflowStep, type WorkflowTemplate } from './types.js';

/** The migrated task's fields a workflow sees (ids are the new system's). */
export interface TaskForWorkflow {
  id: string;
  legacyId: string;
  projectId: string;
  phaseId: string | null;
  title: string;
  description: string | null;
  status: string;
  priority: string;
  type: string;
  assignee: string | null;
  reporter: string | null;
  estimateHours: string | number | null;
  dueOn: string | null;
  tags: readonly string[] | null;
}

/**
 * JSON with object keys sorted at every level: equal values give equal text whatever their key order.
 * Written out directly (no replacer building sorted copies): it runs for every migrated task.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value) ?? 'null';
}

/** As JSON.stringify: undefined (and functions) are left out of objects and read null in arrays. */
function canonical(value: unknown): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonical((value as { toJSON: () => unknown }).toJSON());
  }
  // undefined, a function or a symbol: JSON.stringify gives undefined (its type says string).
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += `${i > 0 ? ',' : ''}${canonical(value[i]) ?? 'null'}`;
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(obj).sort()) {
    const text = canonical(obj[key]);
    if (text === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${text}`;
  }
  return `${out}}`;
}

const text = (value: string | null): string => value ?? '';

/**
 * The most of a text a variable carries (UTF-8 bytes: title, description, reporter, type, tags' JSON). Linux refuses to start a process
 * with any one variable over 128 KiB (E2BIG), so a longer text would fail its workflow on every attempt;
 * cut, it says so at its end, and the task file keeps it whole.
 */
export const MAX_TEXT_VARIABLE_BYTES = 64 * 1024;

/** `value` as its variable carries it: whole, or cut at a character boundary with a note. */
function variableText(value: string): string {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most texts need no count.
  if (value.length * 3 <= MAX_TEXT_VARIABLE_BYTES) return value;
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= MAX_TEXT_VARIABLE_BYTES) return value;
  // toString drops a character cut in half as U+FFFD: trim that away.
  const kept = bytes.subarray(0, MAX_TEXT_VARIABLE_BYTES).toString('utf8').replace(/\uFFFD$/, '');
  return `${kept}\n[taskfleet: cut at ${MAX_TEXT_VARIABLE_BYTES} of ${bytes.length} bytes; $TASK_FILE holds the whole text]`;
}

/** The task as the workflow sees it: a null field is an empty variable (present, so a step can rely on it), and JSON null in the file. */
export function taskInputs(task: TaskForWorkflow): TaskInputs {
  const estimate = task.estimateHours === null ? null : String(task.estimateHours);
  const tags = task.tags === null ? null : [...task.tags];
  const env: Record<string, string> = {
    TASK_ID: task.id,
    TASK_LEGACY_ID: task.legacyId,
    TASK_TITLE: variableText(task.title),
    TASK_DESCRIPTION: variableText(text(task.description)),
    TASK_STATUS: task.status,
    TASK_PRIORITY: task.priority,
    TASK_TYPE: variableText(task.type),
    TASK_PROJECT_ID: task.projectId,
    TASK_PHASE_ID: text(task.phaseId),
    TASK_ASSIGNEE: text(task.assignee),
    TASK_REPORTER: variableText(text(task.reporter)),
    TASK_ESTIMATE_HOURS: text(estimate),
    TASK_DUE_ON: text(task.dueOn),
    TASK_TAGS: variableText(JSON.stringify(tags ?? [])),
    // Where the task JSON is mounted (the local runner points it at its own copy of the file).
    TASK_FILE: TASK_FILE_PATH,
  };
  const file = taskFileJson(task, estimate, tags);
  return { env, file };
}

/**
 * canonicalJson of the task file's object, written out with its keys already in canonical order: this
 * runs for every migrated task (test/unit/workflow-rows.test.ts checks it against canonicalJson).
 */
function taskFileJson(task: TaskForWorkflow, estimate: string | null, tags: string[] | null): string {
  const j = JSON.stringify;
  return `{"assignee":${j(task.assignee)},"description":${j(task.description)},"dueOn":${j(task.dueOn)},"estimateHours":${j(estimate)},`
    + `"id":${j(task.id)},"legacyId":${j(task.legacyId)},"phaseId":${j(task.phaseId)},"priority":${j(task.priority)},`
    + `"projectId":${j(task.projectId)},"reporter":${j(task.reporter)},"status":${j(task.status)},"tags":${j(tags)},`
    + `"title":${j(task.title)},"type":${j(task.type)}}`;
}

/**
 * canonicalJson(taskInputs(task)) written out directly — keys already in canonical order, each field's
 * JSON text computed once for both the variables and the file: this runs for every migrated task
 * (test/unit/workflow-rows.test.ts checks it against canonicalJson on random tasks).
 */
function canonicalTaskInputs(task: TaskForWorkflow): string {
  const j = JSON.stringify;
  // A variable is its field's JSON text, or "" for null (taskInputs: a null field is an empty variable).
  const v = (json: string): string => (json === 'null' ? '""' : json);
  const estimate = task.estimateHours === null ? null : String(task.estimateHours);
  const id = j(task.id), legacyId = j(task.legacyId), projectId = j(task.projectId), phaseId = j(task.phaseId);
  const title = j(task.title), description = j(task.description), status = j(task.status), priority = j(task.priority);
  const type = j(task.type), assignee = j(task.assignee), reporter = j(task.reporter), estimateHours = j(estimate);
  const dueOn = j(task.dueOn), tags = j(task.tags);
  const file = `{"assignee":${assignee},"description":${description},"dueOn":${dueOn},"estimateHours":${estimateHours},`
    + `"id":${id},"legacyId":${legacyId},"phaseId":${phaseId},"priority":${priority},"projectId":${projectId},`
    + `"reporter":${reporter},"status":${status},"tags":${tags},"title":${title},"type":${type}}`;
  // The variables of unbounded texts: their field's JSON, unless variableText cut them.
  const variable = (value: string | null, json: string): string => {
    if (value === null) return json;
    const cut = variableText(value);
    return cut === value ? json : j(cut);
  };
  const tagsText = task.tags === null ? '[]' : tags;
  return `{"env":{"TASK_ASSIGNEE":${v(assignee)},"TASK_DESCRIPTION":${v(variable(task.description, description))},"TASK_DUE_ON":${v(dueOn)},`
    + `"TASK_ESTIMATE_HOURS":${v(estimateHours)},"TASK_FILE":${j(TASK_FILE_PATH)},"TASK_ID":${id},"TASK_LEGACY_ID":${legacyId},`
    + `"TASK_PHASE_ID":${v(phaseId)},"TASK_PRIORITY":${priority},"TASK_PROJECT_ID":${projectId},"TASK_REPORTER":${v(variable(task.reporter, reporter))},`
    + `"TASK_STATUS":${status},"TASK_TAGS":${variable(tagsText, j(tagsText))},"TASK_TITLE":${variable(task.title, title)},"TASK_TYPE":${variable(task.type, type)}},`
    + `"file":${j(file)}}`;
}

export function renderWorkflow(template: WorkflowTemplate, task: TaskForWorkflow): WorkflowDefinition {
  return {
    template: template.name,
    templateVersion: template.version,
    run: template.run,
    steps: renderedSteps(template),
    inputs: taskInputs(task),
  };
}

/** The template's steps as a definition holds them: copies, so a stored definition cannot change under a template. */
export function renderedSteps(template: WorkflowTemplate): WorkflowStep[] {
  return template.steps.map((s) => ({ ...s, command: [...s.command], env: { ...s.env }, cache: s.cache ? { ...s.cache } : null }));
}

/**
 * SHA-256 (hex) of the definition's canonical JSON: same template and same task inputs → same hash. Its
 * format must not change: stored hashes are the cache keys of earlier successful runs.
 */
export function definitionHash(def: WorkflowDefinition): string {
  return hash('sha256', canonicalJson(def), 'hex');
}

/** The template's share of the canonical definition text, once per template (templates are not changed once loaded). */
const templateCanonical = new WeakMap<WorkflowTemplate, { run: string; steps: string; tail: string }>();

/**
 * definitionHash(renderWorkflow(template, task)) without building the definition: the canonical text is
 * the template's cached parts around the task's inputs. Canonical key order: inputs, run, steps,
 * template, templateVersion.
 */
export function definitionHashFor(template: WorkflowTemplate, task: TaskForWorkflow): string {
  let parts = templateCanonical.get(template);
  if (!parts) {
    parts = {
      run: JSON.stringify(template.run),
      steps: canonicalJson(renderedSteps(template)),
      tail: `"template":${JSON.stringify(template.name)},"templateVersion":${JSON.stringify(template.version)}}`,
    };
    templateCanonical.set(template, parts);
  }
  // crypto.hash: one call, no Hash object per task. Most of this function's cost is building the ~2 KB
  // text and hashing it (SHA-256 runs at ~940 MB/s here), which the fixed format does not let us cut.
  return hash('sha256', `{"inputs":${canonicalTaskInputs(task)},"run":${parts.run},"steps":${parts.steps},${parts.tail}`, 'hex');
}
