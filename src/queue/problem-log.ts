// The log of a queue's 'error' events. While Redis is down every connection of a process reports every
// reconnect attempt (four lines a second from one worker): each distinct problem is logged when first
// seen, and its repeats at most once per interval, with how many there were.
import type { Logger } from '../logger.js';
import { queueProblem } from './errors.js';

export const REPEAT_INTERVAL_MS = 30_000;
/** Distinct problems remembered (a vanished job's message names the job): beyond this, the stale ones go. */
const REMEMBERED = 100;

interface Seen { loggedAt: number; repeats: number }

/** An onError handler for queues and workers that logs through `logger` without flooding it. */
export function queueProblemLog(logger: Pick<Logger, 'warn'>, opts: { intervalMs?: number; now?: () => number } = {}): (err: Error) => void {
  const intervalMs = opts.intervalMs ?? REPEAT_INTERVAL_MS;
  const now = opts.now ?? Date.now;
  const seen = new Map<string, Seen>();
  return (err) => {
    const message = queueProblem(err);
    const at = now();
    const last = seen.get(message);
    if (last && at - last.loggedAt < intervalMs) {
      last.repeats++;
      return;
    }
    if (!last && seen.size >= REMEMBERED) {
      for (const [key, entry] of seen) if (at - entry.loggedAt >= intervalMs) seen.delete(key);
    }
    seen.set(message, { loggedAt: at, repeats: 0 });
    if (last && last.repeats > 0) {
      const seconds = Math.round((at - last.loggedAt) / 1000);
      logger.warn({ err: err.message, repeats: last.repeats }, `${message} (again, and ${last.repeats} more time${last.repeats === 1 ? '' : 's'} in the last ${seconds} s)`);
    } else {
      logger.warn({ err: err.message }, message);
    }
  };
}
