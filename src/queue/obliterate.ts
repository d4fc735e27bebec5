// Test and clean-up helper: remove queues and every job in them.
import { createQueue } from './queue.js';
import type { QueueTransport } from './transport.js';

/** Deletes the named queues with all their jobs, even active ones. Workers on them should be closed first. */
export async function obliterateQueues(transport: QueueTransport, names: string[]): Promise<void> {
  for (const name of names) {
    const queue = createQueue<unknown>(name, transport);
    try {
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
  }
}
