// Legacy ids and ownership as pure functions of record indexes, so references need no memory.
//
// Good records: P-000001, PH-0000001, T-00000001 (index + 1, zero padded).
// Bad records carry their own ids in an X namespace (P-X000001) that nothing references, and dangling
// references point into a Z namespace (P-Z000001) that no record ever has.

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

export const projectId = (index: number): string => `P-${pad(index + 1, 6)}`;
export const phaseId = (index: number): string => `PH-${pad(index + 1, 7)}`;
export const taskId = (index: number): string => `T-${pad(index + 1, 8)}`;

export const badProjectId = (n: number): string => `P-X${pad(n + 1, 6)}`;
export const badPhaseId = (n: number): string => `PH-X${pad(n + 1, 6)}`;
export const badTaskId = (n: number): string => `T-X${pad(n + 1, 7)}`;

export const missingProjectId = (n: number): string => `P-Z${pad(n + 1, 6)}`;
export const missingPhaseId = (n: number): string => `PH-Z${pad(n + 1, 6)}`;
export const missingTaskId = (n: number): string => `T-Z${pad(n + 1, 7)}`;

/** A short project key such as `ACD`, unique per index. */
export function projectKey(index: number): string {
  let key = '';
  let rest = index;
  do {
    key = String.fromCharCode(65 + (rest % 26)) + key;
    rest = Math.floor(rest / 26);
  } while (rest > 0);
  return key.padStart(3, 'A');
}

/**
 * Where every good record belongs. Tasks are spread evenly and contiguously: task i belongs to project
 * floor(i * projects / tasks); phase q of project p has the global index p * phasesPerProject + q.
 */
export class Layout {
  constructor(
    readonly projects: number,
    readonly phasesPerProject: number,
    readonly tasks: number,
  ) {}

  get phases(): number {
    return this.projects * this.phasesPerProject;
  }

  projectOfTask(task: number): number {
    // Exact while projects * tasks < 2^53, which the options check.
    return Math.floor((task * this.projects) / this.tasks);
  }

  /** First task index of `project` (may equal the next project's when a project has no tasks). */
  firstTaskOf(project: number): number {
    return Math.ceil((project * this.tasks) / this.projects);
  }

  phaseIndex(project: number, position: number): number {
    return project * this.phasesPerProject + position;
  }

  projectOfPhase(phase: number): number {
    return Math.floor(phase / this.phasesPerProject);
  }
}
