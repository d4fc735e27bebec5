// `taskfleet run` (and ./scripts/run_migration.sh, which only calls it): the whole operator lifecycle
// with every path configurable and a default for each, shown by --help.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { loadLegacyMapping } from '../config/legacy-mapping.js';
import { ConfigError } from '../config/errors.js';
import { settingsEnvironment } from '../config/settings.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../embedded/postgres.js';
import { PHASES, type Phase } from '../lifecycle/phase-events.js';
import { runLifecycle } from '../lifecycle/run-lifecycle.js';
import { loadVerificationConfig } from '../verification/verification-config.js';
import { loadDaggerConfig } from '../workflows/dagger-config.js';
import { positiveInt, settingsFrom, type ConnectionFlags } from './common-options.js';

interface RunFlags extends ConnectionFlags {
  dryRun?: boolean;
  phase: Phase[];
  legacyData: string;
  backup: string;
  idMapping: string;
  daggerConfig?: string;
  templatesDir?: string;
  verificationReport: string;
  validationReport: string;
  optimizeReport: string;
  dryRunReport: string;
  archive: string;
  logsDir: string;
  runId?: string;
  mapping?: string;
  maxRejects?: number;
  skipPrepare?: boolean;
  workers: number;
  concurrency?: number;
  chunkSize?: number;
  cache: boolean;
  thresholds?: string;
  maxSamples?: number;
  progress: boolean;
}

function phaseList(value: string): Phase[] {
  const names = value.split(',').map((p) => p.trim()).filter(Boolean);
  const unknown = names.filter((p) => !(PHASES as readonly string[]).includes(p));
  if (unknown.length > 0 || names.length === 0) throw new InvalidArgumentError(`unknown phase ${unknown.join(', ') || '(none)'}; choose from ${PHASES.join(', ')}`);
  return PHASES.filter((p) => names.includes(p));
}

const isUrl = (value: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(value);

export function registerRunCommand(program: Command): void {
  program.command('run')
    .description('The whole migration lifecycle: prepare (validate, back up) → migrate → verify → optimize → decommission (archive). Stops at the first phase that fails or whose gate is not met.')
    .option('--dry-run', 'validate and rehearse the migration in a scratch database that is dropped afterwards; report what a real run would do; change nothing; exit 1 when a real run would fail at prepare\'s or migrate\'s gate')
    .option('--phase <list>', `comma-separated phases to run, always in lifecycle order (${PHASES.join(',')})`, phaseList, [...PHASES])
    .option('--legacy-data <dir>', 'the legacy data directory', 'legacy-data')
    .option('--new-data <url-or-dir>', 'the new system: a Postgres URL, or a directory for an embedded Postgres (default: $DATABASE_URL, else postgres://postgres@127.0.0.1:5432/taskfleet)')
    .option('--backup <dir>', 'where prepare backs up the legacy data (with a SHA-256 manifest)', 'migration-backup')
    .option('--id-mapping <file>', 'where the legacy → new id mapping is exported (JSON, per kind)', 'reports/id-mapping.json')
    .option('--dagger-config <file>', 'Dagger runner settings for task workflows, validated at start (default: config/dagger.yaml of the taskfleet package)')
    .option('--templates-dir <dir>', 'workflow templates, one YAML per task type; prepare checks them against the data (default: config/templates of the taskfleet package)')
    .option('--verification-report <file>', 'where verify writes its JSON report', 'reports/verification-report.json')
    .option('--thresholds <file>', 'verify\'s settings: latency thresholds, sample sizes (default: config/verification.yaml of the taskfleet package)')
    .option('--max-samples <n>', 'mismatch samples verify keeps per check (default: maxSamples in the verify settings, 20)', positiveInt)
    .option('--validation-report <file>', 'where prepare writes its JSON validation report (and a .txt summary next to it)', 'reports/validation-report.json')
    .option('--optimize-report <file>', 'where optimize writes query plans and latencies before and after', 'reports/optimize-report.json')
    .option('--dry-run-report <file>', 'where --dry-run writes its forecast', 'reports/dry-run-report.json')
    .option('--archive <dir>', 'where decommission archives the legacy data (tar.gz + manifest)', 'migration-archive')
    .option('--logs-dir <dir>', 'migration_execution.log, task_migration.log, migration_test.log and migration_execution_stats.json', 'logs')
    .option('--run-id <id>', 'the run to create or continue (default: derived from the directory, its files (names, sizes, mtimes) and the settings that shape the run: mapping, --chunk-size, templates, dagger config, --no-cache; for phases after migrate, the latest run of --legacy-data)')
    .option('--mapping <file>', 'legacy field mapping, laid over the shipped config/legacy-mapping.yaml: list only what differs (null removes a default or a translation)')
    .option('--max-rejects <n>', 'records that may be rejected before prepare and migrate fail (default: 0 for prepare, no limit for migrate)', positiveInt)
    .option('--skip-prepare', 'let migrate start without a passed prepare of this data')
    .option('--workers <n>', 'worker processes started on this machine for the migrate phase', positiveInt, 2)
    .option('--concurrency <n>', 'jobs per worker process (default 4)', positiveInt)
    .option('--chunk-size <n>', 'records per chunk job (default 5000)', positiveInt)
    .option('--no-cache', 'execute every on-migrate workflow, even one whose definition already succeeded in an earlier run')
    .option('--no-progress', 'no progress bars')
    .option('--redis <url>', 'Redis URL for the queues (default: $REDIS_URL, else redis://127.0.0.1:6379/0)')
    .addOption(new Option('--queue-backend <kind>', 'where the queues live: redis, or BullMQ\'s Postgres backend in the new system\'s database').choices(['redis', 'postgres']))
    .option('--prefix <prefix>', 'queue key prefix (default: {taskfleet})')
    .option('--config <file>', 'YAML file of settings (lower precedence than environment and flags)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default: info)')
    .action(async (flags: RunFlags) => {
      // Settings are validated before anything starts; the templates' content is prepare's to report.
      loadDaggerConfig(flags.daggerConfig);
      loadVerificationConfig(flags.thresholds);
      if (flags.templatesDir !== undefined && !existsSync(flags.templatesDir)) throw new ConfigError(`--templates-dir ${resolve(flags.templatesDir)} does not exist`);
      let embedded: EmbeddedPostgres | null = null;
      const newData = flags.newData;
      if (newData !== undefined && !isUrl(newData)) {
        process.stderr.write(`Starting an embedded Postgres in ${resolve(newData)}\n`);
        embedded = await startEmbeddedPostgres({ dataDir: newData });
      }
      try {
        const settings = settingsFrom({ ...flags, newData: embedded ? embedded.url : newData }, { concurrency: flags.concurrency, chunkSize: flags.chunkSize });
        const result = await runLifecycle({
          phases: flags.phase, dryRun: flags.dryRun ?? false, legacyDir: flags.legacyData, databaseUrl: settings.databaseUrl,
          backupDir: flags.backup, idMappingFile: flags.idMapping, verificationReport: flags.verificationReport, validationReport: flags.validationReport,
          optimizeReport: flags.optimizeReport, dryRunReport: flags.dryRunReport, archiveDir: flags.archive, logsDir: flags.logsDir,
          runId: flags.runId, mappingFile: flags.mapping, templatesDir: flags.templatesDir, daggerConfig: flags.daggerConfig, mapping: loadLegacyMapping(flags.mapping), maxRejects: flags.maxRejects,
          noCache: !flags.cache, thresholds: flags.thresholds, maxSamples: flags.maxSamples,
          skipPrepare: flags.skipPrepare ?? false, workers: flags.workers, concurrency: settings.concurrency, chunkSize: settings.chunkSize,
          chunkMaxBytes: settings.chunkMaxBytes, logLevel: settings.logLevel, settingsEnv: settingsEnvironment(settings),
          progress: !flags.progress ? 'none' : process.stderr.isTTY ? 'bars' : 'lines',
          say: (line) => process.stderr.write(`${line}\n`),
        });
        process.stdout.write(`${JSON.stringify({ event: 'lifecycle', runId: result.runId, exitCode: result.exitCode, phases: result.phases })}\n`);
        process.exitCode = result.exitCode;
      } finally {
        await embedded?.stop();
      }
    });
}
