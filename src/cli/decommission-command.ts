// `taskfleet decommission RUN`: archive and retire a verified run's legacy data.
import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { runDecommission } from '../lifecycle/decommission.js';
import { prepareDatabase } from '../store/database.js';
import { createPool } from '../store/pool.js';
import { settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';

interface DecommissionFlags extends ConnectionFlags {
  archive: string;
  json?: boolean;
}

export function registerDecommissionCommand(program: Command): void {
  withConnectionOptions(program.command('decommission'))
    .description('Archive the run\'s legacy data (tar.gz + SHA-256 manifest, read back and checked) and retire it (marker file, read-only); refuses unless the run is completed and its latest verification (since it was last planned) passed')
    .argument('<run>', 'the run id')
    .option('--archive <dir>', 'where the archive and its manifest go', 'migration-archive')
    .option('--json', 'print the outcome as one JSON line')
    .action(async (runId: string, flags: DecommissionFlags) => {
      const settings = settingsFrom(flags);
      const logger = createLogger(settings.logLevel, { role: 'decommission' });
      await prepareDatabase(settings.databaseUrl);
      const db = createPool(settings.databaseUrl, 2);
      try {
        const result = await runDecommission(db, { runId, archiveDir: flags.archive, logger });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ event: 'decommission', ...result })}\n`);
        } else if (result.alreadyDone) {
          process.stdout.write(`Run ${runId} was already decommissioned on ${result.decommissionedAt.toISOString()} (archive ${result.archivePath}); nothing to do.\n`);
        } else {
          process.stdout.write(`Run ${runId}: archived ${result.files ?? 0} files (${result.bytes ?? 0} bytes) of ${result.legacyDir}\n`
            + `  archive:  ${result.archivePath} (sha256 ${result.archiveSha256})\n`
            + `  manifest: ${result.manifestPath} (data set sha256 ${result.manifestSha256})\n`
            + '  the archive was read back and every file matches; the legacy data is retired (marker file, read-only).\n');
        }
      } finally {
        await db.end();
      }
    });
}
