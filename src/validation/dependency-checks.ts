// The reject rules of dependency edges, as src/jobs/migrate-dependencies.ts and
// src/jobs/reject-dependency-cycles.ts apply them, replayed without a database:
// - an edge in a task's depends_on is rejected with its task when that task record is not migrated;
//   past MAX_DEPENDENCIES_PER_TASK entries it is rejected too;
// - a task_dependencies row needs a readable record and a migrated task_id;
// - then: a self-dependency, a target that names no migrated task, a second declaration of the same
//   edge (the earliest declaration wins: depends_on by line and position, then task_dependencies rows);
// - then the cycle check replays the remaining edges in declaration order and rejects each edge that
//   closes a cycle (the very function the cycle job uses).
// Edges are kept as integer columns (task indices, line, position), never as objects.
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { declaredEdges } from '../legacy/declared-edges.js';
import type { RawRecord } from '../legacy/read-chunk.js';
import { createNormalizer, type Normalizer } from '../legacy/normalize.js';
import { MAX_DEPENDENCIES_PER_TASK } from '../jobs/migrate-dependencies.js';
import { findCycleClosingEdges } from '../jobs/reject-dependency-cycles.js';
import { IntColumn } from './compact-arrays.js';
import type { EntityRegistry } from './entity-checks.js';
import { classOfInvalidField, classOfUnreadableRecord, edgeRef, recordRef, type ErrorClass, type ErrorFinding } from './findings.js';
import type { WarningCollector } from './warnings.js';

/** Task indices stay below this, so an edge's (from, to) pair fits one exact double key. */
const MAX_TASK_IDS = 2 ** 26;

const CANDIDATE = 0;
const REJECTED = 1;

export class DependencyChecker {
  private readonly from = new IntColumn();
  private readonly to = new IntColumn();
  private readonly line = new IntColumn();
  /** Position in depends_on, or -1 for a task_dependencies row. */
  private readonly position = new IntColumn();
  private readonly status = new IntColumn(CANDIDATE);
  /** Edges already checked against the task registry (the tasks-file edges are checked when all tasks are known). */
  private checkedUpTo = 0;
  private normalizeRow: Normalizer<'task_dependencies'> | null = null;
  /** Edges counted per source, for the per-kind record count. */
  declared = 0;

  constructor(
    private readonly tasks: EntityRegistry,
    private readonly tasksFile: string,
    private readonly rowsFile: string | null,
    private readonly mapping: LegacyMapping,
    private readonly emit: (error: ErrorFinding) => void,
  ) {}

  /** The depends_on edges of one task record (migrated or not), in position order. */
  addTaskRecord(record: RawRecord, migrated: boolean): void {
    if (record.error !== null) return; // an unparseable task declares no countable edge
    for (const [task, dependsOn, line, position] of declaredEdges([record], this.mapping)) {
      this.declared++;
      const legacyId = `${task}->${dependsOn}`;
      const ref = edgeRef(this.tasksFile, line, position);
      if (position >= MAX_DEPENDENCIES_PER_TASK) {
        this.reject(ref, line, legacyId, 'depends_on', 'too_many_dependencies', `more than ${MAX_DEPENDENCIES_PER_TASK} dependencies on one task`);
      } else if (!migrated) {
        this.reject(ref, line, legacyId, 'depends_on', 'edge_of_rejected_task', `task ${task} at ${this.tasksFile}:${line} was rejected, so its dependencies are too`);
      } else {
        this.push(task, dependsOn, line, position);
      }
    }
  }

  /** Checks the depends_on edges' targets: call once every task record has been seen. */
  checkTaskEdges(): void {
    for (let e = this.checkedUpTo; e < this.from.length; e++) this.checkEnds(e, 'depends_on');
    this.checkedUpTo = this.from.length;
  }

  /** One task_dependencies record. */
  addRowRecord(record: RawRecord): void {
    this.declared++;
    const file = this.rowsFile!;
    const ref = recordRef(file, record.line);
    if (record.error !== null) {
      this.reject(ref, record.line, null, null, classOfUnreadableRecord(record.error), record.error);
      return;
    }
    this.normalizeRow ??= createNormalizer('task_dependencies', this.mapping);
    const result = this.normalizeRow(record.fields, record.exactNumbers);
    if (!result.ok) {
      this.reject(ref, record.line, result.legacyId, result.field, classOfInvalidField(result.reason), result.reason);
      return;
    }
    const { taskLegacyId, dependsOnLegacyId } = result.value;
    if (this.tasks.indexOf(taskLegacyId) < 0) {
      const cls = this.tasks.rejectedAt.has(taskLegacyId) ? 'edge_of_rejected_task' : 'dangling_dependency';
      this.reject(ref, record.line, `${taskLegacyId}->${dependsOnLegacyId}`, 'task_id', cls, `task_id ${taskLegacyId} names no migrated task`);
      return;
    }
    const e = this.push(taskLegacyId, dependsOnLegacyId, record.line, -1);
    this.checkEnds(e, 'depends_on_id');
    this.checkedUpTo = this.from.length;
  }

  /**
   * Rejects the later declarations of an edge, then the edges that close a cycle; reports the edges
   * between two projects as warnings. Call after every record. Returns the number of edges that migrate.
   */
  finish(warnings: WarningCollector, projectNames: readonly string[]): number {
    this.checkTaskEdges();
    this.rejectDuplicates();
    const accepted: number[] = [];
    for (let e = 0; e < this.from.length; e++) if (this.status.get(e) === CANDIDATE) accepted.push(e);
    const graph = {
      nodes: this.tasks.ids.names,
      from: Int32Array.from(accepted, (e) => this.from.get(e)),
      to: Int32Array.from(accepted, (e) => this.to.get(e)),
    };
    for (const i of findCycleClosingEdges(graph)) {
      const e = accepted[i]!;
      this.rejectEdge(e, this.fieldOf(e), 'dependency_cycle', `dependency ${this.legacyIdOf(e)} closes a dependency cycle`);
    }
    let migrated = 0;
    for (const e of accepted) {
      if (this.status.get(e) !== CANDIDATE) continue;
      migrated++;
      const fromProject = this.tasks.parent.get(this.from.get(e));
      const toProject = this.tasks.parent.get(this.to.get(e));
      if (fromProject !== toProject) {
        const [task, dependsOn] = [this.tasks.ids.names[this.from.get(e)]!, this.tasks.ids.names[this.to.get(e)]!];
        const file = this.position.get(e) >= 0 ? this.tasksFile : this.rowsFile!;
        warnings.counter('task_dependencies', file, 'cross_project_dependency', this.fieldOf(e)).hit(this.line.get(e), `${task}->${dependsOn}`, () => ({
          reason: `task ${task} (project ${projectNames[fromProject] ?? '?'}) depends on task ${dependsOn} of project ${projectNames[toProject] ?? '?'}`,
          summary: 'dependencies between tasks of different projects',
        }), this.refOf(e));
      }
    }
    return migrated;
  }

  private push(task: string, dependsOn: string, line: number, position: number): number {
    const from = this.tasks.ids.intern(task);
    const to = this.tasks.ids.intern(dependsOn);
    if (this.tasks.ids.size > MAX_TASK_IDS) throw new Error(`More than ${MAX_TASK_IDS} distinct task ids: too many for the validator`);
    this.from.push(from);
    this.to.push(to);
    this.line.push(line);
    this.status.push(CANDIDATE);
    return this.position.push(position);
  }

  /** Self-dependency, then a target that names no migrated task (the worker's order). */
  private checkEnds(e: number, field: 'depends_on' | 'depends_on_id'): void {
    const from = this.from.get(e);
    const to = this.to.get(e);
    const names = this.tasks.ids.names;
    if (from === to) this.rejectEdge(e, field, 'self_dependency', `task ${names[from]!} depends on itself`);
    else if (this.tasks.line.get(to) === 0) this.rejectEdge(e, field, 'dangling_dependency', `dependency ${names[to]!} names no migrated task`);
  }

  /** Of the candidate edges with one (task, depends-on) pair, all but the earliest declaration. */
  private rejectDuplicates(): void {
    const candidates: number[] = [];
    for (let e = 0; e < this.from.length; e++) if (this.status.get(e) === CANDIDATE) candidates.push(e);
    const keys = new Float64Array(this.from.length);
    for (const e of candidates) keys[e] = this.from.get(e) * MAX_TASK_IDS + this.to.get(e);
    const order = Uint32Array.from(candidates).sort((a, b) => keys[a]! - keys[b]! || a - b);
    for (let i = 1; i < order.length; i++) {
      const e = order[i]!;
      let first = order[i - 1]!;
      if (keys[e] !== keys[first]) continue;
      // Walk back to the group's first (earliest) declaration for the message.
      for (let j = i - 1; j > 0 && keys[order[j - 1]!] === keys[e]; j--) first = order[j - 1]!;
      this.rejectEdge(e, this.fieldOf(e), 'duplicate_dependency', `duplicate dependency ${this.legacyIdOf(e)} (first at ${this.refOf(first)})`);
    }
  }

  private legacyIdOf(e: number): string {
    return `${this.tasks.ids.names[this.from.get(e)]!}->${this.tasks.ids.names[this.to.get(e)]!}`;
  }

  private refOf(e: number): string {
    const position = this.position.get(e);
    return position >= 0 ? edgeRef(this.tasksFile, this.line.get(e), position) : recordRef(this.rowsFile!, this.line.get(e));
  }

  private fieldOf(e: number): 'depends_on' | 'depends_on_id' {
    return this.position.get(e) >= 0 ? 'depends_on' : 'depends_on_id';
  }

  private rejectEdge(e: number, field: string, cls: ErrorClass, reason: string): void {
    this.status.set(e, REJECTED);
    this.reject(this.refOf(e), this.line.get(e), this.legacyIdOf(e), field, cls, reason);
  }

  private reject(ref: string, line: number, legacyId: string | null, field: string | null, cls: ErrorClass, reason: string): void {
    const file = ref.split(':')[0]!;
    this.emit({ severity: 'error', kind: 'task_dependencies', class: cls, ref, file, line, legacyId, field, reason });
  }
}
