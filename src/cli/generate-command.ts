// `taskfleet generate`: deterministic synthetic legacy data, optionally with every class of bad record.
import { type Command, Option, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { positiveInt, requireOptions } from './common-options.js';
import { makeDirectory } from '../make-directory.js';

function ratio(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 0.5) throw new InvalidArgumentError('must be a number from 0 to 0.5');
  return n;
}

export function registerGenerateCommand(program: Command): void {
  program.command('generate')
    .description('Write a synthetic legacy data directory (streams: 5M tasks need no more memory than 5k)')
    .option('--out <dir>', 'directory to write (created if missing) (required)')
    .hook('preAction', requireOptions('out'))
    .option('--projects <n>', 'good projects', positiveInt, 100)
    .option('--phases-per-project <n>', 'good phases per project', positiveInt, 5)
    .option('--tasks <n>', 'good tasks in all', positiveInt, 10_000)
    .addOption(new Option('--format <format>', 'file format').choices(['json', 'jsonl', 'csv']).default('jsonl'))
    .option('--seed <n>', 'random seed (same seed, same bytes)', positiveInt, 1)
    .option('--bad-ratio <r>', 'add this fraction of bad records per kind, of every class (see docs/legacy-format.md)', ratio, 0)
    .option('--no-dependency-file', 'do not write task_dependencies (edges only in tasks\' depends_on)')
    .option('--no-dependencies', 'no depends_on and no task_dependencies file: projects, phases and tasks only')
    .option('--force', 'overwrite legacy data files in --out that the generator did not write (a real dump)')
    .action(async (flags: { out: string; projects: number; phasesPerProject: number; tasks: number; format: 'json' | 'jsonl' | 'csv'; seed: number; badRatio: number; dependencies: boolean; dependencyFile: boolean; force?: boolean }) => {
      const started = performance.now();
      try {
        await makeDirectory(flags.out);
      } catch (err) {
        throw new ConfigError(`Cannot create the output directory ${flags.out}: ${(err as NodeJS.ErrnoException).code === 'ENOTDIR' || (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'a file is in the way' : (err as Error).message}`, { cause: err });
      }
      const [{ generateLegacyData }, { refuseToOverwriteLegacyData }] = await Promise.all([import('../generator/generate.js'), import('../generator/overwrite-guard.js')]);
      if (!flags.force) await refuseToOverwriteLegacyData(flags.out);
      const summary = await generateLegacyData({
        out: flags.out, projects: flags.projects, phasesPerProject: flags.phasesPerProject, tasks: flags.tasks,
        format: flags.format, seed: flags.seed, badRatio: flags.badRatio,
        dependencies: flags.dependencies, dependencyFile: flags.dependencyFile,
        onProgress: process.stderr.isTTY ? (written, total) => process.stderr.write(`\rgenerated ${written}/${total} records`) : undefined,
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      process.stdout.write(`Wrote ${flags.out} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      for (const [kind, count] of Object.entries(summary.legacy)) {
        process.stdout.write(`  ${kind.padEnd(17)} ${String(count).padStart(9)} records, ${summary.expectedRejects[kind as keyof typeof summary.expectedRejects]} bad\n`);
      }
    });
}
