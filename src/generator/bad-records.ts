// Bad records: one builder per reject class of docs/legacy-format.md that a record of each kind can have.
//
// Every bad record is an extra record with exactly one fault, so its class is never ambiguous, and it
// is a leaf: nothing references it and a bad task declares no dependencies. The classes "rejected
// parent" and "edge of a rejected task" are therefore never produced (they would need a cascade).
// Malformed and oversized records report no legacy id: the fleet rejects them before reading fields.

import * as fake from './fake-values.js';
import {
  badPhaseId, badProjectId, badTaskId, type Layout, missingPhaseId, missingProjectId, phaseId, projectId,
  projectKey, taskId,
} from './ids.js';
import type { Random } from './random.js';
import { buildPhase, buildProject, buildTask, COLUMNS, type Format, type Kind, type LegacyRecord } from './records.js';
import type { RotatingVariant } from './schedule.js';
import { csvRow } from './writers.js';

/** Reject classes, named after the rows of the table in docs/legacy-format.md. */
export const REJECT_CLASSES = [
  'malformed_record',
  'wrong_type',
  'missing_required_field',
  'duplicate_id',
  'dangling_reference',
  'phase_of_another_project',
  'rejected_parent',
  'dangling_dependency',
  'self_dependency',
  'dependency_cycle',
  'duplicate_dependency',
  'edge_of_rejected_task',
  'oversized_record',
] as const;
export type RejectClass = (typeof REJECT_CLASSES)[number];

/** One line of `_expected_rejects.jsonl`. */
export interface ExpectedReject {
  kind: Kind;
  /** `tasks.jsonl:12`, or `tasks.jsonl:12#depends_on[0]` for an edge declared in a task. */
  ref: string;
  file: string;
  line: number;
  legacyId: string | null;
  class: RejectClass;
  /** The faulty field; null when the whole record is unreadable (malformed, oversized). */
  field: string | null;
}

/** What to write: a record the writer serialises, or text already in the file's format. */
export type Output = { type: 'record'; record: LegacyRecord } | { type: 'raw'; text: string };

export interface BadRecordContext {
  random: Random;
  format: Format;
  layout: Layout;
  /** 0-based number of this bad record within its kind; names its own id. */
  badIndex: number;
  /** Good records of this kind already written; a duplicate copies the id of one of them. */
  goodWritten: number;
  maxRecordBytes: number;
}

export interface RecordVariant extends RotatingVariant {
  readonly class: RejectClass;
  readonly field: string | null;
  readonly formats?: readonly Format[];
  readonly fits?: (layout: Layout) => boolean;
  readonly build: (ctx: BadRecordContext) => { output: Output; legacyId: string | null };
}

const record = (value: LegacyRecord): Output => ({ type: 'record', record: value });

/** A record the fleet cannot parse, made from a real one so it looks like damaged data. */
export function malformed(kind: Kind, format: Format, base: LegacyRecord, variant: number): Output {
  const json = JSON.stringify(base);
  if (format === 'jsonl') {
    // Cut mid-record, as a crashed export would; never inside a surrogate pair.
    let cut = Math.max(20, Math.floor(json.length * (0.3 + 0.1 * (variant % 6))));
    if (cut >= json.length) cut = json.length - 1;
    const code = json.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut--;
    return { type: 'raw', text: json.slice(0, cut) };
  }
  if (format === 'json') {
    // Braces and quotes stay balanced, so a reader still finds the element's end; only the comma is gone.
    return { type: 'raw', text: json.replace('","', '" "') };
  }
  const columns = COLUMNS[kind];
  if (variant % 2 === 0) {
    return { type: 'raw', text: `${csvRow(columns, base)},"surplus, field",x` };
  }
  // Too few fields: only the first half of the columns.
  const kept = columns.slice(0, Math.max(1, Math.floor(columns.length / 2)));
  const half: LegacyRecord = {};
  for (const column of kept) half[column] = base[column];
  return { type: 'raw', text: csvRow(kept, half) };
}

/** Text whose UTF-8 size is above `maxRecordBytes` (UTF-8 never has fewer bytes than UTF-16 units). */
export function oversizedText(random: Random, maxRecordBytes: number): string {
  return fake.longText(random, maxRecordBytes + 1024);
}

// Projects -------------------------------------------------------------------------------------------

function badProject(ctx: BadRecordContext): LegacyRecord {
  return buildProject(ctx.random, { id: badProjectId(ctx.badIndex), key: `X${projectKey(ctx.badIndex)}` });
}

function copiedProject(ctx: BadRecordContext): { record: LegacyRecord; id: string } {
  const original = ctx.random.int(ctx.goodWritten);
  const id = projectId(original);
  const copy = buildProject(ctx.random, { id, key: projectKey(original) });
  copy.name = `(copy) ${String(copy.name)}`;
  return { record: copy, id };
}

export const PROJECT_VARIANTS: readonly RecordVariant[] = [
  {
    class: 'malformed_record',
    field: null,
    build: (ctx) => ({ output: malformed('projects', ctx.format, badProject(ctx), ctx.badIndex), legacyId: null }),
  },
  wrongType(badProject, 'updated_at', 'next sprint'),
  missing(badProject, 'name', undefined),
  {
    class: 'duplicate_id',
    field: 'id',
    build: (ctx) => {
      const copy = copiedProject(ctx);
      return { output: record(copy.record), legacyId: copy.id };
    },
  },
  oversized(badProject, 'description'),
  missing(badProject, 'id', undefined),
  wrongType(badProject, 'created_at', 'sometime in 2019'),
  missing(badProject, 'name', ''),
];

// Phases ---------------------------------------------------------------------------------------------

function badPhase(ctx: BadRecordContext, project?: string): LegacyRecord {
  const { layout, random } = ctx;
  return buildPhase(random, {
    id: badPhaseId(ctx.badIndex),
    projectId: project ?? projectId(random.int(layout.projects)),
    position: random.between(1, Math.max(1, layout.phasesPerProject)),
  });
}

export const PHASE_VARIANTS: readonly RecordVariant[] = [
  {
    class: 'malformed_record',
    field: null,
    build: (ctx) => ({ output: malformed('phases', ctx.format, badPhase(ctx), ctx.badIndex), legacyId: null }),
  },
  wrongType(badPhase, 'position', 'first'),
  missing(badPhase, 'name', undefined),
  {
    class: 'duplicate_id',
    field: 'id',
    build: (ctx) => {
      const original = ctx.random.int(ctx.goodWritten);
      const project = ctx.layout.projectOfPhase(original);
      const copy = buildPhase(ctx.random, {
        id: phaseId(original),
        projectId: projectId(project),
        position: (original % ctx.layout.phasesPerProject) + 1,
      });
      copy.name = `(copy) ${String(copy.name)}`;
      return { output: record(copy), legacyId: phaseId(original) };
    },
  },
  {
    class: 'dangling_reference',
    field: 'project_id',
    build: (ctx) => ({ output: record(badPhase(ctx, missingProjectId(ctx.badIndex))), legacyId: badPhaseId(ctx.badIndex) }),
  },
  oversized(badPhase, 'name'),
  wrongType(badPhase, 'starts_on', 'soon'),
  missing(badPhase, 'project_id', undefined),
  missing(badPhase, 'id', undefined),
  wrongType(badPhase, 'ends_on', 'TBD'),
  missing(badPhase, 'name', ''),
];

// Tasks ----------------------------------------------------------------------------------------------

/** A bad task: valid references (unless overridden) and no dependencies, so it adds no edges. */
function badTask(ctx: BadRecordContext, refs: { projectId?: string; phaseId?: string | null } = {}): LegacyRecord {
  const { layout, random } = ctx;
  const project = random.int(layout.projects);
  const phase =
    layout.phasesPerProject > 0 && random.chance(0.7)
      ? phaseId(layout.phaseIndex(project, random.int(layout.phasesPerProject)))
      : null;
  return buildTask(random, {
    id: badTaskId(ctx.badIndex),
    projectId: refs.projectId ?? projectId(project),
    phaseId: refs.phaseId === undefined ? phase : refs.phaseId,
    dependsOn: [],
  });
}

/** Without a project the phase check has nothing to compare with, so these tasks have no phase either. */
const badTaskWithoutPhase = (ctx: BadRecordContext): LegacyRecord => badTask(ctx, { phaseId: null });

export const TASK_VARIANTS: readonly RecordVariant[] = [
  {
    class: 'malformed_record',
    field: null,
    build: (ctx) => ({ output: malformed('tasks', ctx.format, badTask(ctx), ctx.badIndex), legacyId: null }),
  },
  wrongType(badTask, 'estimate_hours', 'abc'),
  missing(badTask, 'title', undefined),
  {
    class: 'duplicate_id',
    field: 'id',
    build: (ctx) => {
      const original = ctx.random.int(ctx.goodWritten);
      const id = taskId(original);
      const copy = buildTask(ctx.random, {
        id,
        projectId: projectId(ctx.layout.projectOfTask(original)),
        phaseId: null,
        dependsOn: [],
      });
      copy.title = `(copy) ${String(copy.title)}`;
      return { output: record(copy), legacyId: id };
    },
  },
  {
    class: 'dangling_reference',
    field: 'project_id',
    build: (ctx) => ({
      output: record(badTask(ctx, { projectId: missingProjectId(ctx.badIndex), phaseId: null })),
      legacyId: badTaskId(ctx.badIndex),
    }),
  },
  {
    class: 'phase_of_another_project',
    field: 'phase_id',
    fits: (layout) => layout.projects >= 2 && layout.phasesPerProject >= 1,
    build: (ctx) => {
      const { layout, random } = ctx;
      const project = random.int(layout.projects);
      const other = (project + 1 + random.int(layout.projects - 1)) % layout.projects;
      const phase = phaseId(layout.phaseIndex(other, random.int(layout.phasesPerProject)));
      return {
        output: record(badTask(ctx, { projectId: projectId(project), phaseId: phase })),
        legacyId: badTaskId(ctx.badIndex),
      };
    },
  },
  oversized(badTask, 'description'),
  {
    class: 'dangling_reference',
    field: 'phase_id',
    build: (ctx) => ({
      output: record(badTask(ctx, { phaseId: missingPhaseId(ctx.badIndex) })),
      legacyId: badTaskId(ctx.badIndex),
    }),
  },
  wrongType(badTask, 'due_on', 'soon'),
  // CSV lists are text, so only JSON can hold a number where the tags list belongs.
  { ...wrongType(badTask, 'tags', 5), formats: ['json', 'jsonl'] },
  missing(badTask, 'id', undefined),
  missing(badTaskWithoutPhase, 'project_id', undefined),
  missing(badTask, 'title', ''),
];

// Shared shapes --------------------------------------------------------------------------------------

function wrongType(base: (ctx: BadRecordContext) => LegacyRecord, field: string, value: string | number): RecordVariant {
  return {
    class: 'wrong_type',
    field,
    build: (ctx) => {
      const bad = base(ctx);
      bad[field] = value;
      return { output: record(bad), legacyId: bad.id as string };
    },
  };
}

/** A required field left out, or (for `''`) empty, which the contract counts as missing. */
function missing(base: (ctx: BadRecordContext) => LegacyRecord, field: string, value: '' | undefined): RecordVariant {
  return {
    class: 'missing_required_field',
    field,
    build: (ctx) => {
      const bad = base(ctx);
      bad[field] = value;
      return { output: record(bad), legacyId: typeof bad.id === 'string' ? bad.id : null };
    },
  };
}

function oversized(base: (ctx: BadRecordContext) => LegacyRecord, field: string): RecordVariant {
  return {
    class: 'oversized_record',
    field: null,
    once: true,
    build: (ctx) => {
      const bad = base(ctx);
      bad[field] = oversizedText(ctx.random, ctx.maxRecordBytes);
      return { output: record(bad), legacyId: null };
    },
  };
}

/** The variants that apply to a kind in a format and layout (e.g. no tags-as-number in CSV). */
export function variantsFor(variants: readonly RecordVariant[], format: Format, layout: Layout): RecordVariant[] {
  return variants.filter((v) => (!v.formats || v.formats.includes(format)) && (!v.fits || v.fits(layout)));
}

/**
 * How many bad records, handed out in rotation order, it takes to cover every class of `variants`:
 * the least number of bad records of a kind.
 */
export function coveringCount(variants: readonly RecordVariant[]): number {
  const classes = new Set(variants.map((v) => v.class));
  const seen = new Set<RejectClass>();
  for (const [index, variant] of variants.entries()) {
    seen.add(variant.class);
    if (seen.size === classes.size) return index + 1;
  }
  return 0;
}
