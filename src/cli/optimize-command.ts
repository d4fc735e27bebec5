// `taskfleet optimize`: build the secondary indexes the load went without, analyze, and report the
// typical queries' plans and latencies before and after.
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { findRun } from '../ledger/runs.js';
import { createLogger } from '../logger.js';
import { runOptimize, type OptimizeReport } from '../lifecycle/optimize.js';
import { prepareDatabase } from '../store/database.js';
import { createPool, type Pool } from '../store/pool.js';
import { positiveInt, settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';

interface OptimizeFlags extends ConnectionFlags {
  optimizeReport: string;
  runId?: string;
  samples: number;
  json?: boolean;
}

/** The run an optimize is recorded against by default: the latest completed one. */
async function latestCompletedRun(db: Pool): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM ledger.runs WHERE status = 'completed' ORDER BY created_at DESC LIMIT 1`);
  return rows[0]?.id ?? null;
}

function formatReport(report: OptimizeReport, path: string): string {
  const lines = [report.summary];
  for (const index of report.indexes) lines.push(`  ${index.action.padEnd(7)} ${index.name.padEnd(28)} ${String(index.ms).padStart(7)} ms  ${index.unique ? 'UNIQUE ' : ''}${index.table} ${index.definition}`);
  lines.push(`  analyzed ${report.analyzed.length} tables in ${report.analyzeMs} ms`);
  for (const before of report.before.latencies) {
    const after = report.after.latencies.find((l) => l.query === before.query);
    const planBefore = report.before.plans.find((p) => p.query === before.query);
    const planAfter = report.after.plans.find((p) => p.query === before.query);
    const uses = (p: typeof planBefore) => (p ? (p.indexes.length > 0 ? p.indexes.join('+') : p.seqScans.length > 0 ? 'seq scan' : p.nodeTypes[0] ?? '-') : '-');
    lines.push(`  ${before.query.padEnd(16)} p50 ${before.p50Ms} → ${after?.p50Ms ?? '-'} ms, p95 ${before.p95Ms} → ${after?.p95Ms ?? '-'} ms; plan ${uses(planBefore)} → ${uses(planAfter)}`);
  }
  lines.push(`Report: ${path}`);
  return `${lines.join('\n')}\n`;
}

export function registerOptimizeCommand(program: Command): void {
  withConnectionOptions(program.command('optimize'))
    .description('Build the secondary indexes (concurrently), ANALYZE, and report the typical queries\' plans and p50/p95 before and after')
    .option('--optimize-report <file>', 'where the JSON report goes', 'reports/optimize-report.json')
    .option('--run-id <id>', 'the run this optimize follows, for the ledger (default: the latest completed run)')
    .option('--samples <n>', 'executions per typical query for p50/p95', positiveInt, 30)
    .option('--json', 'print the outcome as one JSON line')
    .action(async (flags: OptimizeFlags) => {
      const settings = settingsFrom(flags);
      const logger = createLogger(settings.logLevel, { role: 'optimize' });
      await prepareDatabase(settings.databaseUrl);
      const db = createPool(settings.databaseUrl, 3);
      try {
        const named = flags.runId ? await findRun(db, flags.runId) : null;
        if (flags.runId && !named) throw new ConfigError(`Run ${flags.runId} is not in the ledger (see \`taskfleet status\`)`);
        // The phase is recorded under the run: a rolled-back run has no rows left to follow.
        if (named?.status === 'rolled_back') throw new ConfigError(`Run ${named.id} was rolled back: its rows are gone, so there is nothing to optimize for it (omit --run-id for the latest completed run)`);
        const runId = flags.runId ?? await latestCompletedRun(db);
        const report = await runOptimize(db, { reportPath: flags.optimizeReport, runId, logger, latencySamples: flags.samples });
        if (flags.json) {
          const count = (action: string) => report.indexes.filter((i) => i.action === action).length;
          process.stdout.write(`${JSON.stringify({
            event: 'optimize', runId, report: flags.optimizeReport, summary: report.summary,
            created: count('created'), rebuilt: count('rebuilt'), present: count('present'),
            before: report.before.latencies, after: report.after.latencies,
          })}\n`);
        } else {
          process.stdout.write(formatReport(report, flags.optimizeReport));
        }
      } finally {
        await db.end();
      }
    });
}
