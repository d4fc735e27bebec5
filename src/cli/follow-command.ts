// `taskfleet follow RUN --server URL`: the progress bars of `taskfleet migrate`, drawn from a remote
// operations server's live stream (GET /api/runs/RUN/events, Server-Sent Events) instead of the ledger.
// Exits 0 when the run completed, 1 when it failed (or was rolled back), 2 when the server refuses, 3 when
// it completed with more rejects than its --max-rejects (as migrate does).
import { type Command, Option } from 'commander';
import { ConfigError } from '../config/errors.js';
import type { ProgressReport } from '../ledger/progress-report.js';
import { describeBreach } from '../ledger/reject-limit.js';
import { describeNoProducer } from '../producers/producer-presence.js';
import { formatSummaryLines } from '../ledger/summary.js';
import { createProgressDisplay, type ProgressDisplay } from './progress-display.js';
import { requireOptions } from './common-options.js';

interface FollowFlags {
  server: string;
  token?: string;
  json?: boolean;
  progress: boolean;
}

/** Reconnects after a dropped stream (a server restart) this many times in a row before giving up. */
const RECONNECTS = 10;
const RECONNECT_DELAY_MS = 2000;

export interface ServerEvent {
  event: string;
  data: string;
}

/** Splits a Server-Sent Events byte stream into events (comments and retry/id lines are skipped). */
export async function* serverEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length > 0) yield { event, data: data.join('\n') };
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** Follows the run until its `end` event; returns the final report. */
async function followStream(url: string, flags: FollowFlags, display: ProgressDisplay): Promise<ProgressReport> {
  let failures = 0;
  let producerGone = false;
  for (;;) {
    let response: Response;
    try {
      response = await fetch(url, { headers: { accept: 'text/event-stream', ...(flags.token ? { authorization: `Bearer ${flags.token}` } : {}) } });
    } catch (err) {
      // fetch says only "fetch failed": the reason (ECONNREFUSED, ENOTFOUND, …) is its cause.
      const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      // Exit 2, not 1: 1 says the run failed, and nothing is known of the run.
      if (++failures > RECONNECTS) throw new ConfigError(`Cannot reach the server at ${flags.server}: ${why}`, { cause: err });
      display.log(`Cannot reach the server at ${flags.server} (${why}); trying again (${failures}/${RECONNECTS})`);
      await new Promise((r) => setTimeout(r, RECONNECT_DELAY_MS));
      continue;
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      let message = text;
      try { message = (JSON.parse(text) as { error?: string }).error ?? text; } catch { /* not JSON: keep the text */ }
      if (response.status === 401 || response.status === 403) throw new ConfigError(`The server refused access (${response.status}): ${message || 'pass a valid --token'}`);
      if (response.status === 404) throw new ConfigError(message || `No such run on ${flags.server}`);
      if (response.status >= 500 && ++failures <= RECONNECTS) { await new Promise((r) => setTimeout(r, RECONNECT_DELAY_MS)); continue; }
      throw new ConfigError(`The server answered ${response.status}: ${message}`);
    }
    if (!response.body) throw new ConfigError('The server sent no event stream');
    try {
      for await (const ev of serverEvents(response.body)) {
        failures = 0;
        if (ev.event === 'progress' || ev.event === 'end') {
          const report = JSON.parse(ev.data) as ProgressReport;
          display.update(report.stages.map((s) => s.ledger));
          // Said once each time it turns so: the run waits for a resume, which this command cannot do.
          if (report.producerAttached === false && !producerGone) display.log(`Run ${report.runId} has no producer: ${describeNoProducer(report.runId)}`);
          producerGone = report.producerAttached === false;
          if (ev.event === 'end') return report;
        } else if (ev.event === 'error') {
          throw new ConfigError((JSON.parse(ev.data) as { error: string }).error);
        }
      }
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      // A dropped connection: reconnect below.
    }
    if (++failures > RECONNECTS) throw new ConfigError(`The stream from ${flags.server} kept dropping before the run ended`);
    await new Promise((r) => setTimeout(r, RECONNECT_DELAY_MS));
  }
}

export function registerFollowCommand(program: Command): void {
  program.command('follow')
    .description('Show a run\'s progress bars from a remote `taskfleet server` (its live stream); exit 0 when the run completes, 1 when it fails, 3 when it completed with more rejects than its --max-rejects')
    .argument('<run>', 'the run id')
    .option('--server <url>', 'the operations server, e.g. http://ops.example:8080 (required)')
    .hook('preAction', requireOptions('server'))
    .addOption(new Option('--token <token>', 'API token for the server (sent as a Bearer token)').env('TASKFLEET_TOKEN'))
    .option('--json', 'progress events and the summary as JSON lines on stdout (like migrate --json)')
    .option('--no-progress', 'no progress display, only the summary')
    .action(async (runId: string, flags: FollowFlags) => {
      let base: URL;
      try {
        base = new URL(flags.server);
      } catch {
        throw new ConfigError(`--server must be a URL such as http://127.0.0.1:8080, got ${flags.server}`);
      }
      const url = new URL(`api/runs/${encodeURIComponent(runId)}/events`, base.href.endsWith('/') ? base : `${base.href}/`).href;
      const mode = flags.json ? 'json' : !flags.progress ? 'none' : process.stderr.isTTY ? 'bars' : 'lines';
      const display = await createProgressDisplay(mode, runId);
      const report = await followStream(url, flags, display).finally(() => display.stop());
      // A server older than the field sends none.
      const breach = report.overRejectLimit ?? null;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ event: 'summary', runId: report.runId, status: report.status, kinds: report.summary, overRejectLimit: breach })}\n`);
      } else {
        process.stdout.write(`Run ${report.runId}: ${report.status}\n${formatSummaryLines(report.summary).join('\n')}\n`);
        if (report.error) process.stderr.write(`Run ${report.runId} failed: ${report.error}\n`);
      }
      if (breach) process.stderr.write(`${describeBreach(report.runId, breach)}\n`);
      process.exitCode = report.status !== 'completed' ? 1 : breach ? 3 : 0;
    });
}
