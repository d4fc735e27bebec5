// Logging in and out: GET /login (the form), POST /auth/login (form or JSON), POST /auth/refresh and
// POST /auth/logout. Browsers get an HttpOnly, Secure, SameSite=Strict access cookie (path /) and a
// refresh cookie scoped to /auth; API clients use the tokens in the JSON answer. Login attempts are
// rate limited per client address and username, and every attempt is audited.
import express, { type CookieOptions, type Request, type Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import type { Pool } from '../../store/pool.js';
import { noteAudit } from '../audit.js';
import { signAccessToken } from './access-tokens.js';
import type { AuthSettings } from './auth-settings.js';
import { ACCESS_COOKIE, REFRESH_COOKIE } from './authenticate.js';
import { loginPage, logoutPage, safeNext } from './login-page.js';
import { verifyPassword } from './passwords.js';
import { issueRefreshToken, revokeFamily, rotateRefreshToken, sha256Hex, type RefreshOutcome } from './refresh-tokens.js';

export interface AuthRouteDeps {
  db: Pool;
  logger: Logger;
  auth: AuthSettings;
}

const loginBody = z.object({
  username: z.string().min(1, 'username is required').max(128, 'username is too long'),
  password: z.string().min(1, 'password is required').max(1024, 'password is too long'),
  next: z.string().max(2048).optional(),
}, { error: 'the body must be an object with username and password' });

const tokenBody = z.object({ refreshToken: z.string().min(1).max(512).optional() }, { error: 'the body must be a JSON object' });

const isForm = (req: Request): boolean => req.is('application/x-www-form-urlencoded') === 'application/x-www-form-urlencoded';

/** The username a login attempt names (for the rate limit key and the audit row), whatever the body holds. */
function attemptedUsername(req: Request): string {
  const body = req.body as Record<string, unknown> | undefined;
  const name = body && typeof body === 'object' ? body.username : undefined;
  return typeof name === 'string' ? name.slice(0, 128) : '';
}

const REFRESH_FAILURES: Record<Exclude<RefreshOutcome, { ok: true }>['reason'], string> = {
  unknown: 'the refresh token is not valid: log in again',
  expired: 'the refresh token has expired: log in again',
  revoked: 'the refresh token was revoked (logout, or reuse of an old token): log in again',
  reused: 'this refresh token was already used once: as a precaution every token of this login is now revoked; log in again',
};

export function authRouter(deps: AuthRouteDeps): express.Router {
  const { auth, db } = deps;
  const router = express.Router();
  const cookieBase: CookieOptions = { httpOnly: true, secure: true, sameSite: 'strict' };

  function setCookies(res: Response, accessToken: string, refreshToken: string): void {
    res.cookie(ACCESS_COOKIE, accessToken, { ...cookieBase, path: '/', maxAge: auth.accessTtlSeconds * 1000 });
    res.cookie(REFRESH_COOKIE, refreshToken, { ...cookieBase, path: '/auth', maxAge: auth.refreshTtlSeconds * 1000 });
  }
  function clearCookies(res: Response): void {
    res.clearCookie(ACCESS_COOKIE, { ...cookieBase, path: '/' });
    res.clearCookie(REFRESH_COOKIE, { ...cookieBase, path: '/auth' });
  }
  function failLogin(req: Request, res: Response, status: number, message: string): void {
    if (isForm(req)) {
      res.status(status).type('html').send(loginPage({ next: safeNext((req.body as Record<string, unknown> | undefined)?.next), error: message }));
    } else {
      res.status(status).json({ error: message });
    }
  }

  const windowMinutes = Math.max(1, Math.round(auth.loginRateLimit.windowMs / 60_000));
  const loginLimiter = rateLimit({
    windowMs: auth.loginRateLimit.windowMs,
    limit: auth.loginRateLimit.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    // Only failed attempts count: a user who logs in often is not locked out, a guesser is.
    skipSuccessfulRequests: true,
    keyGenerator: (req) => `${ipKeyGenerator(req.ip ?? 'unknown')}|${attemptedUsername(req).toLowerCase()}`,
    handler: (req, res) => {
      const username = attemptedUsername(req);
      noteAudit(res, { action: 'auth.login', username, outcome: 'denied', details: { reason: 'rate limited' } });
      failLogin(req, res, 429, `Too many failed login attempts for this username from your address: at most ${auth.loginRateLimit.limit} in ${windowMinutes} minute${windowMinutes === 1 ? '' : 's'}. Try again later.`);
    },
  });

  router.get('/login', (req, res) => {
    res.type('html').send(loginPage({ next: safeNext(req.query.next), error: req.query.error === 'expired' ? 'Your session has expired: log in again.' : null }));
  });

  router.get('/logout', (_req, res) => {
    res.type('html').send(logoutPage());
  });

  router.post('/auth/login', loginLimiter, async (req, res) => {
    noteAudit(res, { action: 'auth.login', username: attemptedUsername(req) });
    const parsed = loginBody.safeParse(req.body ?? undefined);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      noteAudit(res, { outcome: 'failure', details: { reason: 'bad request' } });
      failLogin(req, res, 400, `Invalid login request: ${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message} (send JSON {"username": "...", "password": "..."} or the login form)`);
      return;
    }
    const { username, password } = parsed.data;
    const user = auth.users.get(username) ?? null;
    const ok = await verifyPassword(password, user?.passwordHash ?? null);
    if (!ok || !user) {
      noteAudit(res, { outcome: 'failure', details: { reason: user ? 'wrong password' : 'unknown user' } });
      failLogin(req, res, 401, 'Invalid username or password.');
      return;
    }
    const principal = { username: user.username, role: user.role };
    res.locals.principal = principal;
    const accessToken = await signAccessToken(principal, auth.jwtSecret, auth.accessTtlSeconds);
    const { refreshToken, familyId } = await issueRefreshToken(db, user.username, auth.refreshTtlSeconds);
    noteAudit(res, { details: { tokenFamily: familyId } });
    setCookies(res, accessToken, refreshToken);
    if (isForm(req)) {
      res.redirect(303, safeNext(parsed.data.next));
      return;
    }
    res.json({ accessToken, refreshToken, tokenType: 'Bearer', expiresIn: auth.accessTtlSeconds, role: user.role });
  });

  router.post('/auth/refresh', async (req, res) => {
    const body = tokenBody.safeParse(req.body ?? {});
    if (!body.success) {
      res.status(400).json({ error: `Invalid refresh request: ${body.error.issues[0]!.message} (send {"refreshToken": "..."})` });
      return;
    }
    const cookies = req.cookies as Record<string, string | undefined>;
    const token = body.data.refreshToken ?? cookies[REFRESH_COOKIE];
    if (!token) {
      res.status(400).json({ error: 'No refresh token: send {"refreshToken": "..."} (or the refresh cookie)' });
      return;
    }
    const outcome = await rotateRefreshToken(db, token, auth.refreshTtlSeconds);
    if (!outcome.ok) {
      noteAudit(res, { username: outcome.username ?? undefined, details: { reason: outcome.reason, tokenFamily: outcome.familyId } });
      if (outcome.reason === 'reused') deps.logger.warn({ username: outcome.username, family: outcome.familyId }, `A rotated refresh token of ${outcome.username ?? '?'} was presented again: its whole login was revoked`);
      clearCookies(res);
      res.status(401).json({ error: REFRESH_FAILURES[outcome.reason] });
      return;
    }
    const user = auth.users.get(outcome.username);
    if (!user) {
      await revokeFamily(db, outcome.familyId, 'user removed from the users file');
      noteAudit(res, { username: outcome.username, details: { reason: 'user removed' } });
      clearCookies(res);
      res.status(401).json({ error: `user ${outcome.username} is no longer allowed to log in` });
      return;
    }
    const principal = { username: user.username, role: user.role };
    res.locals.principal = principal;
    noteAudit(res, { details: { tokenFamily: outcome.familyId } });
    const accessToken = await signAccessToken(principal, auth.jwtSecret, auth.accessTtlSeconds);
    setCookies(res, accessToken, outcome.refreshToken);
    res.json({ accessToken, refreshToken: outcome.refreshToken, tokenType: 'Bearer', expiresIn: auth.accessTtlSeconds, role: user.role });
  });

  // A browser's stale session: renew it from the refresh cookie and go back, or log in again.
  // (A GET that changes state, but only with the SameSite=Strict cookie, which no other site can send.)
  router.get('/auth/refresh', async (req, res) => {
    const next = safeNext(req.query.next);
    const token = (req.cookies as Record<string, string | undefined>)[REFRESH_COOKIE];
    const outcome = token ? await rotateRefreshToken(db, token, auth.refreshTtlSeconds) : null;
    const user = outcome?.ok ? auth.users.get(outcome.username) : undefined;
    if (!outcome?.ok || !user) {
      if (outcome) noteAudit(res, { username: outcome.username ?? undefined, outcome: 'denied', details: { reason: outcome.ok ? 'user removed' : outcome.reason } });
      if (outcome?.ok) await revokeFamily(db, outcome.familyId, 'user removed from the users file');
      clearCookies(res);
      res.redirect(303, `/login?next=${encodeURIComponent(next)}${outcome ? '&error=expired' : ''}`);
      return;
    }
    res.locals.principal = { username: user.username, role: user.role };
    noteAudit(res, { details: { tokenFamily: outcome.familyId } });
    setCookies(res, await signAccessToken(res.locals.principal, auth.jwtSecret, auth.accessTtlSeconds), outcome.refreshToken);
    res.redirect(303, next);
  });

  router.post('/auth/logout', async (req, res) => {
    const body = tokenBody.safeParse(isForm(req) ? {} : (req.body ?? {}));
    const cookies = req.cookies as Record<string, string | undefined>;
    const token = (body.success ? body.data.refreshToken : undefined) ?? cookies[REFRESH_COOKIE];
    let revoked = 0;
    if (token) {
      const { rows: [row] } = await db.query<{ family_id: string; username: string }>(
        'SELECT family_id, username FROM ops.refresh_tokens WHERE token_hash = $1', [sha256Hex(token)]);
      if (row) {
        revoked = await revokeFamily(db, row.family_id, 'logout');
        noteAudit(res, { username: row.username, details: { tokenFamily: row.family_id } });
      }
    }
    clearCookies(res);
    if (isForm(req) || req.accepts(['json', 'html']) === 'html') {
      res.redirect(303, '/login');
      return;
    }
    res.json({ loggedOut: true, revokedTokens: revoked });
  });

  return router;
}
