// queueProblem: what a queue or worker 'error' event is said to be in the log.
import { describe, expect, it } from 'vitest';
import { queueProblem } from '../../src/queue/errors.js';

describe('queueProblem', () => {
  it('a job whose keys vanished (a flushed Redis) is named as such, not as a connection problem', () => {
    expect(queueProblem(new Error('Missing key for job 12. moveToFinished'))).toMatch(/^A job vanished from the queue \(Redis flushed, or its keys deleted\?\); the producer re-adds missing jobs from the ledger/);
    expect(queueProblem(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe('Queue connection problem: connect ECONNREFUSED 127.0.0.1:6379');
  });
});
