// `taskfleet migrate` and `taskfleet resume`: plan (or find) the run, keep its chunk jobs flowing
// stage by stage, show progress, and end with the per-kind summary. Exit 0 only for a completed run
// whose rejects stay within --max-rejects.
import { Option, type Command } from 'commander';
import { loadLegacyMapping, mappingSha256 } from '../config/legacy-mapping.js';
import type { Settings } from '../config/settings.js';
import { ConfigError } from '../config/errors.js';
import type { ChunkJobPayload, WorkflowJobPayload } from '../jobs/payload.js';
import { resetFailedChunks } from '../ledger/chunks.js';
import { findRun, setMaxRejects, setRunQueue, updateRun, type Run } from '../ledger/runs.js';
import { describeRunQueue, queueMismatch, resumeCommand, runQueueOf } from '../ledger/run-queue.js';
import { describeBreach, rejectLimitBreach } from '../ledger/reject-limit.js';
import { formatSummaryLines, isBalanced, runSummary } from '../ledger/summary.js';
import { workflowRunSummary, type WorkflowRunSummary } from '../ledger/workflow-runs.js';
import { atLeastWarn, createLogger, type Logger } from '../logger.js';
import { driveRun } from '../producers/drive-run.js';
import { planRun } from '../producers/plan-run.js';
import { whilePlanningAlone } from '../producers/one-run-per-directory.js';
import { attachProducer, type ProducerPresence } from '../producers/producer-presence.js';
import { checkMigrateGate } from '../lifecycle/migrate-gate.js';
import { closeInterruptedPhases, finishPhase, GateError, refusePhase, startPhase } from '../lifecycle/phase-events.js';
import { discoverLegacyFiles } from '../legacy/files.js';
import { prepareDatabase } from '../store/database.js';
import { createPool, type Pool } from '../store/pool.js';
import { queueProblemLog } from '../queue/problem-log.js';
import { MIGRATE_QUEUE, transportOf, WORKFLOWS_QUEUE } from '../queue/queue-names.js';
import { loadWorkflowRunOptions } from '../producers/workflow-options.js';
import { NO_TEMPLATE_FOR_TYPE, templateSetFromJson, templatesSha256 } from '../workflows/templates.js';
import { positiveInt, requireOptions, settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';
import { createProgressDisplay } from './progress-display.js';
import { spawnWorkers, type SpawnedWorkers } from './spawn-workers.js';
import { exitWhenDone } from './exit-when-done.js';

interface FollowFlags extends ConnectionFlags {
  workers: number;
  concurrency?: number;
  json?: boolean;
  progress: boolean;
  maxRejects?: number;
  /** What finishes the run, said when it stops (hidden: the demo's ledger is gone once it stops). */
  resumeHint?: string;
}

interface ResumeFlags extends FollowFlags {
  moveQueue?: boolean;
}

interface MigrateFlags extends FollowFlags {
  legacyData: string;
  chunkSize?: number;
  runId?: string;
  mapping?: string;
  skipPrepare?: boolean;
  templatesDir?: string;
  daggerConfig?: string;
  /** false with --no-cache. */
  cache: boolean;
}

export function registerMigrateCommands(program: Command): void {
  withConnectionOptions(program.command('migrate'))
    .description('Migrate a legacy data directory into the new system: plan the run, enqueue chunk jobs stage by stage, follow progress')
    .option('--legacy-data <dir>', 'directory holding projects, phases, tasks[, task_dependencies] as .json, .jsonl or .csv (required)')
    .hook('preAction', requireOptions('legacyData'))
    .option('--chunk-size <n>', 'records per chunk job (default 5000, chosen from the bench)', positiveInt)
    .option('--run-id <id>', 'name the run (default: derived from the directory, its files (names, sizes, mtimes) and the settings that shape the run: mapping, --chunk-size, templates, dagger config, --no-cache; so the same command is a no-op the second time)')
    .option('--max-rejects <n>', 'exit non-zero when more records than this are rejected (default: no limit)', positiveInt)
    .option('--mapping <file>', 'legacy field mapping, laid over the shipped config/legacy-mapping.yaml: list only what differs (null removes a default or a translation)')
    .option('--templates-dir <dir>', 'workflow templates, one YAML per task type, default.yaml for the rest (default: config/templates)')
    .option('--dagger-config <file>', 'workflow runner settings: runner, concurrency, timeouts, retries, cache, allowed images (default: config/dagger.yaml)')
    .option('--no-cache', 'execute every on-migrate workflow, even one whose definition already succeeded in an earlier run')
    .option('--skip-prepare', 'start without a passed `taskfleet prepare` of this data (no validation report, no backup: rollback cannot restore the legacy files)')
    .option('--workers <n>', 'also start N worker processes on this machine for the run (0: workers run elsewhere, `taskfleet worker`)', positiveInt, 0)
    .option('--concurrency <n>', 'jobs per started worker process (default 4)', positiveInt)
    .option('--json', 'machine output: progress events and the summary as JSON lines on stdout')
    .option('--no-progress', 'no progress display')
    .addOption(new Option('--resume-hint <command>', 'the command that finishes the run, in the messages when it stops (for `npm run demo`)').hideHelp())
    .action(async (flags: MigrateFlags) => {
      const settings = settingsFrom(flags, { chunkSize: flags.chunkSize, concurrency: flags.concurrency });
      const mapping = loadLegacyMapping(flags.mapping);
      // Loaded once here and stored with the run: every worker renders and runs workflows alike.
      const workflows = loadWorkflowRunOptions({ templatesDir: flags.templatesDir, daggerConfig: flags.daggerConfig, noCache: !flags.cache });
      process.exitCode = await withRunServices(settings, flags, async ({ db, logger, claim }) => {
        await discoverLegacyFiles(flags.legacyData);
        const gate = await checkMigrateGate(db, flags.legacyData, {
          skipPrepare: flags.skipPrepare ?? false, mappingSha256: mappingSha256(mapping), templatesSha256: templatesSha256(templateSetFromJson(workflows.templates).templates),
        }).catch(async (err: unknown) => {
          if (err instanceof GateError) await refusePhase(db, 'migrate', {}, err.message);
          throw err;
        });
        const { run, created } = await planRun(db, {
          legacyDir: flags.legacyData, runId: flags.runId, mapping, chunkSize: settings.chunkSize,
          chunkMaxBytes: settings.chunkMaxBytes, maxRejects: flags.maxRejects ?? null, preparationId: gate.preparationId, workflows, claim,
          queue: runQueueOf(transportOf(settings)),
        }, logger);
        // Continuing a run on another queue would leave its workers idle: resume --move-queue is the way to move it.
        const elsewhere = created || run.status === 'completed' ? null : queueMismatch(run.id, run.queue, runQueueOf(transportOf(settings)));
        if (elsewhere) throw new ConfigError(elsewhere);
        if (!created && flags.maxRejects !== undefined) await setMaxRejects(db, run.id, flags.maxRejects);
        if (!created && run.status === 'completed') {
          note(flags, `Run ${run.id} already completed for this data; nothing to do.`);
          return run;
        }
        if (!created) note(flags, `Run ${run.id} exists (${run.status}); continuing it.`);
        return run;
      });
    });

  withConnectionOptions(program.command('resume'))
    .description('Finish a run from the ledger: re-adds every missing chunk job (after a flushed Redis or a dead producer) and retries failed chunks')
    .argument('<run>', 'the run id')
    .option('--max-rejects <n>', 'exit non-zero when more records than this are rejected (default: the run\'s own limit)', positiveInt)
    .option('--workers <n>', 'also start N worker processes on this machine for the run (0: workers run elsewhere, `taskfleet worker`)', positiveInt, 0)
    .option('--concurrency <n>', 'jobs per started worker process (default 4)', positiveInt)
    .option('--json', 'machine output: progress events and the summary as JSON lines on stdout')
    .option('--no-progress', 'no progress display')
    .option('--move-queue', 'queue the run on this command\'s --prefix/--redis/--queue-backend although it was planned on others (refused without it): workers must listen there')
    .action(async (runId: string, flags: ResumeFlags) => {
      const settings = settingsFrom(flags, { concurrency: flags.concurrency });
      process.exitCode = await withRunServices(settings, flags, async ({ db, claim }) => {
        const run = await findRun(db, runId);
        if (!run) throw new ConfigError(`Run ${runId} is not in the ledger (see \`taskfleet status\`)`);
        // The run's jobs (and its workers) are where it was planned, not necessarily where this command's defaults point.
        const here = runQueueOf(transportOf(settings));
        const elsewhere = run.status === 'completed' ? null : queueMismatch(runId, run.queue, here);
        if (elsewhere && !flags.moveQueue) throw new ConfigError(elsewhere);
        if (elsewhere || (run.queue === null && run.status !== 'completed')) await setRunQueue(db, runId, here);
        if (elsewhere) note(flags, `Run ${runId} now queues its jobs on ${describeRunQueue(here)} (--move-queue).`);
        if (run.status === 'planning') throw new ConfigError(`Run ${runId} was never fully planned; run the same \`taskfleet migrate\` again`);
        if (run.status === 'rolled_back') {
          throw new ConfigError(run.rolledBackAt === null
            ? `Run ${runId} is being rolled back (its rows are removed, its legacy data not restored yet): finish that with taskfleet rollback --run-id ${runId}`
            : `Run ${runId} was rolled back on ${run.rolledBackAt.toISOString()}: its rows are gone, so there is nothing to resume. To migrate the data again: taskfleet migrate --legacy-data ${run.legacyDir}`);
        }
        // The workers read the legacy files again: check they are still there before anything starts.
        await discoverLegacyFiles(run.legacyDir);
        // One producer per run: a resume of a run whose producer is alive is refused here.
        if (run.status !== 'completed') await claim(runId);
        // Running again: under the directory's lock, as a new run is planned, with no other run of it running.
        await whilePlanningAlone(db, run.legacyDir, runId, async () => {
          const retried = await resetFailedChunks(db, runId);
          if (retried > 0) note(flags, `Retrying ${retried} failed chunks.`);
          if (run.status !== 'completed') await updateRun(db, runId, { status: 'running', error: null });
        });
        if (flags.maxRejects !== undefined) await setMaxRejects(db, runId, flags.maxRejects);
        return (await findRun(db, runId)) ?? run;
      });
    });
}

function formatWorkflowsLine(w: WorkflowRunSummary): string {
  return `workflows  ${w.workflows} (${w.created} created)  on-migrate ${w.onMigrate}: succeeded ${w.succeeded}  failed ${w.failed}  cached ${w.cached}`
    + `${w.abandoned > 0 ? `  (${w.abandoned} abandoned attempts)` : ''}`;
}

function note(flags: FollowFlags, message: string): void {
  if (flags.json) process.stdout.write(`${JSON.stringify({ event: 'note', message })}\n`);
  else process.stderr.write(`${message}\n`);
}

/** What to do about a failed run: most failures are fixed and resumed; a changed file cannot be resumed. */
function nextStepAfterFailure(runId: string, resume: string, error: string | null): string {
  if (error?.includes('changed since the run was planned')) {
    return `The run reads the files as they were when it was planned. Put them back as they were, then: ${resume}\n`
      + 'or, to migrate the files as they are now: taskfleet prepare --legacy-data DIR on them, then migrate again (without this --run-id): that plans a new run, which adopts the rows this one wrote';
  }
  if (error?.includes(NO_TEMPLATE_FOR_TYPE)) {
    // The run keeps the templates it was planned with: a template added now would not reach it.
    return `The run keeps the workflow templates it started with, so resuming it cannot use a new one. Roll it back (taskfleet rollback --run-id ${runId}), `
      + 'add the template, run `taskfleet prepare` with that --templates-dir (it checks every task type of the data), then migrate again';
  }
  return `Fix the cause, then: ${resume}`;
}

/** Connects, gets the run from `start`, drives it to the end with N local workers, prints the summary. */
/** What a command that drives a run gets: `claim(runId)` marks this process as the run's producer (refused if another one is). */
interface RunServices { db: Pool; logger: Logger; claim: (runId: string) => Promise<void> }

async function withRunServices(settings: Settings, flags: FollowFlags, start: (s: RunServices) => Promise<Run>): Promise<number> {
  const logger = createLogger(settings.logLevel, { role: 'producer' });
  await prepareDatabase(settings.databaseUrl);
  const transport = transportOf(settings);
  // Loaded here, not at start-up: BullMQ is half the modules the CLI would load, and most commands never queue.
  const { closeQueue, createQueue, ensureTransportReady, lostQueueConnection, queuesReady } = await import('../queue/index.js');
  await ensureTransportReady(transport);
  const db = createPool(settings.databaseUrl, 4);
  const onError = queueProblemLog(logger);
  const queues = {
    chunks: createQueue<ChunkJobPayload>(MIGRATE_QUEUE, transport, { onError }),
    workflows: createQueue<WorkflowJobPayload>(WORKFLOWS_QUEUE, transport, { onError }),
  };
  let workers: SpawnedWorkers | null = null;
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort();
  let startedRun: string | null = null;
  // The resume command the hints give: with the run's own --prefix/--redis when they are not the defaults.
  let resumeHint = '';
  // Every real migrate is a recorded phase; a no-op re-run of a completed run records nothing.
  let phaseEvent: number | null = null;
  // A holder, not a variable: it is set in claim(), a closure TypeScript's narrowing cannot see.
  const producer: { presence: ProducerPresence | null } = { presence: null };
  try {
    // Before the first add (queuesReady says why), and before the signal handlers: should Redis stop
    // answering right here, Ctrl-C still ends the process.
    await queuesReady(queues.chunks, queues.workflows);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const claim = async (runId: string): Promise<void> => { producer.presence ??= await attachProducer(settings.databaseUrl, runId, logger); };
    const run = await start({ db, logger, claim });
    startedRun = run.id;
    resumeHint = flags.resumeHint ?? resumeCommand(run.id, run.queue);
    let status = run.status;
    // A producer that died (SIGKILL, a lost host) left its event 'running' for good: this one takes over from it.
    if (run.status !== 'completed') {
      await closeInterruptedPhases(db, run.id);
      phaseEvent = await startPhase(db, 'migrate', { runId: run.id, preparationId: run.preparationId });
    }
    const finish = async (code: number, error: string | null, summary: Record<string, unknown>): Promise<number> => {
      if (phaseEvent !== null) await finishPhase(db, phaseEvent, code === 0 ? 'passed' : 'failed', { summary, error });
      return code;
    };
    if (run.status !== 'completed') {
      const mode = flags.json ? 'json' : !flags.progress ? 'none' : process.stderr.isTTY ? 'bars' : 'lines';
      // Under the bars, the local workers (which write to this terminal) say only what needs the operator:
      // their info lines would tear the bars. --no-progress shows them all.
      if (flags.workers > 0) workers = spawnWorkers(flags.workers, mode === 'bars' ? { ...settings, logLevel: atLeastWarn(settings.logLevel) } : settings);
      const display = await createProgressDisplay(mode, run.id);
      const outcome = await driveRun(db, queues, { id: run.id, queueToken: run.queueToken, withWorkflows: run.options.workflows !== undefined }, logger, {
        maxWaitingJobs: settings.maxWaitingJobs, attempts: settings.attempts, backoffMs: settings.backoffMs,
        onProgress: (p) => display.update(p), signal: interrupted.signal,
      }).finally(() => display.stop());
      status = outcome.status;
      if (outcome.status === 'failed') process.stderr.write(`Run ${run.id} failed: ${outcome.error}\n${nextStepAfterFailure(run.id, resumeHint, outcome.error)}\n`);
      if (outcome.status === 'rolled_back') {
        process.stderr.write(`Run ${run.id} was rolled back while it ran (taskfleet rollback): this producer stops, and workers drop the jobs it left in the queue.\n`
          + `To migrate the data again: taskfleet migrate --legacy-data ${run.legacyDir}\n`);
      }
      // Stopped before the summary, so that it is the last thing the command prints, not the workers'
      // goodbyes (after the failure line: a drain can take as long as the jobs still running).
      await workers?.stop();
      workers = null;
    }
    const summary = await runSummary(db, run.id);
    const totalRejected = summary.reduce((n, k) => n + k.rejected, 0);
    const limit = flags.maxRejects ?? run.options.maxRejects;
    const breach = rejectLimitBreach(summary, limit);
    const balanced = isBalanced(summary);
    const workflows = run.options.workflows ? await workflowRunSummary(db, run.id) : null;
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ event: 'summary', runId: run.id, status, balanced, rejected: totalRejected, maxRejects: limit, kinds: summary, workflows })}\n`);
    } else {
      const note = status === 'rolled_back' ? ' (the counts are what it had migrated before the rollback removed it)' : '';
      process.stdout.write(`Run ${run.id}: ${status}${note}\n${formatSummaryLines(summary).join('\n')}\n${workflows ? `${formatWorkflowsLine(workflows)}\n` : ''}`);
    }
    const phaseSummary = { status, balanced, rejected: totalRejected, kinds: summary, workflows };
    if (status !== 'completed') return await finish(1, `run ${status}`, phaseSummary);
    if (!balanced) {
      process.stderr.write('Accounting error: legacy != migrated + rejected for some kind (see above)\n');
      return await finish(1, 'legacy != migrated + rejected', phaseSummary);
    }
    if (breach) {
      process.stderr.write(`${describeBreach(run.id, breach)}\n`);
      return await finish(3, `${breach.rejected} rejects > --max-rejects ${breach.limit}`, phaseSummary);
    }
    return await finish(0, null, phaseSummary);
  } catch (err) {
    const stopped = interrupted.signal.aborted && startedRun !== null;
    const lost = !stopped && startedRun !== null && lostQueueConnection(err);
    const error = stopped
      ? new Error(`interrupted: run ${startedRun} is left where it stopped (its queued jobs stay; workers elsewhere go on with them). Finish it with: ${resumeHint}`)
      : lost
        ? new Error(`lost the connection to the queues (${(err as Error).message}): run ${startedRun} is left where it stopped; once they answer again, finish it with: ${resumeHint}`, { cause: err })
        : err;
    // The phase ends with the command, however it ends (status would show it running for good).
    if (phaseEvent !== null) await finishPhase(db, phaseEvent, 'failed', { summary: {}, error: (error as Error).message }).catch(() => undefined);
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await producer.presence?.detach();
    await workers?.stop();
    await closeQueue(queues.chunks);
    await closeQueue(queues.workflows);
    await db.end().catch(() => undefined);
    exitWhenDone();
  }
}

