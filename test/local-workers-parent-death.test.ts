// The workers `taskfleet migrate --workers N` starts end with it, however it ends: killed with SIGKILL
// (or by a second Ctrl-C before it could stop them), it leaves no worker running unattended under init —
// each notices its channel to migrate closing, finishes its active jobs and exits (found by the secrets
// probe: a second SIGINT to `run` left both workers running, and `run` waiting on their output for good).
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { connectionArgs, startCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { useGeneratedDumps } from './helpers/generated-dumps.js';

const dumps = useGeneratedDumps('local-workers-death', { legacy: { projects: 20, phasesPerProject: 4, tasks: 20_000, format: 'jsonl', seed: 61 } });

/** The pids of a process's children whose command line holds `word`. */
function childrenRunning(parent: number, word: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(parent) && cmdline.includes(word)) pids.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Running, not gone and not a zombie (an orphan's exit status waits for whatever reaps it). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

describe('local workers of migrate', () => {
  it('stop when their migrate is killed with SIGKILL, instead of living on under init', async () => {
    const migrate = startCli(['migrate', '--legacy-data', dumps.dir('legacy'), '--skip-prepare', '--workers', '2', '--chunk-size', '200', '--no-progress',
      ...connectionArgs(dumps.db, dumps.prefix)], { timeoutMs: 180_000 });
    let workers: number[] = [];
    try {
      await waitFor(async () => {
        const { rows } = await dumps.db.pool.query(`SELECT 1 FROM ledger.chunks WHERE stage = 'tasks' AND status = 'done' OFFSET 2`).catch(() => ({ rows: [] }));
        return rows.length > 0;
      }, 'three task chunks', 120_000);
      workers = childrenRunning(migrate.child.pid!, 'worker');
      expect(workers).toHaveLength(2);
      migrate.child.kill('SIGKILL');
      await migrate.result;
      await waitFor(() => Promise.resolve(workers.every((pid) => !alive(pid))), 'both workers to exit once their migrate is gone', 60_000);
    } finally {
      for (const pid of workers) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    // They drained: no chunk is left claimed by a worker that is gone (each active one finished).
    const { rows: [open] } = await dumps.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger.chunks WHERE status NOT IN ('pending', 'done')`);
    expect(open!.n).toBe(0);
  }, 240_000);
});
