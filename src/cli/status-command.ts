// `taskfleet status [RUN]`, `taskfleet rejects RUN` and `taskfleet workflows RUN`: read the ledger.
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { stageProgress } from '../ledger/chunks.js';
import { countRejects, listRejects } from '../ledger/rejects.js';
import { findRun, listRuns, type Run } from '../ledger/runs.js';
import { describeRunQueue, resumeCommand } from '../ledger/run-queue.js';
import { describeBreach, runOverRejectLimit } from '../ledger/reject-limit.js';
import { formatSummaryLines, runSummary } from '../ledger/summary.js';
import { countWorkflowResults, listWorkflowResults, type FinalWorkflowStatus } from '../ledger/workflow-results.js';
import { FINAL_STATUSES, workflowRunSummary } from '../ledger/workflow-runs.js';
import { LEGACY_KINDS, type LegacyKind } from '../legacy/kinds.js';
import { phaseEvents } from '../lifecycle/phase-events.js';
import { describeNoProducer, producerAttachedTo, runsWithProducer } from '../producers/producer-presence.js';
import { prepareDatabase } from '../store/database.js';
import { createPool, type Pool } from '../store/pool.js';
import { positiveInt, settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';
import { shownText } from '../shown-text.js';

async function withDb<T>(flags: ConnectionFlags, fn: (db: Pool) => Promise<T>): Promise<T> {
  const settings = settingsFrom(flags);
  await prepareDatabase(settings.databaseUrl);
  const db = createPool(settings.databaseUrl, 2);
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

export function registerStatusCommands(program: Command): void {
  withConnectionOptions(program.command('status'))
    .description('Show all runs, or one run: its stages, chunks and per-kind accounting')
    .argument('[run]', 'the run id')
    .option('--json', 'print JSON')
    .action(async (runId: string | undefined, flags: ConnectionFlags & { json?: boolean }) => {
      await withDb(flags, async (db) => {
        if (!runId) {
          const runs = await listRuns(db);
          const driven = await runsWithProducer(db, runs.filter((r) => r.status === 'running').map((r) => r.id));
          const producerOf = (r: Run): boolean | null => (r.status === 'running' ? driven.has(r.id) : null);
          if (flags.json) { process.stdout.write(`${JSON.stringify(runs.map((r) => ({ ...r, producerAttached: producerOf(r) })))}\n`); return; }
          if (runs.length === 0) process.stdout.write('No runs yet.\n');
          for (const r of runs) {
            process.stdout.write(`${r.id}  ${r.status.padEnd(9)}  ${r.createdAt.toISOString()}  ${r.legacyDir}${producerOf(r) === false ? '  (no producer: taskfleet resume)' : ''}\n`);
          }
          return;
        }
        const run = await findRun(db, runId);
        if (!run) throw new ConfigError(`Run ${runId} is not in the ledger (see \`taskfleet status\`)`);
        const stages = await stageProgress(db, runId);
        const summary = await runSummary(db, runId);
        const phases = await phaseEvents(db, runId);
        const workflows = run.options.workflows ? await workflowRunSummary(db, runId) : null;
        const overRejectLimit = runOverRejectLimit(run, summary);
        const producerAttached = await producerAttachedTo(db, run);
        if (flags.json) { process.stdout.write(`${JSON.stringify({ run, producerAttached, stages, summary, overRejectLimit, phases, workflows })}\n`); return; }
        process.stdout.write(`Run ${run.id}: ${run.status}${run.stage ? ` (stage ${run.stage})` : ''}\n`);
        if (producerAttached === false) process.stdout.write(`  producer: ${describeNoProducer(run.id, run.queue)}\n`);
        if (overRejectLimit) process.stdout.write(`  over its reject limit: ${describeBreach(run.id, overRejectLimit)}\n`);
        process.stdout.write(`  queue: ${run.queue ? `${describeRunQueue(run.queue)} (resume: ${resumeCommand(run.id, run.queue)})` : 'not recorded (planned by an older taskfleet)'}\n`);
        process.stdout.write(`  legacy data: ${run.legacyDir}\n  started: ${run.startedAt?.toISOString() ?? '-'}  finished: ${run.finishedAt?.toISOString() ?? '-'}\n`);
        if (run.error) process.stdout.write(`  error: ${run.error}\n`);
        for (const s of stages) process.stdout.write(`  ${s.stage.padEnd(17)} chunks ${s.done}/${s.chunks} done, ${s.failed} failed\n`);
        if (workflows) {
          process.stdout.write(`  ${'workflows'.padEnd(17)} ${workflows.done}/${workflows.total} on-migrate done: ${workflows.succeeded} succeeded, `
            + `${workflows.failed} failed, ${workflows.cached} cached (${workflows.workflows} workflows, ${workflows.abandoned} abandoned attempts)\n`);
        }
        process.stdout.write(`${formatSummaryLines(summary).map((l) => `  ${l}`).join('\n')}\n`);
        if (run.rolledBackAt) process.stdout.write(`  rolled back: ${run.rolledBackAt.toISOString()}\n`);
        else if (run.status === 'rolled_back') process.stdout.write(`  rolled back: its rows are removed, its legacy data not restored yet (finish with: taskfleet rollback --run-id ${run.id})\n`);
        if (run.decommissionedAt) process.stdout.write(`  legacy data decommissioned: ${run.decommissionedAt.toISOString()}\n`);
        if (phases.length > 0) process.stdout.write('  phases:\n');
        for (const p of phases) {
          const seconds = p.finishedAt ? ` in ${((p.finishedAt.getTime() - p.startedAt.getTime()) / 1000).toFixed(1)} s` : '';
          process.stdout.write(`    ${p.startedAt.toISOString()}  ${p.phase.padEnd(12)} ${p.outcome}${seconds}${p.error ? `: ${p.error}` : ''}\n`);
        }
      });
    });

  withConnectionOptions(program.command('rejects'))
    .description('List the rejected records of a run: kind, legacy id, file:line, field, reason')
    .argument('<run>', 'the run id')
    .option('--kind <kind>', `only this kind (${LEGACY_KINDS.join(', ')})`)
    .option('--limit <n>', 'at most this many', positiveInt, 1000)
    .option('--offset <n>', 'skip this many first', positiveInt, 0)
    .option('--json', 'print JSON lines')
    .action(async (runId: string, flags: ConnectionFlags & { kind?: string; limit: number; offset: number; json?: boolean }) => {
      if (flags.kind && !(LEGACY_KINDS as readonly string[]).includes(flags.kind)) {
        throw new ConfigError(`--kind must be one of ${LEGACY_KINDS.join(', ')}`);
      }
      await withDb(flags, async (db) => {
        if (!(await findRun(db, runId))) throw new ConfigError(`Run ${runId} is not in the ledger (see \`taskfleet status\`)`);
        const rejects = await listRejects(db, runId, { kind: flags.kind as LegacyKind | undefined, limit: flags.limit, offset: flags.offset });
        for (const r of rejects) {
          process.stdout.write(flags.json
            ? `${JSON.stringify(r)}\n`
            : `${[r.kind, r.legacyId ?? '-', r.ref, r.field ?? '-', r.reason].map(shownText).join('\t')}\n`);
        }
        if (!flags.json && rejects.length === 0) process.stderr.write('No rejects.\n');
        if (flags.limit > 0 && rejects.length === flags.limit) {
          const total = await countRejects(db, runId, flags.kind as LegacyKind | undefined);
          moreLine(total, flags.offset, rejects.length);
        }
      });
    });

  const statuses = [...FINAL_STATUSES, 'all'];
  withConnectionOptions(program.command('workflows'))
    .description("List a run's task workflows by how they ended (the failed ones by default): legacy task id, template, status, exit code, error")
    .argument('<run>', 'the run id')
    .option('--status <status>', `only workflows that ended so (${statuses.join(', ')})`, 'failed')
    .option('--limit <n>', 'at most this many', positiveInt, 1000)
    .option('--offset <n>', 'skip this many first', positiveInt, 0)
    .option('--json', 'print JSON lines (with the tail of each output, the attempt and the runner)')
    .action(async (runId: string, flags: ConnectionFlags & { status: string; limit: number; offset: number; json?: boolean }) => {
      if (!statuses.includes(flags.status)) throw new ConfigError(`--status must be one of ${statuses.join(', ')}`);
      const status = flags.status === 'all' ? null : flags.status as FinalWorkflowStatus;
      await withDb(flags, async (db) => {
        const run = await findRun(db, runId);
        if (!run) throw new ConfigError(`Run ${runId} is not in the ledger (see \`taskfleet status\`)`);
        if (!run.options.workflows) throw new ConfigError(`Run ${runId} created no workflows`);
        const results = await listWorkflowResults(db, runId, { status, limit: flags.limit, offset: flags.offset });
        for (const r of results) {
          process.stdout.write(flags.json
            ? `${JSON.stringify(r)}\n`
            : `${[r.legacyId, r.template, r.status, r.exitCode === null ? '-' : String(r.exitCode), r.error ?? '-'].map(shownText).join('\t')}\n`);
        }
        if (!flags.json && results.length === 0) process.stderr.write(`No ${status ?? ''} workflow results.\n`.replace('  ', ' '));
        if (flags.limit > 0 && results.length === flags.limit) moreLine(await countWorkflowResults(db, runId, status), flags.offset, results.length);
      });
    });
}

/** After a full page: how many more there are, and the flag that lists them. */
function moreLine(total: number, offset: number, shown: number): void {
  const rest = total - offset - shown;
  if (rest > 0) process.stderr.write(`… ${rest} more (of ${total}): --offset ${offset + shown} lists the next ones\n`);
}
