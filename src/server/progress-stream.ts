// The live progress stream (Server-Sent Events) of a run. Workers NOTIFY `taskfleet_progress` with the
// run id whenever a chunk or workflow finishes (src/ledger/runs.ts notifyProgress); one LISTEN connection
// per server, held only while someone follows a run, wakes the streams of that run. A periodic poll is
// the fallback (a status change such as "completed" is not notified, and notifications are lost while
// the LISTEN connection reconnects). Every event carries a report computed from the ledger, never state
// kept here.
//
// Events: `progress` on connect and whenever the counts, the status or a phase change; `end` once the run
// is completed, failed or rolled back and the phase that ended it has closed (or not within
// phaseCloseWaitMs), with the final report, after which the server closes the stream;
// a `: heartbeat` comment line keeps proxies from timing the connection out.
import type { Request, Response } from 'express';
import type pg from 'pg';
import { FINAL_RUN_STATUSES, progressReport, type ProgressReport } from '../ledger/progress-report.js';
import { findRun } from '../ledger/runs.js';
import type { RecordedPhase } from '../lifecycle/phase-events.js';
import type { Logger } from '../logger.js';
import type { Pool } from '../store/pool.js';

export const PROGRESS_CHANNEL = 'taskfleet_progress';

export interface ProgressStreamOptions {
  /** Fallback poll of the ledger (default 2000 ms). */
  pollMs?: number;
  /** Comment line sent this often when nothing else is (default 15000 ms). */
  heartbeatMs?: number;
  /** At most one report per stream this often, however many notifications arrive (default 250 ms). */
  minIntervalMs?: number;
  /**
   * How long after a run ends the `end` event waits for the phase that ended it to close (default
   * 30000 ms). Its producer marks the run final first and closes the phase's row after (it stops its
   * local workers and writes the summary in between); a producer killed in that gap never closes it.
   */
  phaseCloseWaitMs?: number;
}

/** The phase whose row a final run status is followed by (the producer closes it after the run's status). */
const CLOSING_PHASE: Record<string, RecordedPhase> = { completed: 'migrate', failed: 'migrate', rolled_back: 'rollback' };

/** Whether the phase that ended the run is still open, and may yet close: then the end event waits. */
function phaseStillClosing(report: ProgressReport, deadline: number): boolean {
  const phase = CLOSING_PHASE[report.status];
  return Date.now() < deadline && report.phases.some((p) => p.phase === phase && p.status === 'running');
}

/** Wakes the followers of a run when its progress is notified. One LISTEN connection, only while followed. */
export class ProgressNotifications {
  private readonly followers = new Map<string, Set<() => void>>();
  private client: pg.PoolClient | null = null;
  private connecting: Promise<void> | null = null;

  constructor(private readonly db: Pool, private readonly logger: Logger) {}

  follow(runId: string, wake: () => void): () => void {
    let set = this.followers.get(runId);
    if (!set) { set = new Set(); this.followers.set(runId, set); }
    set.add(wake);
    this.ensureListening();
    return () => {
      set.delete(wake);
      if (set.size === 0) this.followers.delete(runId);
      if (this.followers.size === 0) this.release();
    };
  }

  /** Connects the LISTEN session when someone follows and none is open (also after it was lost). */
  ensureListening(): void {
    if (this.client || this.connecting || this.followers.size === 0) return;
    this.connecting = (async () => {
      const client = await this.db.connect();
      const lost = (err?: Error) => {
        if (this.client !== client) return;
        this.logger.warn({ err: err?.message }, 'Lost the progress notification connection; polling until it is back');
        this.client = null;
        client.release(err ?? true);
      };
      client.on('notification', (msg) => {
        if (msg.channel !== PROGRESS_CHANNEL || msg.payload === undefined) return;
        for (const wake of this.followers.get(msg.payload) ?? []) wake();
      });
      client.on('error', lost);
      client.on('end', () => lost());
      try {
        await client.query(`LISTEN ${PROGRESS_CHANNEL}`);
      } catch (err) {
        client.release(err as Error);
        throw err;
      }
      this.client = client;
      if (this.followers.size === 0) this.release();
    })().catch((err: unknown) => {
      this.logger.warn({ err: (err as Error).message }, `Cannot listen for progress notifications: ${(err as Error).message}`);
    }).finally(() => { this.connecting = null; });
  }

  /** Closes the LISTEN session: destroyed, not returned to the pool, so no listener or LISTEN lingers on a pooled client. */
  private release(): void {
    const client = this.client;
    if (!client) return;
    this.client = null;
    client.release(true);
  }
}

/** The part of a report that says whether anything happened (rates and ETAs move by themselves). */
function changeKey(r: ProgressReport): string {
  return JSON.stringify([r.status, r.producerAttached, r.stage, r.stages.map((s) => s.ledger), r.phases.map((p) => p.status)]);
}

/** Streams one run's progress to one client until the run ends or the client goes away. */
export async function streamRunProgress(req: Request, res: Response, ctx: { db: Pool; logger: Logger; notifications: ProgressNotifications; runId: string },
  opts: ProgressStreamOptions = {}): Promise<void> {
  const pollMs = opts.pollMs ?? 2000;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const minIntervalMs = opts.minIntervalMs ?? 250;
  const phaseCloseWaitMs = opts.phaseCloseWaitMs ?? 30_000;
  const { db, logger, runId } = ctx;

  res.status(200).set({
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx and friends would otherwise buffer the stream.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  res.write('retry: 3000\n\n');

  let closed = false;
  let eventId = 0;
  let lastKey = '';
  let running = false;
  let again = false;
  let lastRefresh = 0;
  let throttle: NodeJS.Timeout | undefined;
  let closeDeadline: number | undefined;

  const send = (event: string, data: unknown) => {
    if (closed) return;
    eventId += 1;
    res.write(`id: ${eventId}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };

  const refresh = async (): Promise<void> => {
    if (closed) return;
    if (running) { again = true; return; }
    const wait = lastRefresh + minIntervalMs - Date.now();
    if (wait > 0) {
      throttle ??= setTimeout(() => { throttle = undefined; void refresh(); }, wait);
      return;
    }
    running = true;
    lastRefresh = Date.now();
    try {
      const run = await findRun(db, runId);
      if (!run) { send('error', { error: `Run ${runId} is no longer in the ledger` }); finish(); return; }
      const report = await progressReport(db, run);
      const key = changeKey(report);
      if (key !== lastKey) { lastKey = key; send('progress', report); }
      if (FINAL_RUN_STATUSES.includes(report.status)) {
        // Bounded by when the run ended too: a stream opened long after ends at once on a phase left open.
        const endedAt = report.finishedAt ? new Date(report.finishedAt).getTime() : Date.now();
        closeDeadline ??= Math.min(Date.now(), endedAt) + phaseCloseWaitMs;
        if (phaseStillClosing(report, closeDeadline)) {
          // Phase rows are not notified: look again soon.
          throttle ??= setTimeout(() => { throttle = undefined; void refresh(); }, minIntervalMs);
        } else {
          send('end', report);
          finish();
        }
      }
    } catch (err) {
      // The ledger is unreachable for a moment: say so, keep the stream, the next poll tries again.
      logger.warn({ runId, err: (err as Error).message }, `Cannot read the progress of run ${runId}: ${(err as Error).message}`);
      send('unavailable', { error: (err as Error).message });
    } finally {
      running = false;
    }
    if (again && !closed) { again = false; await refresh(); }
  };

  const stopFollowing = ctx.notifications.follow(runId, () => { void refresh(); });
  const poll = setInterval(() => { ctx.notifications.ensureListening(); void refresh(); }, pollMs);
  const heartbeat = setInterval(() => { if (!closed) res.write(': heartbeat\n\n'); }, heartbeatMs);

  function cleanUp(): void {
    if (closed) return;
    closed = true;
    clearInterval(poll);
    clearInterval(heartbeat);
    clearTimeout(throttle);
    stopFollowing();
  }
  function finish(): void {
    cleanUp();
    res.end();
  }
  req.on('close', cleanUp);
  res.on('close', cleanUp);
  await refresh();
}
