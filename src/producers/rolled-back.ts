// A run rolled back under its producer (`taskfleet rollback --force` of a running run): the producer
// stops driving it. Its loops check between rounds; workers drop the jobs it left in the queue.
import { runStatusOf } from '../ledger/runs.js';
import type { Pool } from '../store/pool.js';

export class RunRolledBack extends Error {
  override name = 'RunRolledBack';
  constructor(readonly runId: string) {
    super(`Run ${runId} was rolled back while it ran (taskfleet rollback)`);
  }
}

/** Throws RunRolledBack once the run's rollback has committed. */
export async function stopIfRolledBack(db: Pool, runId: string): Promise<void> {
  if (await runStatusOf(db, runId) === 'rolled_back') throw new RunRolledBack(runId);
}
