// A job failure that retrying cannot fix (the file changed, the run is unknown). The worker wiring
// turns it into BullMQ's UnrecoverableError and records it on the chunk; every other error retries.
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}
