// The operations server's probes: /healthz answers while the process lives; /readyz answers 200 only
// when the ledger's Postgres and the queue's datastore both answer within a short timeout, else 503
// with what failed (for load balancers and orchestrators; the workers have the same in health-server.ts).
import { Router } from 'express';
import { ensureTransportReady } from '../queue/index.js';
import type { ServerDeps } from './server-deps.js';

/** A probe that takes longer than this counts as a failure: readiness must answer fast. */
export const READY_TIMEOUT_MS = 2000;

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ReadyCheck {
  ok: boolean;
  error?: string;
}

export async function readiness(deps: ServerDeps, timeoutMs = READY_TIMEOUT_MS): Promise<{ ready: boolean; checks: Record<string, ReadyCheck> }> {
  const probe = async (work: () => Promise<unknown>, what: string): Promise<ReadyCheck> => {
    try {
      await withTimeout(work(), timeoutMs, what);
      return { ok: true };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  };
  const [postgres, queue] = await Promise.all([
    probe(() => deps.db.query('SELECT 1'), 'Postgres'),
    probe(() => ensureTransportReady(deps.transport, timeoutMs), deps.transport.kind === 'redis' ? 'Redis' : 'the queue\'s Postgres'),
  ]);
  return { ready: postgres.ok && queue.ok, checks: { postgres, [deps.transport.kind === 'redis' ? 'redis' : 'queue']: queue } };
}

export function healthRouter(deps: ServerDeps, opts: { timeoutMs?: number } = {}): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res, next) => {
    readiness(deps, opts.timeoutMs).then(({ ready, checks }) => {
      res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
    }, next);
  });
  return router;
}
