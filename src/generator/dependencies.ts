// Dependency edges: each good task's `depends_on`, the extra rows of task_dependencies, and bad edges.
//
// Good edges point to earlier tasks of the same project, so they can never form a cycle. A cycle is
// built from a pair of neighbours k, k+1 of one project: task k also depends on k+1 (a forward edge,
// good) and task k+1 then depends on k, in its own `depends_on` or in a task_dependencies row: that
// second edge closes the cycle and is the bad one. Task k+1 gets no other edge to k, and pairs never
// overlap, so the good graph stays acyclic (swap k and k+1 in index order to get a topological order).

import type { ExpectedReject, Output, RejectClass } from './bad-records.js';
import { malformed, oversizedText } from './bad-records.js';
import { type Layout, missingTaskId, taskId } from './ids.js';
import { Random, Stream } from './random.js';
import { buildDependencyRow, type Format, type LegacyRecord } from './records.js';
import { Rotation, type RotatingVariant, SelectionSampler } from './schedule.js';

/** Share of tasks with one extra good edge in task_dependencies. */
const EXTRA_ROW_SHARE = 0.05;
/** Mean good `depends_on` entries of a task with enough predecessors (used to size the bad-edge quota). */
const MEAN_DEPENDENCIES = 1.3;
/** Extra turns of the inline variants for each turn of the row variants. */
const INLINE_WEIGHT = 8;

type EdgeVariantName =
  | 'inline-dangling' | 'inline-self' | 'inline-duplicate' | 'inline-cycle'
  | 'row-dangling' | 'row-self' | 'row-duplicate-of-inline' | 'row-duplicate-of-row' | 'row-cycle'
  | 'row-malformed' | 'row-missing-depends-on' | 'row-missing-task' | 'row-oversized';

interface EdgeVariant extends RotatingVariant {
  readonly name: EdgeVariantName;
  readonly class: RejectClass;
  readonly place: 'inline' | 'row';
  /** What the task must have for the variant to fit. */
  readonly needs?: 'dependency' | 'nextInProject' | 'extraRow';
}

const EDGE_VARIANTS: readonly EdgeVariant[] = [
  { name: 'inline-dangling', class: 'dangling_dependency', place: 'inline' },
  { name: 'inline-self', class: 'self_dependency', place: 'inline' },
  { name: 'inline-duplicate', class: 'duplicate_dependency', place: 'inline', needs: 'dependency' },
  { name: 'inline-cycle', class: 'dependency_cycle', place: 'inline', needs: 'nextInProject' },
  { name: 'row-dangling', class: 'dangling_dependency', place: 'row' },
  { name: 'row-self', class: 'self_dependency', place: 'row' },
  { name: 'row-duplicate-of-inline', class: 'duplicate_dependency', place: 'row', needs: 'dependency' },
  { name: 'row-cycle', class: 'dependency_cycle', place: 'row', needs: 'nextInProject' },
  { name: 'row-malformed', class: 'malformed_record', place: 'row' },
  { name: 'row-missing-depends-on', class: 'missing_required_field', place: 'row' },
  { name: 'row-duplicate-of-row', class: 'duplicate_dependency', place: 'row', needs: 'extraRow' },
  { name: 'row-missing-task', class: 'missing_required_field', place: 'row' },
  { name: 'row-oversized', class: 'oversized_record', place: 'row', once: true },
];

/** A bad entry in the task's own `depends_on`. */
export interface InlineBadEdge {
  index: number;
  class: RejectClass;
}

/** A task_dependencies row and, if it is bad, what its reject says (file, line and ref come on writing). */
export interface DependencyRow {
  output: Output;
  reject?: Pick<ExpectedReject, 'legacyId' | 'class' | 'field'>;
}

export interface TaskDependencies {
  dependsOn: string[];
  inlineBad: InlineBadEdge | undefined;
  rows: DependencyRow[];
}

export interface DependencyPlannerOptions {
  seed: number;
  layout: Layout;
  format: Format;
  badRatio: number;
  dependencyFile: boolean;
  maxRecordBytes: number;
}

/** Plans the edges of each good task in index order; holds O(1) state between tasks. */
export class DependencyPlanner {
  private readonly selection: Random;
  private readonly sampler: SelectionSampler;
  private readonly rotation: Rotation<EdgeVariant>;
  /** Set on task k of a cycle pair: how task k+1 closes the cycle. */
  private closeNext: 'inline' | 'row' | undefined;
  private readonly used = new Set<EdgeVariantName>();
  private readonly variantCount: number;
  private danglingCount = 0;
  private badRowCount = 0;

  constructor(private readonly options: DependencyPlannerOptions) {
    const { seed, layout, badRatio, dependencyFile } = options;
    this.selection = Random.derive(seed, Stream.edgeSelection);
    const variants = EDGE_VARIANTS.filter((v) => dependencyFile || v.place === 'inline');
    // The first lap holds every variant once (every class early); later laps are mostly edges in depends_on, where
    // nearly all edges live: task_dependencies rows stay a minority of the bad edges.
    this.variantCount = variants.length;
    const inline = variants.filter((v) => v.place === 'inline');
    this.rotation = new Rotation([...variants, ...Array.from({ length: INLINE_WEIGHT }, () => inline).flat()]);
    const estimatedEdges = layout.tasks * (MEAN_DEPENDENCIES + (dependencyFile ? EXTRA_ROW_SHARE : 0));
    const wanted = badRatio > 0 && layout.tasks > 0 ? Math.max(variants.length, Math.round(badRatio * estimatedEdges)) : 0;
    this.sampler = new SelectionSampler(this.selection, wanted, layout.tasks);
  }

  /** Edges of good task `task`, given the first task index of its project. Call for every task, in order. */
  plan(task: number, firstOfProject: number): TaskDependencies {
    const { layout } = this.options;
    const r = Random.derive(this.options.seed, Stream.taskDependencies, task);
    const closes = this.closeNext;
    this.closeNext = undefined;

    const earlier = task - firstOfProject;
    const good = goodDependencies(r, task, firstOfProject, earlier);
    // Task k+1 of a cycle pair must reach k only through the closing edge.
    if (closes) removeValue(good, task - 1);
    const extraCandidate = pickExtra(r, task, firstOfProject, earlier, good, closes !== undefined);
    let emitExtra = this.options.dependencyFile && extraCandidate !== undefined && r.chance(EXTRA_ROW_SHARE);

    const dependsOn = good.map(taskId);
    const rows: DependencyRow[] = [];
    let inlineBad: InlineBadEdge | undefined;
    let badRow: DependencyRow | undefined;

    if (closes === 'inline') {
      inlineBad = this.insert(dependsOn, taskId(task - 1), 0, 'dependency_cycle');
    } else if (closes === 'row') {
      badRow = this.edgeRow(task, taskId(task - 1), 'dependency_cycle');
    } else if (this.sampler.take()) {
      const nextInProject = task + 1 < layout.tasks && layout.projectOfTask(task + 1) === layout.projectOfTask(task);
      const variant = this.rotation.choose((v) => {
        if (v.needs === 'dependency') return good.length > 0;
        if (v.needs === 'nextInProject') return nextInProject;
        if (v.needs === 'extraRow') return extraCandidate !== undefined;
        return true;
      });
      // Until every variant has been used, a task that could only take a repeat does not count
      // towards the quota, so even a small data set gets every class.
      if (this.used.size < this.variantCount && (!variant || this.used.has(variant.name))) this.sampler.extend();
      if (variant) this.used.add(variant.name);
      switch (variant?.name) {
        case 'inline-dangling':
          inlineBad = this.insert(dependsOn, missingTaskId(this.danglingCount++), 0, variant.class);
          break;
        case 'inline-self':
          inlineBad = this.insert(dependsOn, taskId(task), 0, variant.class);
          break;
        case 'inline-duplicate': {
          const original = this.selection.int(dependsOn.length);
          // After the original, so the copy is the later declaration.
          inlineBad = this.insert(dependsOn, dependsOn[original] as string, original + 1, variant.class);
          break;
        }
        case 'inline-cycle':
          dependsOn.push(taskId(task + 1));
          this.closeNext = 'inline';
          break;
        case 'row-cycle':
          dependsOn.push(taskId(task + 1));
          this.closeNext = 'row';
          break;
        case 'row-dangling':
          badRow = this.edgeRow(task, missingTaskId(this.danglingCount++), variant.class);
          break;
        case 'row-self':
          badRow = this.edgeRow(task, taskId(task), variant.class);
          break;
        case 'row-duplicate-of-inline':
          badRow = this.edgeRow(task, taskId(this.selection.pick(good)), variant.class);
          break;
        case 'row-duplicate-of-row':
          emitExtra = true;
          badRow = this.edgeRow(task, taskId(extraCandidate as number), variant.class);
          break;
        case 'row-malformed':
          badRow = this.malformedRow(task, extraCandidate ?? task);
          break;
        case 'row-missing-depends-on':
          badRow = this.missingRow(task, 'depends_on_id');
          break;
        case 'row-missing-task':
          badRow = this.missingRow(task, 'task_id');
          break;
        case 'row-oversized':
          // The fleet rejects it on size before reading fields; where possible its edge is valid anyway
          // (the extra candidate, then not written as a row of its own).
          emitExtra = false;
          badRow = this.oversizedRow(task, extraCandidate ?? task);
          break;
        default:
          break;
      }
    }
    if (closes) this.sampler.skip();

    if (emitExtra && extraCandidate !== undefined) {
      rows.push({ output: this.goodRow(task, extraCandidate) });
    }
    if (badRow) rows.push(badRow);
    return { dependsOn, inlineBad, rows };
  }

  /** Inserts `id` at a random index at or after `from` and names it bad. */
  private insert(dependsOn: string[], id: string, from: number, rejectClass: RejectClass): InlineBadEdge {
    const index = from + this.selection.int(dependsOn.length - from + 1);
    dependsOn.splice(index, 0, id);
    return { index, class: rejectClass };
  }

  private goodRow(task: number, target: number): Output {
    const r = Random.derive(this.options.seed, Stream.dependencyRow, task);
    return { type: 'record', record: buildDependencyRow(r, { taskId: taskId(task), dependsOnId: taskId(target) }) };
  }

  private nextBadRandom(): Random {
    return Random.derive(this.options.seed, Stream.badDependency, this.badRowCount++);
  }

  /** A bad row declaring that `task` depends on `dependsOnId`. */
  private edgeRow(task: number, dependsOnId: string, rejectClass: RejectClass): DependencyRow {
    const r = this.nextBadRandom();
    return {
      output: { type: 'record', record: buildDependencyRow(r, { taskId: taskId(task), dependsOnId }) },
      reject: { legacyId: edgeId(taskId(task), dependsOnId), class: rejectClass, field: 'depends_on_id' },
    };
  }

  private malformedRow(task: number, target: number): DependencyRow {
    const base: LegacyRecord = { task_id: taskId(task), depends_on_id: taskId(target) };
    return {
      output: malformed('task_dependencies', this.options.format, base, this.badRowCount++),
      reject: { legacyId: null, class: 'malformed_record', field: null },
    };
  }

  private missingRow(task: number, field: 'task_id' | 'depends_on_id'): DependencyRow {
    const r = this.nextBadRandom();
    const record = buildDependencyRow(r, {
      taskId: field === 'task_id' ? undefined : taskId(task),
      dependsOnId: field === 'depends_on_id' ? undefined : taskId(task),
    });
    return {
      output: { type: 'record', record },
      reject: { legacyId: field === 'task_id' ? null : taskId(task), class: 'missing_required_field', field },
    };
  }

  private oversizedRow(task: number, target: number): DependencyRow {
    const r = this.nextBadRandom();
    const record: LegacyRecord = {
      task_id: taskId(task),
      depends_on_id: taskId(target),
      note: oversizedText(r, this.options.maxRecordBytes),
    };
    return { output: { type: 'record', record }, reject: { legacyId: null, class: 'oversized_record', field: null } };
  }
}

/** 0–3 distinct earlier tasks of the project: mostly the previous one (chains) plus a few others. */
function goodDependencies(r: Random, task: number, first: number, earlier: number): number[] {
  if (earlier === 0) return [];
  const deps: number[] = [];
  if (r.chance(0.65)) deps.push(task - 1);
  const more = r.pick([0, 0, 0, 1, 1, 2]);
  for (let k = 0; k < more; k++) {
    const candidate = first + r.int(earlier);
    if (!deps.includes(candidate)) deps.push(candidate);
  }
  return deps;
}

/** An earlier task of the project not already declared (nor k when closing a cycle pair), if one is found. */
function pickExtra(
  r: Random,
  task: number,
  first: number,
  earlier: number,
  declared: readonly number[],
  closesPair: boolean,
): number | undefined {
  if (earlier === 0) return undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const candidate = first + r.int(earlier);
    if (!declared.includes(candidate) && !(closesPair && candidate === task - 1)) return candidate;
  }
  return undefined;
}

/** How the fleet names an edge in its rejects: `T-00000002->T-00000001`. */
export function edgeId(task: string, dependsOn: string): string {
  return `${task}->${dependsOn}`;
}

function removeValue(values: number[], value: number): void {
  const at = values.indexOf(value);
  if (at !== -1) values.splice(at, 1);
}
