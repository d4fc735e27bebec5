// A command that is done exits, even when a queue client goes on reconnecting to a Redis that is gone
// (BullMQ's close() leaves it so): one second to flush the output, then the process ends with the exit
// code set. The timer keeps nothing alive: a process with nothing left to do has ended before.

export function exitWhenDone(): void {
  setTimeout(() => process.exit(), 1000).unref();
}
