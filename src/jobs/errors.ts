// A job failure that retrying cannot fix (the file changed, the run is unknown). The worker wiring
// turns it into BullMQ's UnrecoverableError and records it on the chunk; every other error retries.
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

/**
 * A job whose run or chunk this worker's database does not hold: most likely the worker is connected
 * to another database than the producer (same queue, other DATABASE_URL). The producer recognises the
 * wording (NOT_IN_LEDGER) to say so instead of re-adding the jobs in silence.
 */
export const NOT_IN_LEDGER = 'is not in this worker\'s ledger';
export function notInLedger(what: string): string {
  return `${what} ${NOT_IN_LEDGER}: is this worker connected to the run's database (the producer's DATABASE_URL)?`;
}
