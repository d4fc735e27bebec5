// One streaming pass per legacy file: good records in index order, bad ones slotted in between.
//
// Tasks and task_dependencies share a pass, because a task's extra and bad rows are decided with its
// own dependencies; each file still gets its own writer and line numbers.

import { coveringCount, type Output, PHASE_VARIANTS, PROJECT_VARIANTS, type RecordVariant, TASK_VARIANTS, variantsFor } from './bad-records.js';
import { DependencyPlanner, edgeId, type TaskDependencies } from './dependencies.js';
import type { ExpectedRejectsWriter, RejectSection } from './expected-rejects.js';
import { type Layout, phaseId, projectId, projectKey, taskId } from './ids.js';
import { type ResolvedOptions, writesDependencyFile } from './options.js';
import { Random, Stream } from './random.js';
import { buildPhase, buildProject, buildTask, type Kind } from './records.js';
import { Rotation, SlotSchedule } from './schedule.js';
import { LegacyFileWriter } from './writers.js';

const PROGRESS_EVERY = 10_000;

/** Counts records written across passes and reports every PROGRESS_EVERY of them. */
export class Progress {
  private written = 0;

  constructor(
    readonly total: number,
    private readonly report: ((written: number, total: number) => void) | undefined,
  ) {}

  tick(): void {
    this.written++;
    if (this.report && this.written % PROGRESS_EVERY === 0) this.report(this.written, this.total);
  }

  end(): void {
    this.report?.(this.written, this.total);
  }
}

export interface PassContext {
  options: ResolvedOptions;
  layout: Layout;
  rejects: ExpectedRejectsWriter;
  progress: Progress;
}

type RecordKind = Exclude<Kind, 'task_dependencies'>;

const VARIANTS: Record<RecordKind, readonly RecordVariant[]> = {
  projects: PROJECT_VARIANTS,
  phases: PHASE_VARIANTS,
  tasks: TASK_VARIANTS,
};
const STREAMS: Record<RecordKind, { slots: number; bad: number }> = {
  projects: { slots: Stream.projectSlots, bad: Stream.badProject },
  phases: { slots: Stream.phaseSlots, bad: Stream.badPhase },
  tasks: { slots: Stream.taskSlots, bad: Stream.badTask },
};

/** Good and bad record counts of each record kind, known before anything is written. */
export function recordCounts(options: ResolvedOptions, layout: Layout): Record<RecordKind, { good: number; bad: number }> {
  const counts = (kind: RecordKind, good: number): { good: number; bad: number } => {
    if (options.badRatio === 0 || good === 0) return { good, bad: 0 };
    // At least one record of every class, so a small data set still exercises every reject.
    const minimum = coveringCount(variantsFor(VARIANTS[kind], options.format, layout));
    return { good, bad: Math.max(minimum, Math.round(options.badRatio * good)) };
  };
  return {
    projects: counts('projects', layout.projects),
    phases: counts('phases', layout.phases),
    tasks: counts('tasks', layout.tasks),
  };
}

function writeOutput(writer: LegacyFileWriter, output: Output): number {
  return output.type === 'record' ? writer.write(output.record) : writer.writeRaw(output.text);
}

/**
 * Writes one record kind: `writeGood(index)` for each good record, bad variants in rotation at the
 * slots the schedule picks. Returns the number of records written.
 */
async function writeKind(
  ctx: PassContext,
  kind: RecordKind,
  writer: LegacyFileWriter,
  writeGood: (index: number) => void,
  needsFlush: () => boolean,
  flush: () => Promise<void>,
): Promise<number> {
  const { options, layout } = ctx;
  const { good, bad } = recordCounts(options, layout)[kind];
  const schedule = new SlotSchedule(Random.derive(options.seed, STREAMS[kind].slots), good, bad);
  const rotation = new Rotation(variantsFor(VARIANTS[kind], options.format, layout));
  let goodWritten = 0;
  let badWritten = 0;
  while (!schedule.done) {
    if (schedule.next() === 'good') {
      writeGood(goodWritten++);
    } else {
      const variant = rotation.choose();
      if (!variant) throw new Error(`No bad ${kind} variant fits this layout.`);
      const built = variant.build({
        random: Random.derive(options.seed, STREAMS[kind].bad, badWritten),
        format: options.format,
        layout,
        badIndex: badWritten,
        goodWritten,
        maxRecordBytes: options.maxRecordBytes,
      });
      badWritten++;
      const line = writeOutput(writer, built.output);
      ctx.rejects.add(kind satisfies RejectSection, {
        kind,
        ref: `${writer.fileName}:${line}`,
        file: writer.fileName,
        line,
        legacyId: built.legacyId,
        class: variant.class,
        field: variant.field,
      });
    }
    ctx.progress.tick();
    if (needsFlush()) await flush();
  }
  return writer.count;
}

/** Writes projects.<ext>; returns its file name and record count. */
export async function writeProjects(ctx: PassContext): Promise<{ file: string; records: number }> {
  const { options } = ctx;
  const writer = new LegacyFileWriter(options.out, 'projects', options.format);
  const records = await writeKind(
    ctx,
    'projects',
    writer,
    (index) => {
      const r = Random.derive(options.seed, Stream.project, index);
      writer.write(buildProject(r, { id: projectId(index), key: projectKey(index) }));
    },
    () => writer.file.full || ctx.rejects.full,
    async () => {
      await writer.file.flush();
      await ctx.rejects.flush();
    },
  );
  await writer.close();
  return { file: writer.fileName, records };
}

/** Writes phases.<ext>: phase q of project p is phase p * phasesPerProject + q, at position q + 1. */
export async function writePhases(ctx: PassContext): Promise<{ file: string; records: number }> {
  const { options, layout } = ctx;
  const writer = new LegacyFileWriter(options.out, 'phases', options.format);
  const records = await writeKind(
    ctx,
    'phases',
    writer,
    (index) => {
      const r = Random.derive(options.seed, Stream.phase, index);
      const project = layout.projectOfPhase(index);
      const position = (index % layout.phasesPerProject) + 1;
      writer.write(buildPhase(r, { id: phaseId(index), projectId: projectId(project), position }));
    },
    () => writer.file.full || ctx.rejects.full,
    async () => {
      await writer.file.flush();
      await ctx.rejects.flush();
    },
  );
  await writer.close();
  return { file: writer.fileName, records };
}

export interface TaskPassResult {
  tasksFile: string;
  tasks: number;
  dependencyFile: string | undefined;
  /** depends_on entries of parseable tasks plus task_dependencies records. */
  edges: number;
}

/** A task's dependencies when the data set has none (`dependencies: false`). */
function noDependencies(): TaskDependencies {
  return { dependsOn: [], inlineBad: undefined, rows: [] };
}

/** Writes tasks.<ext> and, alongside, task_dependencies.<ext> (neither edges nor file without dependencies). */
export async function writeTasks(ctx: PassContext): Promise<TaskPassResult> {
  const { options, layout, rejects } = ctx;
  const tasksOut = new LegacyFileWriter(options.out, 'tasks', options.format);
  const dependencyFile = writesDependencyFile(options);
  const depsOut = dependencyFile ? new LegacyFileWriter(options.out, 'task_dependencies', options.format) : undefined;
  // Without dependencies no edge is planned at all: no depends_on, no rows, no bad edges, no cycle pairs.
  const planner = options.dependencies ? new DependencyPlanner({ ...options, dependencyFile, layout }) : undefined;
  let edges = 0;
  let project = -1;
  let firstOfProject = 0;

  const writeGood = (index: number): void => {
    const p = layout.projectOfTask(index);
    if (p !== project) {
      project = p;
      firstOfProject = layout.firstTaskOf(p);
    }
    const plan = planner?.plan(index, firstOfProject) ?? noDependencies();
    const r = Random.derive(options.seed, Stream.task, index);
    // About one task in ten has no phase.
    const phase =
      layout.phasesPerProject > 0 && r.chance(0.9)
        ? phaseId(layout.phaseIndex(p, r.int(layout.phasesPerProject)))
        : null;
    const id = taskId(index);
    const line = tasksOut.write(buildTask(r, { id, projectId: projectId(p), phaseId: phase, dependsOn: plan.dependsOn }));
    edges += plan.dependsOn.length;
    if (plan.inlineBad) {
      rejects.add('edges-in-tasks', {
        kind: 'task_dependencies',
        ref: `${tasksOut.fileName}:${line}#depends_on[${plan.inlineBad.index}]`,
        file: tasksOut.fileName,
        line,
        legacyId: edgeId(id, plan.dependsOn[plan.inlineBad.index] as string),
        class: plan.inlineBad.class,
        field: 'depends_on',
      });
    }
    for (const row of plan.rows) {
      if (!depsOut) throw new Error('Dependency rows were planned without a task_dependencies file.');
      const rowLine = writeOutput(depsOut, row.output);
      edges++;
      if (row.reject) {
        rejects.add('edges-in-rows', {
          kind: 'task_dependencies',
          ref: `${depsOut.fileName}:${rowLine}`,
          file: depsOut.fileName,
          line: rowLine,
          ...row.reject,
        });
      }
    }
  };

  const tasks = await writeKind(
    ctx,
    'tasks',
    tasksOut,
    writeGood,
    () => tasksOut.file.full || (depsOut?.file.full ?? false) || rejects.full,
    async () => {
      await tasksOut.file.flush();
      await depsOut?.file.flush();
      await rejects.flush();
    },
  );
  await tasksOut.close();
  await depsOut?.close();
  return { tasksFile: tasksOut.fileName, tasks, dependencyFile: depsOut?.fileName, edges };
}
