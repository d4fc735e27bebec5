// Prepare's checks of the workflow templates against the legacy data and dagger.yaml: every task type
// present in the data has a template (or `default.yaml` exists), every template parses, and every step's
// image is in allowedImages. Each problem is a blocking finding naming the template file and field (or,
// for a type without a template, the first task of that type).
import { basename } from 'node:path';
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { LegacyDataError } from '../legacy/errors.js';
import type { LegacyFile } from '../legacy/files.js';
import { createNormalizer } from '../legacy/normalize.js';
import { isImageAllowed, type DaggerConfig } from '../workflows/dagger-config.js';
import { DEFAULT_TEMPLATE, howToServe, type TemplateFiles } from '../workflows/templates.js';
import type { ErrorFinding } from './findings.js';
import { recordRef } from './findings.js';
import { streamLegacyRecords } from './record-stream.js';

export interface TaskTypeUse {
  type: string;
  /** Tasks of this type that would migrate. */
  tasks: number;
  /** The first such task: where a "no template" finding points. */
  firstLine: number;
  firstLegacyId: string;
}

/**
 * The task types of the tasks that would migrate, read in one streaming pass over the tasks file
 * (memory: one entry per distinct type). A file whose structure is unreadable yields what was read
 * before the problem; validation reports the file itself.
 */
export async function collectTaskTypes(tasksFile: LegacyFile, mapping: LegacyMapping): Promise<TaskTypeUse[]> {
  const normalize = createNormalizer('tasks', mapping);
  const types = new Map<string, TaskTypeUse>();
  try {
    for await (const batch of streamLegacyRecords(tasksFile, mapping)) {
      for (const record of batch) {
        if (record.fields === null) continue;
        const task = normalize(record.fields, record.exactNumbers);
        if (!task.ok) continue;
        const use = types.get(task.value.type);
        if (use) use.tasks++;
        else types.set(task.value.type, { type: task.value.type, tasks: 1, firstLine: record.line, firstLegacyId: task.value.legacyId });
      }
    }
  } catch (err) {
    if (!(err instanceof LegacyDataError)) throw err;
  }
  return [...types.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

export interface TemplateCheckInput {
  templates: TemplateFiles;
  daggerConfig: DaggerConfig;
  /** The dagger.yaml the allowlist came from, for the messages. */
  daggerConfigFile: string;
  taskTypes: readonly TaskTypeUse[];
  /** The legacy tasks file's name (findings about a task type point into it). */
  tasksFileName: string;
}

export interface TemplateCheckResult {
  templatesDir: string;
  templates: { name: string; file: string; version: string | null; run: string | null; valid: boolean }[];
  /** Each task type in the data and the template that serves it (null: none). */
  taskTypes: (TaskTypeUse & { template: string | null })[];
  findings: ErrorFinding[];
}

export function checkWorkflowTemplates(input: TemplateCheckInput): TemplateCheckResult {
  const { templates: read, daggerConfig, daggerConfigFile } = input;
  const findings: ErrorFinding[] = [];
  const finding = (file: string, field: string | null, reason: string, cls: ErrorFinding['class']): ErrorFinding => ({
    severity: 'error', kind: 'other', class: cls, ref: field ? `${basename(file)}#${field}` : basename(file), file, line: 0, legacyId: null, field, reason,
  });

  for (const err of read.errors) findings.push(finding(err.file, err.field, err.message, 'workflow_template_invalid'));

  for (const [name, template] of [...read.templates].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const file = read.files.get(name)!;
    template.steps.forEach((step, i) => {
      if (isImageAllowed(daggerConfig, step.image)) return;
      const field = `steps[${i}].image`;
      findings.push(finding(file, field,
        `Workflow template ${file}: ${field}: image "${step.image}" (step "${step.name}") is not allowed by allowedImages in ${daggerConfigFile}: add it there, or use an allowed image`,
        'workflow_image_not_allowed'));
    });
  }

  // A type is served by its own file, else by default's. A file that exists but does not parse is reported above, not again here.
  const servedBy = (type: string): string | null => (read.files.has(type) ? type : read.files.has(DEFAULT_TEMPLATE) ? DEFAULT_TEMPLATE : null);
  const taskTypes = input.taskTypes.map((use) => ({ ...use, template: servedBy(use.type) }));
  for (const use of taskTypes) {
    if (use.template !== null) continue;
    findings.push({
      severity: 'error', kind: 'tasks', class: 'workflow_template_missing', ref: recordRef(input.tasksFileName, use.firstLine), file: input.tasksFileName,
      line: use.firstLine, legacyId: use.firstLegacyId, field: 'type',
      reason: `${use.tasks} task(s) of type "${use.type}" have no workflow template in ${read.dir}: ${howToServe(use.type)}`,
    });
  }

  const templates = [...read.files].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, file]) => {
    const t = read.templates.get(name);
    return { name, file, version: t?.version ?? null, run: t?.run ?? null, valid: t !== undefined };
  });
  return { templatesDir: read.dir, templates, taskTypes, findings };
}

/** The summary's lines about the workflow templates. */
export function formatTemplateCheck(result: TemplateCheckResult): string[] {
  const lines = [`Workflow templates: ${result.templatesDir} (${result.templates.map((t) => (t.valid ? `${t.name} v${t.version ?? '?'} ${t.run ?? ''}`.trim() : `${t.name} INVALID`)).join(', ') || 'none'})`];
  lines.push(`  task types: ${result.taskTypes.map((t) => `${t.type} ${t.tasks} → ${t.template ?? 'NO TEMPLATE'}`).join(', ') || 'none'}`);
  lines.push(`  blocking errors: ${result.findings.length}`);
  for (const f of result.findings) lines.push(`  ${f.ref}  ${f.class}: ${f.reason}`);
  return lines;
}
