// Shows a run's progress: a bar per stage on a terminal (done/total records, rate, ETA), a line every
// few seconds when output is not a terminal, or JSON lines with --json.
import type cliProgressModule from 'cli-progress';
import type { StageProgress } from '../ledger/chunks.js';
import { RUN_STAGES, type RunStage } from '../legacy/kinds.js';
import { divertLogLines } from '../logger.js';

export interface ProgressDisplay {
  update(progress: StageProgress[]): void;
  /** A line for the operator (a warning): above the bars while they are drawn, else on stderr. */
  log(line: string): void;
  stop(): void;
}

const withNewline = (line: string): string => (line.endsWith('\n') ? line : `${line}\n`);
const toStderr = (line: string): void => { process.stderr.write(withNewline(line)); };

const LINE_EVERY_MS = 5000;

export async function createProgressDisplay(mode: 'bars' | 'lines' | 'json' | 'none', runId: string): Promise<ProgressDisplay> {
  if (mode === 'none') return { update: () => undefined, log: toStderr, stop: () => undefined };
  if (mode === 'json') {
    return {
      update: (progress) => process.stdout.write(`${JSON.stringify({ event: 'progress', runId, at: new Date().toISOString(), stages: progress })}\n`),
      log: toStderr,
      stop: () => undefined,
    };
  }
  // dependency_cycles is one job; workflows counts workflow runs (src/ledger/progress.ts).
  const unit = (p: StageProgress) => (p.stage === 'dependency_cycles' || p.stage === 'workflows' ? p.chunks : p.records);
  const doneOf = (p: StageProgress) => (p.stage === 'dependency_cycles' || p.stage === 'workflows' ? p.done : p.doneRecords);
  // A stage's rate runs from the last moment it had nothing done to the moment it finished.
  const timings = new Map<RunStage, { idleUntil: number; finishedAt: number | null }>();
  const rateOf = (p: StageProgress): { rate: number; eta: string } => {
    const now = Date.now();
    const t = timings.get(p.stage) ?? { idleUntil: now, finishedAt: null };
    timings.set(p.stage, t);
    const done = doneOf(p);
    const total = unit(p);
    if (done === 0) t.idleUntil = now;
    if (done === total && total > 0) t.finishedAt ??= now;
    const seconds = ((t.finishedAt ?? now) - t.idleUntil) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const left = total - done;
    return { rate, eta: left === 0 ? '0s' : rate > 0 ? `${Math.ceil(left / rate)}s` : '?' };
  };

  if (mode === 'lines') {
    let last = 0;
    let lastLine = '';
    let latest = '';
    const print = (line: string) => {
      last = Date.now();
      lastLine = line;
      process.stderr.write(`[${runId}] ${line}\n`);
    };
    return {
      update(progress) {
        latest = RUN_STAGES.map((stage) => progress.find((p) => p.stage === stage))
          .filter((p): p is StageProgress => p !== undefined)
          .map((p) => `${p.stage} ${doneOf(p)}/${unit(p)}`).join(' | ');
        if (latest !== lastLine && Date.now() - last >= LINE_EVERY_MS) print(latest);
      },
      log: toStderr,
      // The last state too, however soon after the previous line: a short run showed only its start.
      stop: () => { if (latest !== '' && latest !== lastLine) print(latest); },
    };
  }

  // Loaded only for a terminal: the producer stays lean otherwise.
  const { default: cliProgress } = await import('cli-progress');
  const multibar = new cliProgress.MultiBar({
    format: '{stage} |{bar}| {value}/{total} {unit} | {rate}/s | ETA {etaText}',
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  const bars = new Map<RunStage, cliProgressModule.SingleBar>();
  // Lines written to stderr while the bars are drawn would tear them: the process's log lines, and the
  // display's own, go above the bars (printed at their next redraw) until stop().
  const log = (line: string): void => {
    if (multibar.isActive) multibar.log(withNewline(line));
    else toStderr(line);
  };
  divertLogLines(log);
  return {
    update(progress) {
      for (const p of progress) {
        const { rate, eta } = rateOf(p);
        const payload = { stage: p.stage.padEnd(17), rate: Math.round(rate), etaText: eta, unit: p.stage === 'dependency_cycles' ? 'job' : p.stage === 'workflows' ? 'workflows' : 'records' };
        let bar = bars.get(p.stage);
        if (!bar) { bar = multibar.create(unit(p), doneOf(p), payload); bars.set(p.stage, bar); }
        bar.setTotal(unit(p));
        bar.update(doneOf(p), payload);
      }
    },
    log,
    stop: () => {
      // A redraw first: it prints the lines still waiting above the bars (stop() alone would drop them).
      if (multibar.isActive) multibar.update();
      multibar.stop();
      divertLogLines(null);
    },
  };
}
