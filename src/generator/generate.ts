// Entry point of the synthetic legacy-data generator: writes a legacy data directory that follows
// docs/legacy-format.md, plus `_generator_manifest.json` and `_expected_rejects.jsonl` (the rejects
// the fleet must report, exactly). Deterministic for a seed, and streaming: memory does not grow with
// the number of records.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExpectedRejectsWriter } from './expected-rejects.js';
import { Layout } from './ids.js';
import { type GenerateOptions, resolveOptions } from './options.js';
import { Progress, recordCounts, writePhases, writeProjects, writeTasks } from './passes.js';
import { type Format, type Kind, KINDS } from './records.js';
import { fileName } from './writers.js';

export type { GenerateOptions } from './options.js';
export type { ExpectedReject, RejectClass } from './bad-records.js';
export { REJECT_CLASSES } from './bad-records.js';
export { EXPECTED_REJECTS_FILE } from './expected-rejects.js';

export const MANIFEST_FILE = '_generator_manifest.json';

export interface GenerateSummary {
  /** File names written, per kind (task_dependencies is undefined without a dependency file). */
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
  await mkdir(options.out, { recursive: true });
  await removeStaleFiles(options.out, options.format, options.dependencyFile);

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
  const { onProgress: _onProgress, ...recordedOptions } = options;
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
