// The progress API (mounted at /api): the runs in the ledger, one run's progress per stage and per
// lifecycle phase, its rejects page by page, and its live stream (progress-stream.ts). Everything is read
// from the ledger on each request, so the answers survive a server restart. Parameters are validated
// with zod: a malformed one is a 400 naming it, an unknown run a 404, both as JSON `{ error }`.
import { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { progressReport } from '../ledger/progress-report.js';
import { countRejects, listRejects } from '../ledger/rejects.js';
import { findRun, listRuns, RUN_ID_PATTERN, type Run } from '../ledger/runs.js';
import { LEGACY_KINDS } from '../legacy/kinds.js';
import { ProgressNotifications, streamRunProgress, type ProgressStreamOptions } from './progress-stream.js';
import type { ServerDeps } from './server-deps.js';

export const MAX_REJECTS_PAGE = 1000;
const DEFAULT_REJECTS_PAGE = 100;

const runIdParam = z.string().regex(RUN_ID_PATTERN, 'a run id is 1 to 64 letters, digits, _ or -');

const wholeNumber = (name: string) => z.string()
  .regex(/^\d+$/, `${name} must be a whole number`)
  .transform(Number);

const rejectsQuery = z.strictObject({
  limit: wholeNumber('limit').pipe(z.number().min(1, 'limit must be at least 1').max(MAX_REJECTS_PAGE, `limit must be at most ${MAX_REJECTS_PAGE}`)).optional(),
  offset: wholeNumber('offset').pipe(z.number().max(Number.MAX_SAFE_INTEGER, 'offset is too large')).optional(),
  kind: z.enum(LEGACY_KINDS, { error: `kind must be one of ${LEGACY_KINDS.join(', ')}` }).optional(),
}, { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown parameter ${issue.keys.join(', ')} (known: limit, offset, kind)` : undefined) });

/** An answer the client caused: sent as `{ error }` with its status. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function firstIssue(error: z.ZodError, where: string): string {
  const issue = error.issues[0];
  if (!issue) return `invalid ${where}`;
  const field = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  // Query values arrive as strings or arrays: a repeated parameter gets a clear word of its own.
  if (issue.code === 'invalid_type' && issue.path.length > 0) return `${issue.path.join('.')} must be given once, as a single value`;
  return `${field}${issue.message}`;
}

/** An async route whose errors go to the router's error handler. */
function route(fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => { fn(req, res).catch(next); };
}

function publicRun(run: Run) {
  return {
    id: run.id, status: run.status, stage: run.stage, error: run.error, legacyDir: run.legacyDir,
    createdAt: run.createdAt, startedAt: run.startedAt, finishedAt: run.finishedAt,
    preparationId: run.preparationId, rolledBackAt: run.rolledBackAt, decommissionedAt: run.decommissionedAt,
    workflows: run.options.workflows !== undefined,
  };
}

export function progressRouter(deps: ServerDeps, streamOptions: ProgressStreamOptions = {}): Router {
  const router = Router();
  const notifications = new ProgressNotifications(deps.db, deps.logger);

  async function runOf(req: Request): Promise<Run> {
    const id = runIdParam.safeParse(req.params.id);
    if (!id.success) throw new HttpError(400, `run id: ${firstIssue(id.error, 'run id')}`);
    const run = await findRun(deps.db, id.data);
    if (!run) throw new HttpError(404, `Run ${id.data} is not in the ledger`);
    return run;
  }

  router.get('/runs', route(async (_req, res) => {
    const runs = await listRuns(deps.db);
    res.json({ runs: runs.map(publicRun) });
  }));

  router.get('/runs/:id', route(async (req, res) => {
    const run = await runOf(req);
    res.json({ run: publicRun(run), ...(await progressReport(deps.db, run)) });
  }));

  router.get('/runs/:id/rejects', route(async (req, res) => {
    const run = await runOf(req);
    const query = rejectsQuery.safeParse(req.query);
    if (!query.success) throw new HttpError(400, firstIssue(query.error, 'query'));
    const { limit = DEFAULT_REJECTS_PAGE, offset = 0, kind } = query.data;
    const [total, rejects] = await Promise.all([
      countRejects(deps.db, run.id, kind),
      listRejects(deps.db, run.id, { kind, limit, offset }),
    ]);
    res.json({ runId: run.id, kind: kind ?? null, limit, offset, total, rejects });
  }));

  router.get('/runs/:id/events', route(async (req, res) => {
    const run = await runOf(req);
    await streamRunProgress(req, res, { db: deps.db, logger: deps.logger, notifications, runId: run.id }, streamOptions);
  }));

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) { next(err); return; }
    if (err instanceof HttpError) { res.status(err.status).json({ error: err.message }); return; }
    // The client's own mistakes that Express finds (a malformed %-escape in the path) are not the ledger's.
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) { next(err); return; }
    deps.logger.error({ err: (err as Error).message }, `Progress API request failed: ${(err as Error).message}`);
    res.status(503).json({ error: `The ledger cannot be read right now: ${(err as Error).message}` });
  });
  return router;
}
