// Generator options: defaults and validation in one place, with messages a person can act on.

import type { Format } from './records.js';
import { ConfigError } from '../config/errors.js';

export interface GenerateOptions {
  /** Directory (created if missing). */
  out: string;
  /** Good projects. */
  projects: number;
  /** Good phases per project. */
  phasesPerProject: number;
  /** Good tasks in total, spread evenly and contiguously over projects. */
  tasks: number;
  format: Format;
  /** Default 1. */
  seed?: number;
  /** Default 0: fraction of extra bad records per kind (at least one of each class when above 0). */
  badRatio?: number;
  /**
   * Default true. False: no dependency edges at all (every depends_on empty, no task_dependencies file
   * whatever dependencyFile says, no bad edges): projects, phases and tasks only.
   */
  dependencies?: boolean;
  /** Default true: also write task_dependencies.<ext> (ignored when dependencies is false). */
  dependencyFile?: boolean;
  /** Called every 10,000 project, phase and task records, and once at the end. */
  onProgress?: (written: number, total: number) => void;
  /** Default 1 MiB, the fleet's default: oversized bad records are 1 KiB above it. */
  maxRecordBytes?: number;
}

export type ResolvedOptions = Required<Omit<GenerateOptions, 'onProgress'>> & Pick<GenerateOptions, 'onProgress'>;

const FORMATS: readonly Format[] = ['json', 'jsonl', 'csv'];
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;
/** Good records stay below 16 KiB; oversized ones must be clearly above every good one. */
const MIN_MAX_RECORD_BYTES = 64 * 1024;

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Applies defaults and checks every option, reporting all problems at once. */
export function resolveOptions(options: GenerateOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    out: options.out,
    projects: options.projects,
    phasesPerProject: options.phasesPerProject,
    tasks: options.tasks,
    format: options.format,
    seed: options.seed ?? 1,
    badRatio: options.badRatio ?? 0,
    dependencies: options.dependencies ?? true,
    dependencyFile: options.dependencyFile ?? true,
    maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    onProgress: options.onProgress,
  };
  const problems: string[] = [];
  if (typeof resolved.out !== 'string' || resolved.out === '') problems.push('out must name a directory.');
  for (const name of ['projects', 'phasesPerProject', 'tasks'] as const) {
    if (!isCount(resolved[name])) problems.push(`${name} must be a whole number ≥ 0 (got ${String(resolved[name])}).`);
  }
  if (resolved.tasks > 0 && resolved.projects === 0) problems.push('tasks need at least one project: set projects ≥ 1.');
  // Ownership arithmetic (task i → project i * projects / tasks) must stay exact in doubles.
  if (resolved.projects * Math.max(resolved.tasks, resolved.phasesPerProject) > Number.MAX_SAFE_INTEGER) {
    problems.push('projects × tasks is too large; use fewer projects or tasks.');
  }
  if (!FORMATS.includes(resolved.format)) {
    problems.push(`format must be one of ${FORMATS.join(', ')} (got ${String(resolved.format)}).`);
  }
  if (!Number.isSafeInteger(resolved.seed)) problems.push(`seed must be an integer (got ${String(resolved.seed)}).`);
  if (typeof resolved.badRatio !== 'number' || !(resolved.badRatio >= 0 && resolved.badRatio <= 1)) {
    problems.push(`badRatio must be between 0 and 1 (got ${String(resolved.badRatio)}).`);
  }
  if (typeof resolved.dependencies !== 'boolean') problems.push('dependencies must be true or false.');
  if (typeof resolved.dependencyFile !== 'boolean') problems.push('dependencyFile must be true or false.');
  if (resolved.onProgress !== undefined && typeof resolved.onProgress !== 'function') {
    problems.push('onProgress must be a function.');
  }
  if (!Number.isSafeInteger(resolved.maxRecordBytes) || resolved.maxRecordBytes < MIN_MAX_RECORD_BYTES) {
    problems.push(`maxRecordBytes must be an integer ≥ ${MIN_MAX_RECORD_BYTES} (got ${String(resolved.maxRecordBytes)}).`);
  }
  if (problems.length > 0) throw new ConfigError(`Invalid generator options: ${problems.join(' ')}`);
  return resolved;
}

/** Whether task_dependencies.<ext> is written: only when there are edges at all and it is wanted. */
export function writesDependencyFile(options: Pick<ResolvedOptions, 'dependencies' | 'dependencyFile'>): boolean {
  return options.dependencies && options.dependencyFile;
}
