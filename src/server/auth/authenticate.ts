// Who a request is: an access token from `Authorization: Bearer` (API clients) or the HttpOnly access
// cookie (browsers), checked against the current users file — a user removed from it, or whose role
// changed, is refused or downgraded at once, not when the token expires. Browsers without a valid access
// cookie are sent through GET /auth/refresh (renewed from the refresh cookie, or on to /login); everything
// else gets 401 JSON.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Principal, Role } from '../server-deps.js';
import { InvalidTokenError, verifyAccessToken } from './access-tokens.js';
import type { AuthSettings } from './auth-settings.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Set by authenticate(): who is asking. */
      principal?: Principal;
      /** How: a bearer token, the access cookie, the metrics scrape token, or --no-auth. */
      authMethod?: 'bearer' | 'cookie' | 'metrics-token' | 'none';
    }
  }
}

export const ACCESS_COOKIE = 'tf_access';
export const REFRESH_COOKIE = 'tf_refresh';

/** The principal every request runs as under --no-auth. */
export const LOCAL_ADMIN: Principal = Object.freeze({ username: 'local-admin', role: 'admin' });

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function bearerToken(req: Request): string | null {
  const header = req.get('authorization');
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : '';
}

function cookieToken(req: Request): string | null {
  const cookies = req.cookies as Record<string, unknown> | undefined;
  const value = cookies?.[ACCESS_COOKIE];
  return typeof value === 'string' && value !== '' ? value : null;
}

/** A browser navigation (GET of a page), which is better answered with the login page than with JSON. */
function isPageRequest(req: Request): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && !req.path.startsWith('/api/') && !req.originalUrl.includes('/api/')
    && req.accepts(['json', 'html']) === 'html';
}

export function refuseUnauthenticated(req: Request, res: Response, message: string): void {
  if (isPageRequest(req)) {
    // A browser renews its session from the refresh cookie, which only /auth receives: the access cookie
    // is gone by then (its Max-Age is the token's lifetime), so every page request without a valid one
    // goes there first; GET /auth/refresh sends the browser on to /login when it has no valid refresh cookie.
    const renew = bearerToken(req) === null;
    res.redirect(303, `${renew ? '/auth/refresh' : '/login'}?next=${encodeURIComponent(req.originalUrl)}`);
    return;
  }
  res.set('WWW-Authenticate', 'Bearer realm="taskfleet"').status(401).json({ error: message });
}

/** Cookie-authenticated writes must come from our own pages (SameSite=Strict already stops most cross-site ones). */
/** Whether a Host header names this machine's loopback (with or without a port). */
function loopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127(\.\d{1,3}){3}$/.test(name);
}

function crossOrigin(req: Request): boolean {
  const origin = req.get('origin');
  if (!origin || origin === 'null') return origin === 'null';
  try {
    return new URL(origin).host !== req.get('host');
  } catch {
    return true;
  }
}

export function authenticate(auth: AuthSettings | null): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (auth === null) {
      // No logins, so the browser's own guards must hold: another site's page (or a DNS-rebound name) must
      // not drive this loopback server — writes only from this origin, and only under a loopback host name.
      if (!loopbackHost(req.get('host'))) {
        res.status(403).json({ error: 'refused: without authentication this server answers only to a loopback host name (127.0.0.1, ::1, localhost)' });
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD' && (crossOrigin(req) || req.get('sec-fetch-site') === 'cross-site')) {
        res.status(403).json({ error: 'cross-origin request refused: the Origin header does not match this server' });
        return;
      }
      res.locals.principal = LOCAL_ADMIN;
      res.locals.authMethod = 'none';
      next();
      return;
    }
    const bearer = bearerToken(req);
    const token = bearer ?? cookieToken(req);
    if (bearer === '') {
      refuseUnauthenticated(req, res, 'the Authorization header must be "Bearer <access token>"');
      return;
    }
    if (token === null) {
      refuseUnauthenticated(req, res, 'authentication required: log in with POST /auth/login and send the access token as "Authorization: Bearer <token>"');
      return;
    }
    verifyAccessToken(token, auth.jwtSecret).then((claimed) => {
      const user = auth.users.get(claimed.username);
      if (!user) {
        refuseUnauthenticated(req, res, `user ${claimed.username} is no longer allowed to log in`);
        return;
      }
      const method = bearer === null ? 'cookie' : 'bearer';
      if (method === 'cookie' && req.method !== 'GET' && req.method !== 'HEAD' && crossOrigin(req)) {
        res.status(403).json({ error: 'cross-origin request refused: the Origin header does not match this server' });
        return;
      }
      // The users file is the authority on roles: a downgrade applies to tokens already issued.
      res.locals.principal = { username: user.username, role: user.role };
      res.locals.authMethod = method;
      next();
    }, (err: unknown) => {
      if (err instanceof InvalidTokenError) refuseUnauthenticated(req, res, err.message);
      else next(err);
    });
  };
}

export function hasRole(principal: Principal | undefined, min: Role): boolean {
  return principal !== undefined && RANK[principal.role] >= RANK[min];
}

/** "a viewer", "an operator", "an admin". */
export const withArticle = (role: Role): string => `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role}`;

/** 403 unless the authenticated principal has at least role `min`. */
export function requireRole(min: Role): RequestHandler {
  return (_req, res, next) => {
    const principal = res.locals.principal;
    if (!principal) {
      res.status(401).json({ error: 'authentication required' });
      return;
    }
    if (!hasRole(principal, min)) {
      res.status(403).json({ error: `forbidden: this needs the ${min} role; ${principal.username} is ${withArticle(principal.role)}` });
      return;
    }
    next();
  };
}
