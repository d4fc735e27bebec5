// The operations server's Express app, composed in the order that keeps it safe:
//   1. probes (/healthz, /readyz: unauthenticated, they say ok or not ready and nothing else)
//   2. the audit recorder (sees every request below it, whatever its outcome)
//   3. login, refresh, logout (unauthenticated by nature; logins rate limited)
//   4. /metrics: any authenticated user, or the static scrape token TASKFLEET_METRICS_TOKEN
//   5. authentication for everything else: Bull Board (by role), the progress API, the audit log and
//      the lifecycle API (admin)
//   6. 404 and the error handler (JSON messages, never a stack)
import { createHash, timingSafeEqual } from 'node:crypto';
import cookieParser from 'cookie-parser';
import express, { type RequestHandler } from 'express';
import { z } from 'zod';
import { findRun, RUN_ID_PATTERN } from '../ledger/runs.js';
import { runDecommission } from '../lifecycle/decommission.js';
import { GateError } from '../lifecycle/phase-events.js';
import { runRollback } from '../lifecycle/rollback.js';
import { auditRouter, noteAudit, type AuditLog } from './audit.js';
import type { AuthSettings } from './auth/auth-settings.js';
import { authRouter } from './auth/auth-routes.js';
import { authenticate, bearerToken, requireRole } from './auth/authenticate.js';
import { BOARD_PATH, boardRouter } from './board.js';
import { BODY_LIMIT, errorHandler, HttpError, notFound } from './error-handler.js';
import { healthRouter } from './health-routes.js';
import { metricsHandler } from './metrics.js';
import { progressRouter } from './progress-routes.js';
import type { ServerDeps } from './server-deps.js';

export interface AppOptions {
  /** null: --no-auth (every request runs as local-admin; the server binds to loopback only). */
  auth: AuthSettings | null;
  /** TASKFLEET_METRICS_TOKEN: a bearer token that opens /metrics and nothing else. */
  metricsToken: string | null;
  audit: AuditLog;
  /** Express's `trust proxy` (to take the client address from X-Forwarded-For behind a proxy). */
  trustProxy?: boolean | number | string;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Opens /metrics to the scrape token; anything else falls through to normal authentication. */
function metricsTokenGate(token: string | null, otherwise: RequestHandler): RequestHandler {
  const expected = token ? sha256(token) : null;
  return (req, res, next) => {
    const presented = bearerToken(req);
    if (expected && presented && timingSafeEqual(sha256(presented), expected)) {
      res.locals.principal = { username: 'metrics-scraper', role: 'viewer' };
      res.locals.authMethod = 'metrics-token';
      next();
      return;
    }
    otherwise(req, res, next);
  };
}

const securityHeaders: RequestHandler = (req, res, next) => {
  res.set({ 'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer' });
  if (!req.path.startsWith(`${BOARD_PATH}/static`)) res.set('Cache-Control', 'no-store');
  next();
};

/** Our endpoints take JSON (and, for the login form, urlencoded); any other body is refused. */
const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is(['application/json', 'application/x-www-form-urlencoded'])) {
    next(new HttpError(415, 'The request body must be JSON (Content-Type: application/json)'));
    return;
  }
  next();
};

// ---- the lifecycle API (admin): rollback and decommission of a run, as `taskfleet rollback/decommission` do ----

const runIdParam = z.string().regex(RUN_ID_PATTERN, 'a run id is 1 to 64 letters, digits, _ or -');
const rollbackBody = z.strictObject({
  dryRun: z.boolean({ error: 'dryRun must be true or false' }).optional(),
  force: z.boolean({ error: 'force must be true or false' }).optional(),
}, { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')} (known: dryRun, force)` : 'the body must be a JSON object') });
const decommissionBody = z.strictObject({
  archiveDir: z.string({ error: 'archiveDir (the directory the archive goes to) is required, as a string' })
    .min(1, 'archiveDir must not be empty').max(4096, 'archiveDir is too long').refine((s) => !s.includes('\0'), 'archiveDir must not contain NUL'),
}, { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')} (known: archiveDir)` : 'the body must be a JSON object with archiveDir') });

async function knownRun(deps: ServerDeps, id: unknown): Promise<string> {
  const parsed = runIdParam.safeParse(id);
  if (!parsed.success) throw new HttpError(400, `run id: ${parsed.error.issues[0]!.message}`);
  if (!(await findRun(deps.db, parsed.data))) throw new HttpError(404, `Run ${parsed.data} is not in the ledger`);
  return parsed.data;
}

/** Lifecycle failures other than refused gates are the operator's business: their message, not a stack. */
function lifecycleFailure(phase: string, runId: string, err: unknown): Error {
  if (err instanceof GateError || err instanceof HttpError) return err;
  return new HttpError(500, `The ${phase} of run ${runId} failed: ${(err as Error).message}`);
}

export function lifecycleRouter(deps: ServerDeps): express.Router {
  const router = express.Router();
  router.post('/runs/:id/rollback', requireRole('admin'), async (req, res) => {
    const runId = await knownRun(deps, req.params.id);
    const body = rollbackBody.parse(req.body ?? {});
    const dryRun = body.dryRun ?? false;
    const force = body.force ?? false;
    noteAudit(res, { details: { runId, dryRun, force } });
    const logger = deps.logger.child({ runId, by: res.locals.principal?.username });
    try {
      const result = await runRollback(deps.db, { runId, dryRun, force, logger });
      noteAudit(res, { details: { deleted: Object.fromEntries((dryRun ? result.plan.deletes : result.deleted).map((d) => [d.table, d.rows])), restored: result.restored.length, refusals: result.plan.refusals.map((r) => r.reason) } });
      res.json(result);
    } catch (err) {
      noteAudit(res, { details: { error: (err as Error).message } });
      throw lifecycleFailure('rollback', runId, err);
    }
  });
  router.post('/runs/:id/decommission', requireRole('admin'), async (req, res) => {
    const runId = await knownRun(deps, req.params.id);
    const { archiveDir } = decommissionBody.parse(req.body ?? undefined);
    noteAudit(res, { details: { runId, archiveDir } });
    const logger = deps.logger.child({ runId, by: res.locals.principal?.username });
    try {
      const result = await runDecommission(deps.db, { runId, archiveDir, logger });
      noteAudit(res, { details: { archive: result.archivePath, alreadyDone: result.alreadyDone } });
      res.json(result);
    } catch (err) {
      noteAudit(res, { details: { error: (err as Error).message } });
      throw lifecycleFailure('decommission', runId, err);
    }
  });
  return router;
}

export function createApp(deps: ServerDeps, opts: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', opts.trustProxy ?? false);
  app.use(securityHeaders);

  app.use(healthRouter(deps));

  app.use(cookieParser());
  app.use(opts.audit.middleware());
  app.use('/auth', requireJsonBody, express.json({ limit: BODY_LIMIT }), express.urlencoded({ extended: false, limit: BODY_LIMIT, parameterLimit: 20 }));

  if (opts.auth) {
    app.use(authRouter({ db: deps.db, logger: deps.logger, auth: opts.auth }));
  } else {
    app.get(['/login', '/logout'], (_req, res) => res.redirect(303, BOARD_PATH));
    app.use('/auth', (_req, res) => { res.status(404).json({ error: 'Authentication is off (the server was started with --no-auth)' }); });
  }

  const auth = authenticate(opts.auth);
  app.get('/metrics', metricsTokenGate(opts.metricsToken, auth), metricsHandler(deps));

  app.use(auth);
  // Bodies are read only once the sender is known (Bull Board parses its own).
  app.use('/api', requireJsonBody, express.json({ limit: BODY_LIMIT }));
  app.get('/', (_req, res) => res.redirect(303, BOARD_PATH));
  app.use(BOARD_PATH, boardRouter(deps.queues, deps.transport));
  app.use('/api', progressRouter(deps));
  app.use('/api', auditRouter(opts.audit));
  app.use('/api', lifecycleRouter(deps));

  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
