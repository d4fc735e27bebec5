// Entry point of the synthetic legacy-data generator: writes a legacy data directory that follows
// docs/legacy-format.md, plus `_generator_manifest.json` and `_expected_rejects.jsonl` (the rejects
// the fleet must report, exactly). Deterministic for a seed, and streaming: memory does not grow with
// the number of records.
//
// Conventions of `_expected_rejects.jsonl` the fleet's ledger must share:
// - class: the table row of docs/legacy-format.md in snake_case (REJECT_CLASSES).
// - field: the faulty field (the missing one, the ill-typed one, `id` for duplicates, `project_id` or
//   `phase_id` for references, `depends_on` for an edge in a task, `depends_on_id` for a
//   task_dependencies row, or `task_id` when a row lacks it); null for malformed and oversized records.
// - legacyId: the record's id (null when it has none, or is malformed or oversized); for a rejected
//   edge, `TASK->DEPENDS_ON` (e.g. `T-00000002->T-00000001`); for a task_dependencies row missing a
//   field, its task_id (null if that is the missing one).
// - order: projects, phases, tasks, then edges in the fleet's file order (depends_on, then rows).

import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExpectedRejectsWriter } from './expected-rejects.js';
import { Layout } from './ids.js';
import { type GenerateOptions, resolveOptions, writesDependencyFile } from './options.js';
import { Progress, recordCounts, writePhases, writeProjects, writeTasks } from './passes.js';
import { type Format, type Kind, KINDS } from './records.js';
import { fileName } from './writers.js';
import { makeDirectory } from '../make-directory.js';

export type { GenerateOptions } from './options.js';
export type { ExpectedReject, RejectClass } from './bad-records.js';
export { REJECT_CLASSES } from './bad-records.js';
export { EXPECTED_REJECTS_FILE } from './expected-rejects.js';

export const MANIFEST_FILE = '_generator_manifest.json';

export interface GenerateSummary {
  /** File names written, per kind (task_dependencies is undefined without a dependency file or dependencies). */
  files: Record<Kind, string | undefined>;
  /** Records per kind as docs/legacy-format.md counts them (migrated + rejected). */
  legacy: Record<Kind, number>;
  /** Lines of `_expected_rejects.jsonl` per kind. */
  expectedRejects: Record<Kind, number>;
}

const FORMATS: readonly Format[] = ['json', 'jsonl', 'csv'];

export async function generateLegacyData(opts: GenerateOptions): Promise<GenerateSummary> {
  const options = resolveOptions(opts);
  const layout = new Layout(options.projects, options.phasesPerProject, options.tasks);
  await makeDirectory(options.out);
  await removeStaleFiles(options.out, options.format, writesDependencyFile(options));

  const counts = recordCounts(options, layout);
  const total = [counts.projects, counts.phases, counts.tasks].reduce((sum, c) => sum + c.good + c.bad, 0);
  const progress = new Progress(total, options.onProgress);
  const rejects = new ExpectedRejectsWriter(options.out);
  const ctx = { options, layout, rejects, progress };

  const projects = await writeProjects(ctx);
  const phases = await writePhases(ctx);
  const tasks = await writeTasks(ctx);
  await rejects.finish();
  progress.end();

  const summary: GenerateSummary = {
    files: {
      projects: projects.file,
      phases: phases.file,
      tasks: tasks.tasksFile,
      task_dependencies: tasks.dependencyFile,
    },
    legacy: {
      projects: projects.records,
      phases: phases.records,
      tasks: tasks.tasks,
      task_dependencies: tasks.edges,
    },
    expectedRejects: { ...rejects.counts },
  };
  // Neither the callback nor the directory belongs in the manifest: same seed, same bytes, anywhere.
  const { onProgress: _onProgress, out: _out, ...recordedOptions } = options;
  const manifest = { generator: 'taskfleet/src/generator', options: recordedOptions, summary };
  await writeFile(join(options.out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return summary;
}

/**
 * Removes legacy files this run will not rewrite (another format, or a dependency file no longer
 * wanted): the fleet reads every `<kind>.<ext>` in the directory, and a stale one would mix data sets.
 */
async function removeStaleFiles(dir: string, format: Format, dependencyFile: boolean): Promise<void> {
  for (const kind of KINDS) {
    for (const other of FORMATS) {
      const keep = other === format && (kind !== 'task_dependencies' || dependencyFile);
      if (!keep) await rm(join(dir, fileName(kind, other)), { force: true });
    }
  }
}
