// `taskfleet rollback` (and ./scripts/rollback_migration.sh): undo a run — its rows, children first,
// in one transaction — and restore its legacy data from the prepare's backup. --dry-run previews.
import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { blockingRefusals, describeGroup, runRollback, type RollbackResult } from '../lifecycle/rollback.js';
import { prepareDatabase } from '../store/database.js';
import { createPool } from '../store/pool.js';
import { settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';

interface RollbackFlags extends ConnectionFlags {
  runId?: string;
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
}

function formatResult(r: RollbackResult): string {
  const { plan } = r;
  const lines = [r.dryRun
    ? `Rollback of run ${plan.runId} — DRY RUN, nothing was changed. It would:`
    : `Rolled back run ${plan.runId}${r.rolledBackAt ? ` at ${r.rolledBackAt.toISOString()}` : ''}:`];
  const deletes = r.dryRun ? plan.deletes : r.deleted;
  lines.push(`  ${r.dryRun ? 'delete' : 'deleted'} ${deletes.map((d) => `${d.table} ${d.rows}`).join(', ')}`);
  for (const g of plan.adoptedFromOtherRuns) lines.push(`  leave in place (created by run ${g.runId}, adopted by this run): ${describeGroup(g)}`);
  if (r.dryRun) for (const g of plan.edgesToPutBack) lines.push(`  put back (created by run ${g.runId}, deleted by this run's cycle check): ${describeGroup(g)}`);
  else if (r.edgesPutBack > 0) lines.push(`  put back ${r.edgesPutBack} dependency edge${r.edgesPutBack === 1 ? '' : 's'} of other runs that this run's cycle check had deleted`);
  if (plan.changedAfterRun === null) lines.push('  rows changed after the run: cannot tell (the run never completed)');
  else if (plan.changedAfterRun.length === 0) lines.push('  rows changed after the run: none');
  else for (const g of plan.changedAfterRun) lines.push(`  changed after the run${r.dryRun ? '' : ' (deleted: --force)'}: ${describeGroup(g)}`);
  if (!plan.restore) {
    lines.push(`  no backup to restore: run ${plan.runId} was started without a prepare (--skip-prepare), so its legacy files in ${plan.legacyDir} are left as they are`);
  } else {
    const restore = plan.restore.actions.filter((a) => a.action === 'restore');
    const unchanged = plan.restore.actions.filter((a) => a.action === 'unchanged').length;
    const left = plan.restore.actions.filter((a) => a.action === 'left in place');
    const lost = plan.restore.actions.filter((a) => a.action === 'cannot restore');
    lines.push(`  legacy data ${plan.legacyDir} from backup ${plan.restore.backupDir} (prepare #${plan.restore.preparationId}):`);
    for (const a of restore) lines.push(`    ${r.dryRun ? 'restore' : 'restored'} ${a.file} (${a.reason ?? 'differs'})`);
    for (const a of lost) lines.push(`    ${r.dryRun ? 'cannot restore' : 'left as it is, not restored'} ${a.file} (${a.reason ?? 'differs'})`);
    lines.push(`    ${unchanged} file${unchanged === 1 ? '' : 's'} already match${unchanged === 1 ? 'es' : ''} the backup`);
    // The migrate gate compares the whole directory with the prepare: a file added since keeps it shut.
    for (const a of left) lines.push(`    leave ${a.file} (${a.reason ?? 'not in the backup'}; move it out before migrating this data again, or prepare it again)`);
    if (!r.dryRun && lost.length === 0) lines.push(`    the legacy data now matches the backup's manifest${left.length > 0 ? ` (but for the file${left.length === 1 ? '' : 's'} left in place)` : ''}`);
  }
  if (r.dryRun) {
    if (plan.refusals.length === 0) lines.push('  A real rollback would proceed.');
    for (const refusal of plan.refusals) lines.push(`  A real rollback would refuse${refusal.forceable ? ' (unless --force)' : ''}: ${refusal.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

export function registerRollbackCommand(program: Command): void {
  withConnectionOptions(program.command('rollback'))
    .description('Undo a run: delete exactly the rows it created (children first, one transaction), put back the edges of other runs its cycle check deleted, and restore its legacy data from the prepare\'s backup; refuses when other runs depend on its rows, when its rows changed since (unless --force), or after decommission')
    .option('--run-id <id>', 'the run to roll back (default: the latest run; if that one is rolled back already, rollback refuses rather than reach for an earlier run)')
    .option('--dry-run', 'print what would be deleted and restored, and what would stop it; change nothing; exit 2 when a real rollback (with the same --force) would refuse')
    .option('--force', 'roll back even so: rows of the run changed after it completed are deleted too; a run still running is stopped (its producer stops, workers drop its queued jobs) and every row it wrote removed; legacy files the damaged backup cannot restore are left as they are')
    .option('--json', 'print the outcome as one JSON line')
    .action(async (flags: RollbackFlags) => {
      const settings = settingsFrom(flags);
      const logger = createLogger(settings.logLevel, { role: 'rollback' });
      await prepareDatabase(settings.databaseUrl);
      const db = createPool(settings.databaseUrl, 4);
      try {
        const result = await runRollback(db, { runId: flags.runId ?? null, dryRun: flags.dryRun ?? false, force: flags.force ?? false, logger });
        process.stdout.write(flags.json ? `${JSON.stringify({ event: 'rollback', ...result })}\n` : formatResult(result));
        // A rehearsal answers with the exit code the real rollback would give (2: refused).
        if (result.dryRun && blockingRefusals(result.plan.refusals, flags.force ?? false).length > 0) process.exitCode = 2;
      } finally {
        await db.end();
      }
    });
}
