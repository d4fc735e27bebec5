// The audit log (ops.audit_log): every login (good or bad), every mutating request — ours and Bull
// Board's retry/pause/clean — and every lifecycle phase started through the API, with who, what, when,
// from where and the outcome. Rows are written when the response has been sent, so the status is known;
// close() waits for the writes still in flight. `GET /api/audit` (admin) reads them back, newest first.
import express, { type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import type { Pool } from '../store/pool.js';
import { requireRole } from './auth/authenticate.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** What a handler adds to its request's audit row. */
      audit?: AuditNote;
    }
  }
}

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditNote {
  /** Overrides the action derived from method and path. */
  action?: string;
  /** Who, when no principal is authenticated (the username a failed login tried). */
  username?: string;
  details?: Record<string, unknown>;
  /** Overrides the outcome derived from the status. */
  outcome?: AuditOutcome;
}

export interface AuditEntry {
  username: string | null;
  role: string | null;
  action: string;
  method: string;
  path: string;
  ip: string | null;
  status: number | null;
  outcome: AuditOutcome;
  details?: Record<string, unknown> | null;
}

export interface AuditRow extends AuditEntry {
  id: number;
  at: Date;
}

/** Names for the requests we know (the board's are Bull Board's own routes); anything else is `request`. */
export function actionOf(method: string, path: string): string {
  const p = path.replace(/\/+$/, '');
  const fixed: Record<string, string> = { '/auth/login': 'auth.login', '/auth/refresh': 'auth.refresh', '/auth/logout': 'auth.logout',
    '/board/api/queues/pause': 'queue.pause-all', '/board/api/queues/resume': 'queue.resume-all' };
  if (fixed[p]) return fixed[p];
  let m = /^\/api\/runs\/[^/]+\/(rollback|decommission)$/.exec(p);
  if (m) return `run.${m[1]}`;
  m = /^\/board\/api\/queues\/[^/]+\/(retry|clean)\/[^/]+$/.exec(p);
  if (m) return `queue.${m[1]}-all`;
  m = /^\/board\/api\/queues\/[^/]+\/(add|promote|pause|resume|concurrency|rate-limit|empty|obliterate)$/.exec(p);
  if (m) return `queue.${m[1]}`;
  if (/^\/board\/api\/queues\/[^/]+\/rate-limit\/release$/.test(p)) return 'queue.rate-limit-release';
  if (/^\/board\/api\/queues\/[^/]+\/job-schedulers\//.test(p)) return 'queue.job-scheduler';
  m = /^\/board\/api\/queues\/[^/]+\/[^/]+\/([a-z-]+)$/.exec(p);
  if (m) return `job.${m[1]}`;
  if (p.startsWith('/board/')) return 'board.request';
  return method === 'GET' || method === 'HEAD' ? 'read' : 'request';
}

export function outcomeOf(status: number): AuditOutcome {
  if (status === 401 || status === 403 || status === 405 || status === 429) return 'denied';
  return status < 400 ? 'success' : 'failure';
}

const MAX_TEXT = 512;
const clip = (s: string): string => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s);

export class AuditLog {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly db: Pool, private readonly logger: Logger) {}

  /** Writes one row; a failure is logged (the request it describes has already been answered). */
  record(entry: AuditEntry): Promise<void> {
    const write = this.db.query(
      `INSERT INTO ops.audit_log (username, role, action, method, path, ip, status, outcome, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [entry.username === null ? null : clip(entry.username), entry.role, entry.action, entry.method, clip(entry.path), entry.ip,
        entry.status, entry.outcome, entry.details ? JSON.stringify(entry.details) : null],
    ).then(() => undefined, (err: unknown) => {
      this.logger.error({ err, action: entry.action, username: entry.username }, `Could not write the audit row of ${entry.method} ${entry.path}: ${(err as Error).message}`);
    });
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
    return write;
  }

  /** Resolves when every row recorded so far is written (or has failed and been logged). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /**
   * Records, once the response is sent, every request that changes something (not GET/HEAD/OPTIONS),
   * every refused one (401/403) and every request a handler marked with res.locals.audit.
   */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const path = req.originalUrl.split('?')[0] ?? req.originalUrl;
      res.on('finish', () => {
        const note = res.locals.audit;
        const mutating = !['GET', 'HEAD', 'OPTIONS'].includes(req.method);
        if (!mutating && !note && res.statusCode !== 403) return;
        const principal = res.locals.principal;
        void this.record({
          username: principal?.username ?? note?.username ?? null,
          role: principal?.role ?? null,
          action: note?.action ?? actionOf(req.method, path),
          method: req.method,
          path,
          ip: req.ip ?? null,
          status: res.statusCode,
          outcome: note?.outcome ?? outcomeOf(res.statusCode),
          details: note?.details ?? null,
        });
      });
      next();
    };
  }

  async list(q: { limit: number; offset: number; before?: number | undefined; user?: string | undefined; action?: string | undefined }): Promise<{ total: number; entries: AuditRow[] }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.user !== undefined) { params.push(q.user); where.push(`username = $${params.length}`); }
    if (q.action !== undefined) { params.push(q.action); where.push(`action = $${params.length}`); }
    if (q.before !== undefined) { params.push(q.before); where.push(`id < $${params.length}`); }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const { rows: [count] } = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ops.audit_log ${clause}`, params);
    const { rows } = await this.db.query<{ id: string; at: Date; username: string | null; role: string | null; action: string; method: string; path: string; ip: string | null; status: number | null; outcome: AuditOutcome; details: Record<string, unknown> | null }>(
      `SELECT id, at, username, role, action, method, path, ip, status, outcome, details FROM ops.audit_log ${clause}
        ORDER BY id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`, [...params, q.limit, q.offset]);
    return { total: count!.n, entries: rows.map((r) => ({ ...r, id: Number(r.id) })) };
  }
}

/** Marks the request's audit row (handlers call this before answering). */
export function noteAudit(res: Response, note: AuditNote): void {
  res.locals.audit = { ...res.locals.audit, ...note, details: { ...res.locals.audit?.details, ...note.details } };
}

const auditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
  // Keyset paging: entries older than this id. The log grows while it is read (newest first), so an
  // offset's next page can repeat an entry; `nextBefore` of one page starts the next one exactly.
  before: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  user: z.string().min(1).max(128).optional(),
  action: z.string().min(1).max(64).optional(),
}).strict();

/** GET /audit (mounted under /api): admin only, paged with ?limit and ?before (or ?offset), filtered by ?user and ?action. */
export function auditRouter(audit: AuditLog): express.Router {
  const router = express.Router();
  router.get('/audit', requireRole('admin'), async (req, res) => {
    const q = auditQuery.parse(req.query);
    const { total, entries } = await audit.list(q);
    res.json({ total, limit: q.limit, offset: q.offset, before: q.before ?? null, nextBefore: entries.at(-1)?.id ?? null, entries });
  });
  return router;
}
