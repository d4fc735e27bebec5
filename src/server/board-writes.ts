// Which of Bull Board's write endpoints a role may call. The list mirrors @bull-board/api 9.10.1's
// routes (dist/routes.js) in its order, with Express's matching (case-insensitive, an optional trailing
// slash), so a path is classified as the endpoint Bull Board would actually run: first match wins.
// Operators and admins may retry, pause, resume and clean; nothing else the board offers is allowed to
// anyone, because it bypasses the ledger: an added job writes rows no run planned, edited data changes a
// payload the workers trust, and emptying, obliterating, promoting or removing unfinished jobs drops or
// reorders chunks a run is waiting for (`taskfleet resume` and rollback are the ledger-safe tools).
import type { Role } from './server-deps.js';

export type BoardWrite =
  | 'pause-all' | 'resume-all' | 'pause' | 'resume' | 'retry-all' | 'retry' | 'clean-all' | 'clean'
  | 'add' | 'promote-all' | 'promote' | 'concurrency' | 'rate-limit' | 'rate-limit-release' | 'empty' | 'obliterate'
  | 'job-scheduler' | 'update-data' | 'delay' | 'priority' | 'remove-unprocessed-children' | 'metrics-history-purge';

export interface ClassifiedWrite {
  endpoint: BoardWrite;
  queue?: string;
  jobId?: string;
  status?: string;
}

const SEG = '([^/]+)';
const ROUTES: [method: string, path: string, endpoint: BoardWrite, params: (keyof ClassifiedWrite)[]][] = [
  ['POST', '/api/metrics/history/purge', 'metrics-history-purge', []],
  ['PUT', '/api/queues/pause', 'pause-all', []],
  ['PUT', '/api/queues/resume', 'resume-all', []],
  ['POST', `/api/queues/${SEG}/add`, 'add', ['queue']],
  ['PUT', `/api/queues/${SEG}/retry/${SEG}`, 'retry-all', ['queue', 'status']],
  ['PUT', `/api/queues/${SEG}/promote`, 'promote-all', ['queue']],
  ['PUT', `/api/queues/${SEG}/clean/${SEG}`, 'clean-all', ['queue', 'status']],
  ['PUT', `/api/queues/${SEG}/pause`, 'pause', ['queue']],
  ['PUT', `/api/queues/${SEG}/resume`, 'resume', ['queue']],
  ['PUT', `/api/queues/${SEG}/concurrency`, 'concurrency', ['queue']],
  ['PUT', `/api/queues/${SEG}/rate-limit`, 'rate-limit', ['queue']],
  ['PUT', `/api/queues/${SEG}/rate-limit/release`, 'rate-limit-release', ['queue']],
  ['PUT', `/api/queues/${SEG}/empty`, 'empty', ['queue']],
  ['PUT', `/api/queues/${SEG}/obliterate`, 'obliterate', ['queue']],
  ['PUT', `/api/queues/${SEG}/job-schedulers/${SEG}/remove`, 'job-scheduler', ['queue']],
  ['PATCH', `/api/queues/${SEG}/job-schedulers/${SEG}`, 'job-scheduler', ['queue']],
  ['PUT', `/api/queues/${SEG}/job-schedulers/${SEG}/run`, 'job-scheduler', ['queue']],
  ['PUT', `/api/queues/${SEG}/${SEG}/retry`, 'retry', ['queue', 'jobId']],
  ['PUT', `/api/queues/${SEG}/${SEG}/clean`, 'clean', ['queue', 'jobId']],
  ['PUT', `/api/queues/${SEG}/${SEG}/promote`, 'promote', ['queue', 'jobId']],
  ['PATCH', `/api/queues/${SEG}/${SEG}/update-data`, 'update-data', ['queue', 'jobId']],
  ['PATCH', `/api/queues/${SEG}/${SEG}/delay`, 'delay', ['queue', 'jobId']],
  ['PATCH', `/api/queues/${SEG}/${SEG}/priority`, 'priority', ['queue', 'jobId']],
  ['PUT', `/api/queues/${SEG}/${SEG}/remove-unprocessed-children`, 'remove-unprocessed-children', ['queue', 'jobId']],
];
const MATCHERS = ROUTES.map(([method, path, endpoint, params]) => ({ method, pattern: new RegExp(`^${path}/?$`, 'i'), endpoint, params }));

const decode = (s: string): string => {
  try { return decodeURIComponent(s); } catch { return s; }
};

/** The Bull Board endpoint a write request reaches (path relative to the board), or null for none of them. */
export function classifyBoardWrite(method: string, path: string): ClassifiedWrite | null {
  for (const m of MATCHERS) {
    if (m.method !== method) continue;
    const match = m.pattern.exec(path);
    if (!match) continue;
    const found: ClassifiedWrite = { endpoint: m.endpoint };
    m.params.forEach((name, i) => { if (name !== 'endpoint') found[name] = decode(match[i + 1]!); });
    return found;
  }
  return null;
}

/** The board writes operators and admins may make (the README's "retry, pause, resume and clean"). */
export const OPERATOR_BOARD_WRITES: readonly BoardWrite[] = ['pause-all', 'resume-all', 'pause', 'resume', 'retry-all', 'retry', 'clean-all', 'clean'];

/** Only finished jobs are cleaned: a waiting, delayed or active chunk is one its run still waits for. */
export const CLEANABLE_STATES: readonly string[] = ['completed', 'failed'];

export type BoardWriteDecision = { allowed: true } | { allowed: false; reason: string };

/** Whether `role` may make this write; job states (for a single clean) are checked by the caller. */
export function mayWrite(role: Role, write: ClassifiedWrite | null): BoardWriteDecision {
  if (role === 'viewer') return { allowed: false, reason: 'the board is read-only for a viewer; retry, pause, resume and clean need the operator role' };
  if (write === null || !OPERATOR_BOARD_WRITES.includes(write.endpoint)) {
    return { allowed: false, reason: `the board allows retry, pause, resume and clean only${write ? ` (not ${write.endpoint})` : ''}, for every role: other changes bypass the migration ledger` };
  }
  if (write.endpoint === 'clean-all' && !CLEANABLE_STATES.includes(write.status ?? '')) {
    return { allowed: false, reason: `only completed or failed jobs are cleaned, not ${write.status ?? '?'} ones: the run still waits for those` };
  }
  return { allowed: true };
}
