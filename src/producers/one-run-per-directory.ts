// One run of a legacy directory in flight at a time. Two runs of the same dump writing at once each take
// a record's rows back from the other, so the later of two duplicate records can win: the
// earliest-declaration rule (claim-rows) holds within a run, not between runs. A new run, or a run
// started again, is refused while another run of its directory is running.
import { ConfigError } from '../config/errors.js';
import type { Pool, PoolClient } from '../store/pool.js';
import { whileHoldingSessionLock } from '../store/session-lock.js';

/** Refuses when a run of `legacyDir` other than `runId` is running. */
async function refuseIfDirectoryBusy(db: Pool | PoolClient, legacyDir: string, runId: string): Promise<void> {
  const { rows: [other] } = await db.query<{ id: string; started_at: Date | null }>(
    `SELECT id, started_at FROM ledger.runs WHERE legacy_dir = $1 AND status = 'running' AND id <> $2 ORDER BY created_at LIMIT 1`, [legacyDir, runId]);
  if (!other) return;
  throw new ConfigError(`Run ${other.id} of the same legacy data (${legacyDir}) is still running${other.started_at ? ` (started ${other.started_at.toISOString()})` : ''}: `
    + `two runs of one directory at once can keep the later of two duplicate records. Let it finish (taskfleet status ${other.id}); `
    + `if its producer died, finish it first with taskfleet resume ${other.id}, or undo it with taskfleet rollback --run-id ${other.id} --force`);
}

/**
 * Holds the directory's lock while `plan` runs, once no other run of the directory is running. Planning
 * is the window the ledger cannot show (the new run is not 'running' yet): with the lock, two migrates or
 * resumes starting the same directory at once cannot both pass the check; the second is refused at once.
 */
export async function whilePlanningAlone<T>(db: Pool, legacyDir: string, runId: string, plan: () => Promise<T>): Promise<T> {
  const busy = () => new ConfigError(`Another migrate or resume is starting a run of ${legacyDir} right now: wait for it (taskfleet status), then run this one again if it is still needed`);
  return whileHoldingSessionLock(db, 'dir', legacyDir, busy, async (client) => {
    await refuseIfDirectoryBusy(client, legacyDir, runId);
    return plan();
  });
}
