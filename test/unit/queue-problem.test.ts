// queueProblem: what a queue or worker 'error' event is said to be in the log; queueProblemLog: how often.
import { describe, expect, it } from 'vitest';
import { ReplyError } from 'ioredis';
import { lostQueueConnection, queueProblem } from '../../src/queue/errors.js';
import { queueProblemLog } from '../../src/queue/problem-log.js';

describe('queueProblem', () => {
  it('a job whose keys vanished (a flushed Redis) is named as such, not as a connection problem', () => {
    expect(queueProblem(new Error('Missing key for job 12. moveToFinished'))).toMatch(/^A job vanished from the queue \(Redis flushed, or its keys deleted\?\); the producer re-adds missing jobs from the ledger/);
    expect(queueProblem(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe('Queue connection problem: connect ECONNREFUSED 127.0.0.1:6379');
  });
});

describe('queueProblemLog', () => {
  function setUp() {
    const lines: { fields: Record<string, unknown>; msg: string }[] = [];
    let clock = 0;
    const log = queueProblemLog({ warn: ((fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg })) as never }, { intervalMs: 30_000, now: () => clock });
    return { lines, log, advance: (ms: number) => { clock += ms; } };
  }
  const refused = new Error('connect ECONNREFUSED 127.0.0.1:6379');

  it('logs a problem when first seen, then its repeats at most once per interval, with their count', () => {
    const { lines, log, advance } = setUp();
    for (let i = 0; i < 120; i++) { log(refused); advance(250); } // 30 s of an outage, four a second
    log(refused);
    expect(lines.map((l) => l.msg)).toEqual([
      'Queue connection problem: connect ECONNREFUSED 127.0.0.1:6379',
      'Queue connection problem: connect ECONNREFUSED 127.0.0.1:6379 (again, and 119 more times in the last 30 s)',
    ]);
    expect(lines[1]!.fields).toEqual({ err: refused.message, repeats: 119 });
  });

  it('logs another problem at once, and a problem seen once long ago plainly', () => {
    const { lines, log, advance } = setUp();
    log(refused);
    log(new Error('Missing key for job 7. moveToFinished'));
    advance(60_000);
    log(refused);
    expect(lines.map((l) => l.msg)).toEqual([
      'Queue connection problem: connect ECONNREFUSED 127.0.0.1:6379',
      expect.stringMatching(/^A job vanished from the queue/),
      'Queue connection problem: connect ECONNREFUSED 127.0.0.1:6379',
    ]);
  });
});

describe('lostQueueConnection', () => {
  // Built as ioredis 6 builds them: a node's reply is a ReplyError; giving up on redirections is a plain Error
  // whose message embeds the last one (cluster/index.js handleError); a failed slots refresh is a
  // ClusterAllFailedError carrying lastNodeError.
  const ReplyErrorClass = ReplyError as new (message: string) => Error;
  const reply = (message: string): Error => new ReplyErrorClass(message);
  const redirections = (last: Error): Error => new Error(`Too many Cluster redirections. Last error: ${String(last)}`);

  it('counts a Redis Cluster failover or outage as a lost queue connection', () => {
    const shapes: Error[] = [
      reply('CLUSTERDOWN The cluster is down'),
      reply('MOVED 3999 127.0.0.1:7002'),
      reply('TRYAGAIN Multiple keys request during rehashing of slot'),
      redirections(new Error('Connection is closed.')),
      redirections(reply('CLUSTERDOWN The cluster is down')),
      new Error("Cluster isn't ready and enableOfflineQueue options is false"),
      Object.assign(new Error('Failed to refresh slots cache.'), { name: 'ClusterAllFailedError', lastNodeError: new Error('connect ECONNREFUSED 127.0.0.1:7001') }),
      new Error('None of startup nodes is available'),
    ];
    for (const err of shapes) expect(lostQueueConnection(err), err.message).toBe(true);
  });

  it('still counts the single-Redis shapes, and not a job problem or a script error', () => {
    expect(lostQueueConnection(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe(true);
    expect(lostQueueConnection(new Error('Missing key for job 12. moveToFinished'))).toBe(false);
    expect(lostQueueConnection(reply('ERR Error running script (call to f_1234): @user_script:1: oops'))).toBe(false);
    expect(lostQueueConnection(reply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
  });
});
