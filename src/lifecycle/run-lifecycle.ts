// `taskfleet run`: the whole operator lifecycle, prepare → migrate → verify → optimize → decommission
// (or the phases asked for, always in that order). Each phase is the very `taskfleet <phase>` command an
// operator could run by hand, started as a child process: its JSON result drives the next step, its log
// lines land in the logs directory, and the first phase that fails or is refused stops the run.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { PACKAGE_ROOT } from '../config/package-root.js';
import { inheritedEnvironment } from '../config/settings.js';
import type { StageProgress } from '../ledger/chunks.js';
import { createProgressDisplay } from '../cli/progress-display.js';
import { WORKER_NODE_FLAGS } from '../cli/spawn-workers.js';
import { legacyDirectoryPath } from '../legacy/files.js';
import { createPool } from '../store/pool.js';
import { prepareDatabase } from '../store/database.js';
import { runDryRun, type DryRunForecast } from './dry-run.js';
import { loadWorkflowRunOptions } from '../producers/workflow-options.js';
import { PHASES, type Phase } from './phase-events.js';
import { openLifecycleRecords, type LifecycleRecords, type PhaseStats } from './records.js';
import { validateLegacyData } from '../validation/validate-legacy-data.js';
import { makeDirectorySync } from '../make-directory.js';
import { counted } from '../counted.js';
import { SignalRelay, signalExitCode } from './signal-relay.js';

/** Reject reasons a dry run prints per kind (the report has them all). */
const REASONS_PER_KIND = 5;

export interface LifecycleOptions {
  phases: readonly Phase[];
  dryRun: boolean;
  legacyDir: string;
  databaseUrl: string;
  backupDir: string;
  idMappingFile: string;
  verificationReport: string;
  validationReport: string;
  optimizeReport: string;
  dryRunReport: string;
  archiveDir: string;
  logsDir: string;
  runId?: string;
  mappingFile?: string;
  /** Workflow templates and Dagger settings handed to the phase commands (absent: the package's config/). */
  templatesDir?: string;
  daggerConfig?: string;
  /** migrate --no-cache: execute on-migrate workflows even when an earlier run's result is cached. */
  noCache?: boolean;
  /** verify --thresholds and --max-samples. */
  thresholds?: string;
  maxSamples?: number;
  mapping: LegacyMapping;
  maxRejects?: number;
  skipPrepare: boolean;
  workers: number;
  concurrency: number;
  chunkSize: number;
  chunkMaxBytes: number;
  logLevel: string;
  /** Every setting of `run`, as environment variables for its phase commands (settingsEnvironment): no URL on their command lines. */
  settingsEnv: Readonly<Record<string, string>>;
  progress: 'bars' | 'lines' | 'none';
  say: (line: string) => void;
}

export interface LifecycleResult {
  exitCode: number;
  runId: string | null;
  phases: PhaseStats[];
}

interface PhaseCommandResult {
  code: number;
  /** The last JSON object the command printed on stdout (its summary). */
  result: Record<string, unknown> | null;
  stderrTail: string;
}

const BIN = join(PACKAGE_ROOT, 'bin', 'taskfleet.js');
/** Signals to a real run reach the phase command running (see SignalRelay). */
const relay = new SignalRelay();

/** The warnings of one phase command the console shows; the log file has them all. */
const CONSOLE_WARNINGS = 20;
const WARNING_LINE = /^\{"level":"(?:warn|error|fatal)"/;

/**
 * A phase command's log line at warn or above, as one line for the console, or null. Its stderr goes to
 * a log file: without this, a warning that asks for the operator (no worker for the queue, a worker on
 * another database) reached nobody while the progress stood still (`kubectl logs` shows only the console).
 */
function consoleWarning(phase: string, line: string): string | null {
  // pino writes the level first: most lines (info) are passed over without parsing them.
  if (!WARNING_LINE.test(line)) return null;
  try {
    const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
    if (entry.level !== 'warn' && entry.level !== 'error' && entry.level !== 'fatal') return null;
    return `  ! ${phase} ${entry.level}: ${typeof entry.msg === 'string' ? entry.msg : line}`;
  } catch {
    return null;
  }
}

/**
 * Runs one phase command; its stderr (pino JSON lines) goes to `log`, and its warnings to `warn` too (at
 * most CONSOLE_WARNINGS); its stdout JSON is parsed.
 */
async function runPhaseCommand(args: readonly string[], opts: LifecycleOptions, log: NodeJS.WritableStream,
  onEvent?: (event: Record<string, unknown>) => void, warn: (line: string) => void = opts.say): Promise<PhaseCommandResult> {
  // Phase commands log to files, not the console: at info or finer, like the lifecycle's own records.
  const level = opts.logLevel === 'debug' || opts.logLevel === 'trace' ? opts.logLevel : 'info';
  const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, BIN, ...args, '--log-level', level], {
    env: { ...inheritedEnvironment(), ...opts.settingsEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  relay.track(child);
  let result: Record<string, unknown> | null = null;
  let stderrTail = '';
  child.stderr.on('data', (d: Buffer) => {
    log.write(d);
    stderrTail += d.toString();
    // Whole lines only: a JSON log line cut in half would pass for the command's error message.
    if (stderrTail.length > 8000) {
      const cut = stderrTail.slice(-4000);
      stderrTail = cut.slice(cut.indexOf('\n') + 1);
    }
  });
  let warnings = 0;
  createInterface({ input: child.stderr }).on('line', (line) => {
    const warning = consoleWarning(args[0]!, line);
    if (warning === null) return;
    if (++warnings <= CONSOLE_WARNINGS) warn(warning);
    else if (warnings === CONSOLE_WARNINGS + 1) warn(`  ! ${args[0]!}: more warnings in ${'path' in log ? String(log.path) : 'its log'}`);
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (!line.startsWith('{')) return;
    try {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (event.event === 'progress' || event.event === 'note') onEvent?.(event);
      // A command's error line repeats its stderr message, which errorLine() reads: not a result.
      else if (event.event !== 'error') result = event;
    } catch { /* not JSON: ignore */ }
  });
  const code = await new Promise<number>((done) => child.on('close', (c, signal) => {
    // Killed by a signal it does not handle (verify, optimize, …): no error line of its own.
    if (signal) stderrTail += `\nstopped by ${signal}`;
    done(c ?? 1);
  }));
  relay.track(null);
  return { code, result, stderrTail };
}

/** The last line of a command's stderr that is not a JSON log line: its one-line error message. */
function errorLine(stderrTail: string): string {
  const lines = stderrTail.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('{'));
  return lines.at(-1)?.replace(/^taskfleet: /, '') ?? 'failed (see the logs)';
}

async function latestRunOf(databaseUrl: string, legacyDir: string): Promise<string | null> {
  const db = createPool(databaseUrl, 1);
  try {
    const { rows: [row] } = await db.query<{ id: string }>(
      `SELECT id FROM ledger.runs WHERE legacy_dir = $1 AND status <> 'rolled_back' ORDER BY created_at DESC LIMIT 1`, [await legacyDirectoryPath(legacyDir)]);
    return row?.id ?? null;
  } finally {
    await db.end();
  }
}

function writeJson(path: string, value: unknown): void {
  makeDirectorySync(dirname(resolve(path)));
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

async function dryRun(opts: LifecycleOptions, records: LifecycleRecords): Promise<LifecycleResult> {
  const phases: PhaseStats[] = [];
  const stamp = (phase: string, started: Date, outcome: PhaseStats['outcome'], extra: Partial<PhaseStats> = {}): PhaseStats => {
    const finished = new Date();
    const stats: PhaseStats = { phase, outcome, startedAt: started.toISOString(), finishedAt: finished.toISOString(), durationSeconds: (finished.getTime() - started.getTime()) / 1000, ...extra };
    phases.push(stats);
    records.recordPhase(stats);
    return stats;
  };
  let validation: Awaited<ReturnType<typeof validateLegacyData>> | null = null;
  if (opts.phases.includes('prepare')) {
    const started = new Date();
    opts.say('Dry run · prepare: validating the legacy data (no backup, no ledger record)');
    validation = await validateLegacyData(opts.legacyDir, opts.mapping, {});
    records.test.info({ phase: 'prepare', dryRun: true, errors: validation.errors, warnings: validation.warnings }, 'Dry run: validation');
    // The same gate a real prepare applies: would it pass?
    const wouldPass = validation.unreadableFiles === 0 && validation.errors <= (opts.maxRejects ?? 0);
    if (!wouldPass) opts.say(`  a real prepare would fail: ${validation.errors} blocking errors (--max-rejects ${opts.maxRejects ?? 0})`);
    stamp('prepare', started, wouldPass ? 'passed' : 'failed', { counts: { errors: validation.errors, warnings: validation.warnings }, rejects: validation.errors, note: 'dry run: validated only' });
  }
  let forecast: DryRunForecast | null = null;
  if (opts.phases.includes('migrate')) {
    const started = new Date();
    opts.say('Dry run · migrate: rehearsing every chunk in a scratch database (dropped afterwards)');
    forecast = await runDryRun({
      databaseUrl: opts.databaseUrl, legacyDir: opts.legacyDir, runId: opts.runId, mapping: opts.mapping, chunkSize: opts.chunkSize,
      chunkMaxBytes: opts.chunkMaxBytes, concurrency: Math.max(1, Math.min(opts.concurrency, 4)), logger: records.test,
      workflows: loadWorkflowRunOptions({ templatesDir: opts.templatesDir, daggerConfig: opts.daggerConfig, noCache: opts.noCache ?? false }),
    });
    records.setRun(forecast.runId);
    records.test.info({ phase: 'migrate', dryRun: true, forecast }, 'Dry run: forecast');
    // The gate a real migrate applies at its end: more rejects than --max-rejects fails it.
    const rejected = forecast.kinds.reduce((n, k) => n + k.rejected, 0);
    const migratePasses = opts.maxRejects === undefined || rejected <= opts.maxRejects;
    if (!migratePasses) opts.say(`  a real migrate would fail: ${counted(rejected, 'record')} rejected (--max-rejects ${opts.maxRejects})`);
    stamp('migrate', started, migratePasses ? 'passed' : 'failed', { counts: { kinds: forecast.kinds, tables: forecast.tables }, rejects: rejected, throughput: forecast.records / Math.max(forecast.rehearsalSeconds, 0.001), note: 'dry run: rehearsed in a scratch database' });
  }
  for (const phase of opts.phases.filter((p) => p !== 'prepare' && p !== 'migrate')) {
    stamp(phase, new Date(), 'skipped', { note: 'not rehearsed by a dry run (it would change nothing to check)' });
  }
  const report = { dryRun: true, legacyDir: resolve(opts.legacyDir), generatedAt: new Date().toISOString(), validation: validation && { errors: validation.errors, warnings: validation.warnings, perKind: validation.perKind, errorsByClass: validation.errorsByClass, warningsByClass: validation.warningsByClass }, forecast, phases };
  writeJson(opts.dryRunReport, report);
  if (forecast) {
    opts.say(`Dry run of ${forecast.runId}${forecast.alreadyCompleted ? ' (already completed in the ledger: a real migrate would do nothing)' : ''}:`);
    for (const k of forecast.kinds) opts.say(`  ${k.kind.padEnd(18)} legacy ${k.legacy}  would migrate ${k.migrated}  would reject ${k.rejected}`);
    for (const t of forecast.tables) opts.say(`  tms.${t.table.padEnd(18)} inserts ${t.inserts}  updates ${t.updates}`);
    // The commonest reasons of every kind (a bounded list), and how many more the report holds.
    const perKind = new Map<string, number>();
    const shown = forecast.rejectsByReason.filter((r) => {
      const n = (perKind.get(r.kind) ?? 0) + 1;
      perKind.set(r.kind, n);
      return n <= REASONS_PER_KIND;
    });
    for (const r of shown) opts.say(`  reject ${r.kind}${r.field ? `.${r.field}` : ''}: ${r.reason} × ${r.count}`);
    const more = forecast.rejectsByReason.length - shown.length;
    if (more > 0) opts.say(`  … ${more} more reject reasons in ${resolve(opts.dryRunReport)}`);
    opts.say(`  estimated duration ≈ ${forecast.estimatedSeconds.toFixed(1)} s (the rehearsal did the same work)`);
  }
  opts.say(`Dry run report: ${resolve(opts.dryRunReport)}. Nothing was changed.`);
  // The exit code a real run would give at its gates (a script can rehearse before it commits to a run).
  const wouldFail = phases.some((p) => p.outcome === 'failed');
  if (wouldFail) opts.say('A real run would stop at the phase marked failed above (exit 1).');
  return { exitCode: wouldFail ? 1 : 0, runId: forecast?.runId ?? null, phases };
}

export async function runLifecycle(opts: LifecycleOptions): Promise<LifecycleResult> {
  // The lifecycle's own records are kept at info or finer whatever the console's level: they are the audit trail.
  const records = openLifecycleRecords(opts.logsDir, { level: opts.logLevel === 'debug' || opts.logLevel === 'trace' ? opts.logLevel : 'info', dryRun: opts.dryRun });
  const log = records.execution;
  log.info({ phases: opts.phases, dryRun: opts.dryRun, legacyDir: resolve(opts.legacyDir) }, 'Lifecycle started');
  try {
    await prepareDatabase(opts.databaseUrl);
    if (opts.dryRun) return await dryRun(opts, records);
    return await realRun(opts, records);
  } finally {
    log.info('Lifecycle ended');
    await records.close();
  }
}

async function realRun(opts: LifecycleOptions, records: LifecycleRecords): Promise<LifecycleResult> {
  relay.listen();
  try {
    return await realPhases(opts, records);
  } finally {
    relay.close();
  }
}

async function realPhases(opts: LifecycleOptions, records: LifecycleRecords): Promise<LifecycleResult> {
  const log = records.execution;
  const phases: PhaseStats[] = [];
  let runId: string | null = opts.runId ?? null;
  let idMappingWritten = false;
  const ordered = PHASES.filter((p) => opts.phases.includes(p));
  for (const phase of ordered) {
    // A signal heard between two phases: the next one does not start.
    const heard = relay.heard();
    if (heard) {
      opts.say(`Stopped by ${heard}: ${ordered.slice(ordered.indexOf(phase)).join(', ')} not run`);
      return { exitCode: signalExitCode(heard), runId, phases };
    }
    const started = new Date();
    log.info({ phase, runId }, `Phase ${phase} started`);
    opts.say(`▶ ${phase}`);
    const needsRun = phase !== 'prepare' && phase !== 'migrate' && phase !== 'optimize';
    if (needsRun && runId === null) runId = await latestRunOf(opts.databaseUrl, opts.legacyDir);
    let outcome: PhaseCommandResult;
    let extra: Partial<PhaseStats> = {};
    if (needsRun && runId === null) {
      outcome = { code: 2, result: null, stderrTail: `no migration run of ${resolve(opts.legacyDir)} in the ledger: run the migrate phase first` };
    } else if (phase === 'prepare') {
      outcome = await runPhaseCommand(['prepare', '--legacy-data', opts.legacyDir, '--backup', opts.backupDir, '--validation-report', opts.validationReport,
        ...(opts.mappingFile ? ['--mapping', opts.mappingFile] : []), ...(opts.maxRejects !== undefined ? ['--max-rejects', String(opts.maxRejects)] : []),
        ...(opts.templatesDir ? ['--templates-dir', opts.templatesDir] : []), ...(opts.daggerConfig ? ['--dagger-config', opts.daggerConfig] : []), '--json'], opts, records.migrationStream);
      const r = outcome.result ?? {};
      extra = { counts: r, rejects: typeof r.errors === 'number' ? r.errors : undefined };
    } else if (phase === 'migrate') {
      const display = await createProgressDisplay(opts.progress, opts.runId ?? 'run');
      let plannedRunId: string | null = null;
      outcome = await runPhaseCommand(['migrate', '--legacy-data', opts.legacyDir, '--workers', String(opts.workers), '--concurrency', String(opts.concurrency),
        '--chunk-size', String(opts.chunkSize),
        ...(opts.runId ? ['--run-id', opts.runId] : []), ...(opts.mappingFile ? ['--mapping', opts.mappingFile] : []),
        ...(opts.maxRejects !== undefined ? ['--max-rejects', String(opts.maxRejects)] : []), ...(opts.skipPrepare ? ['--skip-prepare'] : []),
        ...(opts.templatesDir ? ['--templates-dir', opts.templatesDir] : []), ...(opts.daggerConfig ? ['--dagger-config', opts.daggerConfig] : []),
        ...(opts.noCache ? ['--no-cache'] : []), '--json'],
      opts, records.migrationStream, (event) => {
        if (typeof event.runId === 'string') plannedRunId = event.runId;
        if (event.event === 'progress') display.update(event.stages as StageProgress[]);
      }, (line) => display.log(line));
      display.stop();
      const r = outcome.result ?? {};
      // An interrupted migrate prints no summary: its progress lines named the run it planned (to resume or roll back).
      const migrated = typeof r.runId === 'string' ? r.runId : plannedRunId;
      if (migrated !== null) { runId = migrated; records.setRun(runId); }
      const kinds = Array.isArray(r.kinds) ? r.kinds as { migrated: number }[] : [];
      const seconds = (Date.now() - started.getTime()) / 1000;
      extra = { counts: { kinds: r.kinds, status: r.status }, rejects: typeof r.rejected === 'number' ? r.rejected : undefined, throughput: Math.round(kinds.reduce((n, k) => n + k.migrated, 0) / Math.max(seconds, 0.001)) };
      if (outcome.code === 0 && runId) idMappingWritten = await exportIdMapping(runId, opts, records, outcome);
    } else if (phase === 'verify') {
      outcome = await runPhaseCommand(['verify', runId!, '--verification-report', opts.verificationReport,
        ...(opts.thresholds ? ['--thresholds', opts.thresholds] : []), ...(opts.maxSamples !== undefined ? ['--max-samples', String(opts.maxSamples)] : []), '--json'],
      opts, records.testStream);
      extra = { counts: outcome.result ?? {} };
      // verify fails by its checks, not with an error line: say which failed.
      const checks = Array.isArray(outcome.result?.checks) ? outcome.result.checks as { name: string; status: string }[] : [];
      const failed = checks.filter((c) => c.status === 'failed').map((c) => c.name);
      if (outcome.code === 1 && failed.length > 0) {
        outcome.stderrTail += `\n${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.join(', ')} (see ${resolve(opts.verificationReport)})`;
      }
      records.test.info({ phase: 'verify', runId, exitCode: outcome.code, result: outcome.result }, `Verification ${outcome.code === 0 ? 'passed' : 'failed'}`);
      if (!idMappingWritten && outcome.code === 0) idMappingWritten = await exportIdMapping(runId!, opts, records, outcome);
    } else if (phase === 'optimize') {
      outcome = await runPhaseCommand(['optimize', '--optimize-report', opts.optimizeReport, ...(runId ? ['--run-id', runId] : []), '--json'], opts, records.migrationStream);
      extra = { counts: outcome.result ?? {} };
    } else {
      outcome = await runPhaseCommand(['decommission', runId!, '--archive', opts.archiveDir, '--json'], opts, records.migrationStream);
      extra = { counts: outcome.result ?? {} };
    }
    const finished = new Date();
    const signal = relay.heard();
    // A phase that was interrupted failed, even one that finished before it heard the signal.
    const result: PhaseStats['outcome'] = outcome.code === 0 && !signal ? 'passed' : outcome.code === 2 && !signal ? 'refused' : 'failed';
    const stats: PhaseStats = { phase, outcome: result, startedAt: started.toISOString(), finishedAt: finished.toISOString(), durationSeconds: (finished.getTime() - started.getTime()) / 1000, ...extra };
    if (result !== 'passed') stats.error = errorLine(outcome.stderrTail);
    phases.push(stats);
    records.recordPhase(stats);
    log.info({ phase, runId, outcome: result, seconds: stats.durationSeconds, error: stats.error }, `Phase ${phase} ${result}`);
    opts.say(`${result === 'passed' ? '✔' : '✘'} ${phase} ${result} in ${stats.durationSeconds.toFixed(1)} s${stats.error ? `: ${stats.error}` : ''}`);
    if (result !== 'passed' && signal) {
      opts.say(`Stopped by ${signal}${phase === ordered.at(-1) ? '' : `: ${ordered.slice(ordered.indexOf(phase) + 1).join(', ')} not run`}`);
      return { exitCode: signalExitCode(signal), runId, phases };
    }
    if (result !== 'passed') return { exitCode: outcome.code === 2 ? 2 : outcome.code || 1, runId, phases };
  }
  return { exitCode: 0, runId, phases };
}

async function exportIdMapping(runId: string, opts: LifecycleOptions, records: LifecycleRecords, phase: PhaseCommandResult): Promise<boolean> {
  const out = await runPhaseCommand(['id-mapping', runId, '--out', opts.idMappingFile], opts, records.migrationStream);
  if (out.code !== 0) {
    phase.code = out.code;
    phase.stderrTail += `\nID mapping export failed: ${errorLine(out.stderrTail)}`;
    return false;
  }
  return true;
}
