// `taskfleet prepare`: validate the legacy data into a report, back it up and re-read the backup, and
// record the preparation migrate's gate looks for. Exit 0 passed, 1 failed (report and backup still
// written), 2 usage, configuration or a missing directory.
import type { Command } from 'commander';
import { loadLegacyMapping } from '../config/legacy-mapping.js';
import { discoverLegacyFiles } from '../legacy/files.js';
import { runPrepare } from '../lifecycle/prepare.js';
import { createLogger } from '../logger.js';
import { prepareDatabase } from '../store/database.js';
import { createPool } from '../store/pool.js';
import { DEFAULT_DAGGER_CONFIG_FILE, loadDaggerConfig } from '../workflows/dagger-config.js';
import { DEFAULT_TEMPLATES_DIR } from '../workflows/templates.js';
import { positiveInt, requireOptions, settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';

interface PrepareFlags extends ConnectionFlags {
  legacyData: string;
  backup: string;
  validationReport: string;
  mapping?: string;
  maxRejects: number;
  templatesDir?: string;
  daggerConfig?: string;
  json?: boolean;
}

export const DEFAULT_BACKUP_DIR = 'migration-backup';
export const DEFAULT_VALIDATION_REPORT = 'reports/validation-report.json';

export function registerPrepareCommand(program: Command): void {
  withConnectionOptions(program.command('prepare'))
    .description('Validate the legacy data into a report (blocking errors and warnings, each with file:line), back it up with a SHA-256 manifest and re-read the backup; `taskfleet migrate` starts only from a passed prepare of the same data under the same --mapping')
    .option('--legacy-data <dir>', 'directory holding projects, phases, tasks[, task_dependencies] as .json, .jsonl or .csv (required)')
    .hook('preAction', requireOptions('legacyData'))
    .option('--backup <dir>', 'backup root: every file of the legacy directory is copied into DIR/<first 16 hex digits of the manifest hash>/ with a manifest.json, then re-read and checked', DEFAULT_BACKUP_DIR)
    .option('--validation-report <file>', 'the JSON validation report; a readable summary is written beside it (.txt)', DEFAULT_VALIDATION_REPORT)
    .option('--mapping <file>', 'legacy field mapping, laid over the shipped config/legacy-mapping.yaml: list only what differs (null removes a default or a translation)')
    .option('--max-rejects <n>', 'pass even though up to N records would be rejected by a migration; with 0 any such record fails prepare', positiveInt, 0)
    .option('--templates-dir <dir>', 'workflow templates, one YAML per task type, checked against the task types in the data (default: config/templates of the taskfleet package)')
    .option('--dagger-config <file>', 'Dagger runner settings; its allowedImages are checked against the templates (default: config/dagger.yaml of the taskfleet package)')
    .option('--json', 'print one JSON line with the outcome instead of the readable summary')
    .addHelpText('after', `
Errors are exactly the records a migration would reject (malformed, wrong type, missing field, invalid
UTF-8, oversized, duplicate id, dangling or cross-project reference, bad dependency, cycle); warnings
(unknown fields kept in legacy_extra, defaults applied, dates out of order, ...) never block.
Workflow templates are checked too (docs/workflows.md): a task type with no template and no default.yaml,
a template that does not parse, or an image not in dagger.yaml's allowedImages is a blocking error,
whatever --max-rejects says.
Exit status: 0 passed; 1 failed (more errors than --max-rejects, an unreadable file, a template problem,
or a backup that does not match; the report and the backup are still written); 2 usage or configuration error.`)
    .action(async (flags: PrepareFlags) => {
      const settings = settingsFrom(flags);
      const mapping = loadLegacyMapping(flags.mapping);
      const daggerConfigFile = flags.daggerConfig ?? DEFAULT_DAGGER_CONFIG_FILE;
      const workflows = { templatesDir: flags.templatesDir ?? DEFAULT_TEMPLATES_DIR, daggerConfig: loadDaggerConfig(daggerConfigFile), daggerConfigFile };
      // A wrong directory is a usage error, reported before any connection is made.
      await discoverLegacyFiles(flags.legacyData);
      const logger = createLogger(settings.logLevel, { role: 'prepare' });
      await prepareDatabase(settings.databaseUrl);
      const db = createPool(settings.databaseUrl, 2);
      try {
        const result = await runPrepare(db, {
          legacyDir: flags.legacyData, mapping, backupDir: flags.backup, reportPath: flags.validationReport, maxRejects: flags.maxRejects, workflows, logger,
        });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({
            event: 'prepare', passed: result.passed, preparationId: result.preparationId, legacyDir: result.report.legacyDir,
            manifestSha256: result.manifest.sha256, errors: result.report.errors, warnings: result.report.warnings, maxRejects: flags.maxRejects,
            perKind: result.report.perKind, errorsByClass: result.report.errorsByClass, reportPath: result.reportPath, summaryPath: result.summaryPath,
            backupDir: result.backup?.dir ?? null, backupVerified: result.backup !== null && result.backup.mismatches.length === 0, failure: result.failure,
            workflowTemplateErrors: result.workflows?.findings.length ?? null,
          })}\n`);
        } else {
          process.stdout.write(result.summaryText);
        }
        // The summary's last line already says why on a terminal; piped or --json, stderr says it too.
        if (!result.passed && (flags.json || !process.stdout.isTTY)) process.stderr.write(`taskfleet: prepare failed: ${result.failure ?? 'see the report'}\n`);
        process.exitCode = result.passed ? 0 : 1;
      } finally {
        await db.end().catch(() => undefined);
      }
    });
}
