// The operations server under test: the real startOperationsServer (what `taskfleet server` runs) on a
// random port, against the test file's own database and queue prefix, with users of every role.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSettings } from '../../src/config/settings.js';
import { createLogger } from '../../src/logger.js';
import { resolveAuthSettings, type AuthSettings } from '../../src/server/auth/auth-settings.js';
import { hashPassword } from '../../src/server/auth/passwords.js';
import { parseUsersFile } from '../../src/server/auth/users-file.js';
import type { AuditRow } from '../../src/server/audit.js';
import { startOperationsServer, type OperationsServer } from '../../src/server/operations-server.js';
import type { Role } from '../../src/server/server-deps.js';
import { REDIS_URL } from './services.js';

export const TEST_SECRET = 'a-test-secret-that-is-certainly-longer-than-32-bytes';

/** Cheap scrypt parameters: tests log in many times (production uses DEFAULT_SCRYPT). */
const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };

export const TEST_USERS: Record<string, { role: Role; password: string }> = {
  ada: { role: 'admin', password: 'ada-password-1' },
  otto: { role: 'operator', password: 'otto-password-1' },
  vera: { role: 'viewer', password: 'vera-password-1' },
  mallory: { role: 'viewer', password: 'mallory-password-1' },
};

/** The users file text for TEST_USERS (and the secret unless `withSecret` is false). */
export async function usersYaml(opts: { withSecret?: boolean } = {}): Promise<string> {
  const lines = opts.withSecret === false ? [] : [`jwtSecret: "${TEST_SECRET}"`];
  lines.push('users:');
  for (const [username, u] of Object.entries(TEST_USERS)) {
    lines.push(`  - username: ${username}`, `    role: ${u.role}`, `    passwordHash: "${await hashPassword(u.password, FAST_SCRYPT)}"`);
  }
  return `${lines.join('\n')}\n`;
}

export async function writeUsersFile(dir: string, opts: { withSecret?: boolean } = {}): Promise<string> {
  const file = join(dir, 'users.yaml');
  await writeFile(file, await usersYaml(opts));
  return file;
}

export interface TestServerOptions {
  databaseUrl: string;
  prefix: string;
  /** false: --no-auth. */
  auth?: boolean;
  accessTtlSeconds?: number;
  loginLimit?: number;
  metricsToken?: string;
}

export interface TestServer {
  url: string;
  server: OperationsServer;
  auth: AuthSettings | null;
  /** fetch relative to the server, never following redirects. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** JSON request with a bearer token (or none). */
  api(method: string, path: string, opts?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
  /** Logs in and returns the pair (throws unless 200). */
  login(username: string, password?: string): Promise<{ accessToken: string; refreshToken: string }>;
  close(): Promise<void>;
}

export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const settings = loadSettings({ databaseUrl: opts.databaseUrl, redisUrl: REDIS_URL, queueBackend: 'redis', prefix: opts.prefix, logLevel: 'silent' }, { env: {} });
  const auth = opts.auth === false ? null : resolveAuthSettings({
    usersFile: parseUsersFile(await usersYaml(), 'test users'), usersPath: 'test users', envSecret: undefined,
    accessTtlSeconds: opts.accessTtlSeconds ?? 900, refreshTtlSeconds: 3600,
    loginRateLimit: { limit: opts.loginLimit ?? 5, windowMs: 15 * 60_000 },
  });
  const server = await startOperationsServer({
    settings, logger: createLogger('silent'), port: 0, host: '127.0.0.1', auth, metricsToken: opts.metricsToken ?? null,
  });
  const fetchAt = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { redirect: 'manual', ...init });
  const api: TestServer['api'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetchAt(path, { method, headers, body });
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      parsed = { text };
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    url: server.url,
    server,
    auth,
    fetch: fetchAt,
    api,
    async login(username, password = TEST_USERS[username]?.password ?? '') {
      const r = await api('POST', '/auth/login', { body: { username, password } });
      if (r.status !== 200) throw new Error(`login of ${username} answered ${r.status}: ${JSON.stringify(r.body)}`);
      return { accessToken: r.body.accessToken as string, refreshToken: r.body.refreshToken as string };
    },
    close: () => server.close(),
  };
}

/** An ops.audit_log row as the tests read it (the timestamp left out). */
export type AuditRowSeen = Omit<AuditRow, 'at'>;

/** The audit rows matching `where` (SQL on ops.audit_log), waiting up to 5 s for at least `min` of them. */
export async function auditRows(pool: { query: (sql: string, params?: unknown[]) => Promise<{ rows: unknown[] }> }, where: string, params: unknown[], min = 1): Promise<AuditRowSeen[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const { rows } = await pool.query(`SELECT id::int, username, role, action, method, path, ip, status, outcome, details FROM ops.audit_log WHERE ${where} ORDER BY id`, params);
    if (rows.length >= min || Date.now() > deadline) return rows as AuditRowSeen[];
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A browser's cookie handling, enough for the auth flows: cookies kept per name with their Path and
 * Max-Age (an expired one is dropped, as a browser drops it), sent only under their path; redirects
 * followed by hand so each hop can be checked.
 */
export class CookieBrowser {
  private readonly jar = new Map<string, { value: string; path: string; expires: number }>();

  constructor(private readonly server: Pick<TestServer, 'fetch'>) {}

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((p) => p.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) ?? '/';
      const maxAge = attrs.find((a) => /^max-age=/i.test(a));
      const expiresAttr = attrs.find((a) => /^expires=/i.test(a));
      const expires = maxAge ? Date.now() + Number(maxAge.slice(8)) * 1000 : expiresAttr ? Date.parse(expiresAttr.slice(8)) : Infinity;
      if (expires <= Date.now()) this.jar.delete(name);
      else this.jar.set(name, { value: pair!.slice(eq + 1), path, expires });
    }
  }

  /** The Cookie header a browser would send to `path`. */
  cookieFor(path: string): string {
    const now = Date.now();
    return [...this.jar].filter(([, c]) => c.expires > now && (path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .map(([name, c]) => `${name}=${c.value}`).join('; ');
  }

  has(name: string): boolean {
    const c = this.jar.get(name);
    return c !== undefined && c.expires > Date.now();
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.cookieFor(path.split('?')[0]!);
    if (cookie) headers.set('cookie', cookie);
    const res = await this.server.fetch(path, { ...init, headers });
    this.store(res);
    return res;
  }

  /** A page navigation (Accept: text/html), following redirects; returns the hops' locations and the last answer. */
  async navigate(path: string): Promise<{ hops: string[]; res: Response }> {
    const hops: string[] = [];
    let res = await this.request(path, { headers: { accept: 'text/html' } });
    while (res.status >= 300 && res.status < 400 && hops.length < 10) {
      const location = res.headers.get('location')!;
      hops.push(location);
      res = await this.request(location, { headers: { accept: 'text/html' } });
    }
    return { hops, res };
  }
}
