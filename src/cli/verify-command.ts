// `taskfleet verify RUN` (prove a completed run against its legacy data; exit 0 passed, 1 failed,
// 2 usage or configuration error) and `taskfleet id-mapping RUN` (export legacy -> new ids as JSON).
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { findRun } from '../ledger/runs.js';
import { DEFAULT_ID_MAPPING_FILE, exportIdMapping } from '../lifecycle/id-mapping.js';
import { DEFAULT_VERIFICATION_REPORT, runVerify } from '../lifecycle/verify.js';
import { createLogger } from '../logger.js';
import { prepareDatabase } from '../store/database.js';
import { createPool } from '../store/pool.js';
import { formatReportSummary, reportOverview } from '../verification/report.js';
import { loadVerificationConfig } from '../verification/verification-config.js';
import { positiveInt, settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';

interface VerifyFlags extends ConnectionFlags {
  verificationReport: string;
  maxSamples?: number;
  thresholds?: string;
  json?: boolean;
}

interface IdMappingFlags extends ConnectionFlags {
  out: string;
  json?: boolean;
}

export function registerVerifyCommands(program: Command): void {
  withConnectionOptions(program.command('verify'))
    .description('Verify a completed run: re-read the legacy data and the new system and compare them record by record, field by field '
      + '(counts, rejects, missing and stray rows, orphans, dependency edges, workflows, query latency). Exit 0 passed, 1 failed')
    .argument('<run>', 'the run id')
    .option('--verification-report <file>', 'where to write the JSON report', DEFAULT_VERIFICATION_REPORT)
    .option('--max-samples <n>', 'mismatch samples kept per check (default: maxSamples in the settings, 20)', positiveInt)
    .option('--thresholds <file>', 'verification settings: latency thresholds, sample sizes (default: config/verification.yaml)')
    .option('--json', 'print the report\'s overview as one JSON line instead of the summary')
    .action(async (runId: string, flags: VerifyFlags) => {
      const settings = settingsFrom(flags);
      // Validated before anything connects: a bad setting is a usage error (exit 2), not a failed verification.
      const thresholds = loadVerificationConfig(flags.thresholds);
      const logger = createLogger(settings.logLevel, { role: 'verify' });
      await prepareDatabase(settings.databaseUrl);
      const db = createPool(settings.databaseUrl, 2);
      try {
        const result = await runVerify(db, { runId, reportPath: flags.verificationReport, maxSamples: flags.maxSamples, thresholds, logger });
        process.stdout.write(flags.json
          ? `${JSON.stringify(reportOverview(result.report, result.reportPath))}\n`
          : `${formatReportSummary(result.report, result.reportPath).join('\n')}\n`);
        process.exitCode = result.passed ? 0 : 1;
      } finally {
        await db.end();
      }
    });

  withConnectionOptions(program.command('id-mapping'))
    .description('Export the legacy -> new id mapping of the rows a run migrated, per kind, as one JSON file (streamed)')
    .argument('<run>', 'the run id')
    .option('--out <file>', 'where to write the JSON', DEFAULT_ID_MAPPING_FILE)
    .option('--json', 'print the result as one JSON line')
    .action(async (runId: string, flags: IdMappingFlags) => {
      const settings = settingsFrom(flags);
      await prepareDatabase(settings.databaseUrl);
      const db = createPool(settings.databaseUrl, 2);
      try {
        const run = await findRun(db, runId);
        if (!run) throw new ConfigError(`Run ${runId} is not in the ledger (see \`taskfleet status\`)`);
        // Its rows are gone: an empty mapping written over an earlier export would only mislead.
        if (run.status === 'rolled_back') throw new ConfigError(`Run ${runId} was rolled back: it has no rows, so no id mapping to export`);
        const counts = await exportIdMapping(db, runId, flags.out);
        process.stdout.write(flags.json
          ? `${JSON.stringify({ event: 'id-mapping', runId, file: flags.out, ...counts })}\n`
          : `Wrote the ID mapping of run ${runId} to ${flags.out}: ${counts.projects} projects, ${counts.phases} phases, ${counts.tasks} tasks\n`);
      } finally {
        await db.end();
      }
    });
}
