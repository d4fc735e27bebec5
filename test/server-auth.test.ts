// The operations server's security (issue 5), against real Redis and Postgres through the real
// startOperationsServer, plus the `taskfleet server` and `taskfleet users hash-password` CLI paths:
// nothing but the probes answers without a token; expired, forged and garbage tokens are refused;
// refresh tokens rotate, and a reused one revokes its whole login; viewers change nothing (Bull Board's
// write endpoints and the lifecycle API answer 403), operators and admins can retry, pause, resume and
// clean finished jobs on the board and nothing else there (no add, edit, empty, …); every login and
// every mutating request leaves an audit row; logins are rate limited; bad input gets a clear 4xx and
// the server keeps answering.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadSettings } from '../src/config/settings.js';
import { createLogger } from '../src/logger.js';
import { parsePasswordHash, verifyPassword } from '../src/server/auth/passwords.js';
import { actionOf } from '../src/server/audit.js';
import { classifyBoardWrite, mayWrite } from '../src/server/board-writes.js';
import { resolveAuthSettings } from '../src/server/auth/auth-settings.js';
import { parseDuration } from '../src/server/auth/durations.js';
import { safeNext } from '../src/server/auth/login-page.js';
import { parseUsersFile } from '../src/server/auth/users-file.js';
import { startOperationsServer } from '../src/server/operations-server.js';
import { createWorker } from '../src/queue/index.js';
import { waitFor } from './helpers/ledger.js';
import { BIN, startCli } from './helpers/cli.js';
import { auditRows, CookieBrowser, startTestServer, TEST_SECRET, usersYaml, writeUsersFile, type TestServer } from './helpers/server.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const prefix = uniquePrefix('server_auth');
const METRICS_TOKEN = 'scrape-token-for-the-test';
let db: TestDatabase;
let srv: TestServer;
let root: string;
const secret = new TextEncoder().encode(TEST_SECRET);

/** No answer may carry a stack trace or an error dump. */
function expectNoLeak(body: unknown): void {
  const text = JSON.stringify(body);
  expect(text).not.toMatch(/\bat [^ ]+ \(|\.(ts|js):\d+|node_modules/);
}

async function queuePaused(): Promise<boolean> {
  return (srv.server.deps.queues.get('migrate')!).isPaused();
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-server-auth-'));
  db = await createTestDatabase('server_auth');
  srv = await startTestServer({ databaseUrl: db.url, prefix, loginLimit: 3, metricsToken: METRICS_TOKEN });
});

afterAll(async () => {
  await srv?.close();
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('without a valid token', () => {
  it('answers 401 JSON on the API, Bull Board\'s API and /metrics, and sends browsers to /login', async () => {
    for (const path of ['/api/runs', '/api/audit', '/board/api/queues', '/metrics', '/api/no-such-thing']) {
      const r = await srv.api('GET', path);
      expect(r.status, path).toBe(401);
      expect(r.body.error, path).toMatch(/log in|authentication required/i);
    }
    // A browser goes through /auth/refresh (which would renew its session from the refresh cookie) to /login.
    const page = await new CookieBrowser(srv).navigate('/board');
    expect(page.hops).toEqual(['/auth/refresh?next=%2Fboard', '/login?next=%2Fboard']);
    expect(page.res.status).toBe(200);
    const login = await srv.fetch('/login');
    expect(login.status).toBe(200);
    expect(await login.text()).toMatch(/<form method="post" action="\/auth\/login">/);
    const mutate = await srv.api('PUT', '/board/api/queues/migrate/pause');
    expect(mutate.status).toBe(401);
    // A body is not even read before the sender is known.
    const badBody = await srv.api('POST', '/api/runs/any/rollback', { body: '{not json' });
    expect(badBody.status).toBe(401);
  });

  it('keeps /healthz and /readyz open, saying nothing but ok or not ready', async () => {
    const health = await srv.fetch('/healthz');
    expect(health.status).toBe(200);
    const ready = await srv.fetch('/readyz');
    expect(ready.status).toBe(200);
    const text = await ready.text();
    expect(text).not.toContain(db.url);
    expect(text).not.toContain(REDIS_URL);
  });

  it('refuses garbage, forged, alg:none and expired tokens', async () => {
    const garbage = await srv.api('GET', '/api/runs', { token: 'not.a.jwt' });
    expect(garbage.status).toBe(401);
    expect(garbage.body.error).toMatch(/not valid/);

    const forged = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('ada')
      .setIssuer('taskfleet').setAudience('taskfleet-server').setExpirationTime('5m')
      .sign(new TextEncoder().encode('another-secret-another-secret-another-secret'));
    expect((await srv.api('GET', '/api/runs', { token: forged })).status).toBe(401);

    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'ada', role: 'admin', iss: 'taskfleet', aud: 'taskfleet-server', exp: Math.floor(Date.now() / 1000) + 600 })}.`;
    expect((await srv.api('GET', '/api/runs', { token: none })).status).toBe(401);

    const expired = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('ada')
      .setIssuer('taskfleet').setAudience('taskfleet-server').setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secret);
    const r = await srv.api('GET', '/api/runs', { token: expired });
    expect(r.status).toBe(401);
    expect(r.body.error).toMatch(/expired/);

    // The same claims, valid: accepted (so the refusals above are about the token, not the claims).
    const valid = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('ada')
      .setIssuer('taskfleet').setAudience('taskfleet-server').setExpirationTime('5m').sign(secret);
    expect((await srv.api('GET', '/api/runs', { token: valid })).status).toBe(200);

    // A token naming a user the users file does not list is refused.
    const ghost = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('ghost')
      .setIssuer('taskfleet').setAudience('taskfleet-server').setExpirationTime('5m').sign(secret);
    expect((await srv.api('GET', '/api/runs', { token: ghost })).status).toBe(401);
  });

  it('opens /metrics (and nothing else) to the scrape token', async () => {
    const metrics = await srv.fetch('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(metrics.status).toBe(200);
    expect((await srv.api('GET', '/api/runs', { token: METRICS_TOKEN })).status).toBe(401);
  });
});

describe('tokens', () => {
  it('expire after --access-ttl', async () => {
    const db2 = await createTestDatabase('server_auth_ttl');
    // 5 s, not 2: exp is a whole second, so a 2 s token may live barely 1 s, and the first call below can
    // come later than that on a busy machine.
    const short = await startTestServer({ databaseUrl: db2.url, prefix, accessTtlSeconds: 5 });
    try {
      const { accessToken } = await short.login('vera');
      expect((await short.api('GET', '/api/runs', { token: accessToken })).status).toBe(200);
      // Wait until the token's own exp has passed (jose allows no clock tolerance by default).
      const { exp } = decodeJwt(accessToken);
      await new Promise((r) => setTimeout(r, Math.max(0, exp! * 1000 - Date.now()) + 50));
      const r = await short.api('GET', '/api/runs', { token: accessToken });
      expect(r.status).toBe(401);
      expect(r.body.error).toMatch(/expired/);
    } finally {
      await short.close();
      await db2.drop();
    }
  });

  it('a browser stays logged in past --access-ttl: pages renew the session from the refresh cookie', async () => {
    const db2 = await createTestDatabase('server_auth_renew');
    const short = await startTestServer({ databaseUrl: db2.url, prefix, accessTtlSeconds: 2 });
    try {
      const browser = new CookieBrowser(short);
      const login = await browser.request('/auth/login', {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: 'vera', password: 'vera-password-1', next: '/board' }).toString(),
      });
      expect(login.headers.get('location')).toBe('/board');
      expect((await browser.navigate('/board')).res.status).toBe(200);
      const firstRefresh = browser.cookieFor('/auth');
      // The access cookie lives as long as its token (Max-Age 2 s): the browser drops it.
      await waitFor(() => Promise.resolve(!browser.has('tf_access')), 'the access cookie to expire', 5000);
      expect(browser.cookieFor('/board')).toBe('');
      const renewed = await browser.navigate('/board');
      expect(renewed.hops).toEqual(['/auth/refresh?next=%2Fboard', '/board']);
      expect(renewed.res.status).toBe(200);
      expect(await renewed.res.text()).toMatch(/<html/i);
      expect(browser.has('tf_access')).toBe(true);
      expect(browser.cookieFor('/auth')).not.toBe(firstRefresh);
      // API clients are not redirected: no token, 401.
      expect((await short.api('GET', '/api/runs')).status).toBe(401);
      // Rotation and reuse detection hold: the rotated cookie, replayed, revokes the login ...
      const replay = await short.fetch('/auth/refresh?next=%2Fboard', { headers: { cookie: firstRefresh } });
      expect(replay.headers.get('location')).toBe('/login?next=%2Fboard&error=expired');
      // ... so the browser's own, newest refresh cookie no longer renews anything.
      const after = await browser.request('/auth/refresh?next=%2Fboard');
      expect(after.headers.get('location')).toBe('/login?next=%2Fboard&error=expired');
    } finally {
      await short.close();
      await db2.drop();
    }
  });

  it('rotate on refresh; a reused refresh token is refused and revokes its whole login', async () => {
    const first = await srv.login('otto');
    const second = await srv.api('POST', '/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect(second.status).toBe(200);
    expect(second.body.refreshToken).not.toBe(first.refreshToken);
    expect(second.body.expiresIn).toBe(900);
    expect((await srv.api('GET', '/api/runs', { token: second.body.accessToken as string })).status).toBe(200);
    const third = await srv.api('POST', '/auth/refresh', { body: { refreshToken: second.body.refreshToken } });
    expect(third.status).toBe(200);

    // Only hashes are stored.
    const newest = third.body.refreshToken as string;
    const { rows } = await db.pool.query<{ token_hash: string }>('SELECT token_hash FROM ops.refresh_tokens');
    expect(rows.map((r) => r.token_hash)).toContain(createHash('sha256').update(newest).digest('hex'));
    expect(JSON.stringify(rows)).not.toContain(newest);

    // Someone replays the first (rotated) token: refused, and the family is revoked ...
    const reuse = await srv.api('POST', '/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect(reuse.status).toBe(401);
    expect(reuse.body.error).toMatch(/already used/);
    // ... so the newest token of that login stops working too.
    const afterReuse = await srv.api('POST', '/auth/refresh', { body: { refreshToken: newest } });
    expect(afterReuse.status).toBe(401);
    expect(afterReuse.body.error).toMatch(/revoked/);
    // Another login of the same user is a different family and unaffected.
    const other = await srv.login('otto');
    expect((await srv.api('POST', '/auth/refresh', { body: { refreshToken: other.refreshToken } })).status).toBe(200);

    const reuseRows = await auditRows(db.pool, `action = 'auth.refresh' AND details->>'reason' = 'reused'`, []);
    expect(reuseRows[0]).toMatchObject({ username: 'otto', outcome: 'denied', status: 401 });
  });

  it('logout revokes the login\'s refresh tokens', async () => {
    const { refreshToken } = await srv.login('vera');
    const out = await srv.api('POST', '/auth/logout', { body: { refreshToken } });
    expect(out.status).toBe(200);
    expect(out.body.revokedTokens).toBe(1);
    expect((await srv.api('POST', '/auth/refresh', { body: { refreshToken } })).status).toBe(401);
  });

  it('a browser logs in through the form and gets HttpOnly, Secure, SameSite=Strict cookies', async () => {
    const res = await srv.fetch('/auth/login', {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'vera', password: 'vera-password-1', next: '/board' }).toString(),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/board');
    const cookies = res.headers.getSetCookie();
    const access = cookies.find((c) => c.startsWith('tf_access='))!;
    const refresh = cookies.find((c) => c.startsWith('tf_refresh='))!;
    for (const c of [access, refresh]) {
      expect(c).toMatch(/HttpOnly/i);
      expect(c).toMatch(/Secure/i);
      expect(c).toMatch(/SameSite=Strict/i);
    }
    expect(access).toMatch(/Path=\/;/);
    expect(refresh).toMatch(/Path=\/auth/);
    const cookie = access.split(';')[0]!;
    const board = await srv.fetch('/board', { headers: { cookie, accept: 'text/html' } });
    expect(board.status).toBe(200);
    expect(await board.text()).toMatch(/<html/i);
    // An off-site `next` is not followed.
    const evil = await srv.fetch('/auth/login', {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'vera', password: 'vera-password-1', next: '//evil.example/' }).toString(),
    });
    expect(evil.headers.get('location')).toBe('/board');
    // A stale session cookie sends the browser through /auth/refresh, which renews it from the refresh cookie.
    const stale = await new SignJWT({ role: 'viewer' }).setProtectedHeader({ alg: 'HS256' }).setSubject('vera')
      .setIssuer('taskfleet').setAudience('taskfleet-server').setExpirationTime(Math.floor(Date.now() / 1000) - 10).sign(secret);
    const bounce = await srv.fetch('/board', { headers: { cookie: `tf_access=${stale}`, accept: 'text/html' } });
    expect(bounce.headers.get('location')).toBe('/auth/refresh?next=%2Fboard');
    const refreshCookie = refresh.split(';')[0]!;
    const renewed = await srv.fetch('/auth/refresh?next=%2Fboard', { headers: { cookie: refreshCookie } });
    expect(renewed.status).toBe(303);
    expect(renewed.headers.get('location')).toBe('/board');
    const fresh = renewed.headers.getSetCookie().find((c) => c.startsWith('tf_access='))!.split(';')[0]!;
    expect((await srv.fetch('/board', { headers: { cookie: fresh, accept: 'text/html' } })).status).toBe(200);
    const replayed = await srv.fetch('/auth/refresh?next=%2Fboard', { headers: { cookie: refreshCookie } });
    expect(replayed.headers.get('location')).toBe('/login?next=%2Fboard&error=expired');
    // A cookie-authenticated write from another origin is refused.
    const cross = await srv.fetch('/board/api/queues/migrate/pause', { method: 'PUT', headers: { cookie, origin: 'https://evil.example' } });
    expect(cross.status).toBe(403);
  });
});

describe('roles', () => {
  it('a viewer reads everything and changes nothing', async () => {
    const { accessToken: token } = await srv.login('vera');
    const board = await srv.api('GET', '/board/api/queues', { token });
    expect(board.status).toBe(200);
    // The viewer's board is Bull Board's read-only one: its buttons are hidden.
    const queues = board.body.queues as { name: string; readOnlyMode: boolean }[];
    expect(queues.map((q) => [q.name, q.readOnlyMode]).sort()).toEqual([['migrate', true], ['workflows', true]]);
    expect((await srv.api('GET', '/api/runs', { token })).status).toBe(200);
    expect((await srv.api('GET', '/metrics', { token })).status).toBe(200);
    for (const [method, path] of [
      ['PUT', '/board/api/queues/migrate/pause'],
      ['PUT', '/board/api/queues/pause'],
      ['PUT', '/board/api/queues/migrate/retry/failed'],
      ['PUT', '/board/api/queues/migrate/clean/completed'],
      ['PUT', '/board/api/queues/migrate/some-job/retry'],
      ['POST', '/board/api/queues/migrate/add'],
      ['PUT', '/board/api/queues/migrate/obliterate'],
      ['POST', '/api/runs/any-run/rollback'],
      ['POST', '/api/runs/any-run/decommission'],
    ] as const) {
      const r = await srv.api(method, path, { token, body: {} });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error, `${method} ${path}`).toMatch(/forbidden/);
    }
    expect((await srv.api('GET', '/api/audit', { token })).status).toBe(403);
    expect(await queuePaused()).toBe(false);
    const denied = await auditRows(db.pool, `username = 'vera' AND action = 'queue.pause' AND outcome = 'denied'`, []);
    expect(denied[0]).toMatchObject({ method: 'PUT', path: '/board/api/queues/migrate/pause', status: 403, role: 'viewer' });
  });

  it('an operator pauses, resumes, retries and cleans through Bull Board, but cannot roll back', async () => {
    const { accessToken: token } = await srv.login('otto');
    const board = await srv.api('GET', '/board/api/queues', { token });
    expect((board.body.queues as { readOnlyMode: boolean }[]).map((q) => q.readOnlyMode)).toEqual([false, false]);
    expect((await srv.api('PUT', '/board/api/queues/migrate/pause', { token })).status).toBe(200);
    expect(await queuePaused()).toBe(true);
    expect((await srv.api('PUT', '/board/api/queues/migrate/resume', { token })).status).toBe(200);
    expect(await queuePaused()).toBe(false);
    expect((await srv.api('PUT', '/board/api/queues/migrate/retry/failed', { token })).status).toBe(200);
    expect((await srv.api('PUT', '/board/api/queues/migrate/clean/completed', { token })).status).toBeLessThan(300);
    expect((await srv.api('POST', '/api/runs/any-run/rollback', { token, body: {} })).status).toBe(403);
    expect((await srv.api('GET', '/api/audit', { token })).status).toBe(403);

    const rows = await auditRows(db.pool, `username = 'otto' AND path LIKE '/board/%'`, [], 4);
    // Each row is written once its response is sent, on whichever pool connection is free: two requests
    // in a row can get their ids the other way round, so compare by action.
    const byAction = [...rows].sort((a, b) => a.action.localeCompare(b.action));
    const clean = rows.find((r) => r.action === 'queue.clean-all');
    expect(byAction.map((r) => [r.action, r.outcome, r.status])).toEqual([
      ['queue.clean-all', 'success', clean?.status], ['queue.pause', 'success', 200], ['queue.resume', 'success', 200], ['queue.retry-all', 'success', 200],
    ]);
    for (const r of rows) expect(r).toMatchObject({ role: 'operator', method: 'PUT', ip: expect.stringMatching(/127\.0\.0\.1/) as unknown });
  });

  it('operators and admins make no board write but retry, pause, resume and clean (of finished jobs)', async () => {
    const workflows = srv.server.deps.queues.get('workflows')!;
    // One completed and two failed jobs, from a real worker on this file's prefix, then nothing runs them.
    await workflows.add('ok-1', {}, { jobId: 'ok-1' });
    await workflows.add('fail-1', {}, { jobId: 'fail-1', attempts: 1 });
    await workflows.add('fail-2', {}, { jobId: 'fail-2', attempts: 1 });
    const worker = createWorker<unknown>('workflows', (job) => (job.name.startsWith('fail') ? Promise.reject(new Error('broken on purpose')) : Promise.resolve()), srv.server.deps.transport, { concurrency: 1 });
    try {
      await waitFor(async () => { const c = await workflows.getJobCounts('completed', 'failed'); return c.completed === 1 && c.failed === 2; }, 'the jobs to finish', 10_000);
    } finally {
      await worker.close();
    }
    await workflows.add('waiting-1', {}, { jobId: 'waiting-1' });
    const before = await workflows.getJobCounts();

    for (const user of ['otto', 'ada']) {
      const { accessToken: token } = await srv.login(user);
      for (const [method, path, body] of [
        ['POST', '/board/api/queues/workflows/add', { name: 'injected', data: { runId: 'x', taskId: 'y' } }],
        ['PUT', '/board/api/queues/workflows/empty', undefined],
        ['PUT', '/board/api/queues/workflows/EMPTY/', undefined],
        ['PUT', '/board/api/queues/workflows/obliterate', undefined],
        ['PATCH', '/board/api/queues/workflows/waiting-1/update-data', { data: { runId: 'changed' } }],
        ['PUT', '/board/api/queues/workflows/promote', undefined],
        ['PUT', '/board/api/queues/workflows/waiting-1/promote', undefined],
        ['PATCH', '/board/api/queues/workflows/waiting-1/delay', { delay: 1000 }],
        ['PATCH', '/board/api/queues/workflows/waiting-1/priority', { priority: 1 }],
        ['PUT', '/board/api/queues/workflows/concurrency', { concurrency: 1 }],
        ['PUT', '/board/api/queues/workflows/rate-limit', { max: 1, duration: 1000 }],
        ['PUT', '/board/api/queues/workflows/job-schedulers/s/remove', undefined],
        ['PUT', '/board/api/queues/workflows/waiting-1/remove-unprocessed-children', undefined],
        ['POST', '/board/api/metrics/history/purge', {}],
        ['DELETE', '/board/api/queues/workflows', undefined],
        // Clean removes finished jobs only: a waiting one is a chunk its run still waits for.
        ['PUT', '/board/api/queues/workflows/clean/waiting', undefined],
        ['PUT', '/board/api/queues/workflows/clean/delayed', undefined],
        ['PUT', '/board/api/queues/workflows/waiting-1/clean', undefined],
      ] as const) {
        const r = await srv.api(method, path, { token, body });
        expect(r.status, `${user}: ${method} ${path}`).toBe(403);
        expect(r.body.error, `${user}: ${method} ${path}`).toMatch(/forbidden/);
      }
      expect(await workflows.getJobCounts()).toEqual(before);
      expect((await workflows.getJob('waiting-1'))!.data).toEqual({});
    }
    const added = await auditRows(db.pool, `username = 'otto' AND action = 'queue.add'`, []);
    expect(added[0]).toMatchObject({ outcome: 'denied', status: 403, details: { queue: 'workflows' } });

    const { accessToken: token } = await srv.login('otto');
    expect((await srv.api('PUT', '/board/api/queues/workflows/fail-1/retry', { token })).status).toBe(204);
    expect(await workflows.getJobState('fail-1')).toBe('waiting');
    expect((await srv.api('PUT', '/board/api/queues/workflows/ok-1/clean', { token })).status).toBe(204);
    expect(await workflows.getJob('ok-1')).toBeUndefined();
    // (Bull Board cleans with a 5 s grace: the failed job just made stays; the 200 is what counts here.)
    expect((await srv.api('PUT', '/board/api/queues/workflows/clean/failed', { token })).status).toBe(200);
    expect((await srv.api('PUT', '/board/api/queues/pause', { token })).status).toBe(200);
    expect((await srv.api('PUT', '/board/api/queues/resume', { token })).status).toBe(200);
    const retried = await auditRows(db.pool, `username = 'otto' AND action = 'job.retry'`, []);
    expect(retried[0]).toMatchObject({ outcome: 'success', details: { queue: 'workflows', jobId: 'fail-1' } });
    await workflows.obliterate({ force: true });
  });

  it('names the role with the right article when refusing', async () => {
    const { accessToken: token } = await srv.login('otto');
    const r = await srv.api('POST', '/api/runs/any-run/rollback', { token, body: {} });
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('forbidden: this needs the admin role; otto is an operator');
  });
});

describe('the audit log', () => {
  it('records every login, good and bad, with who, what, where and the outcome', async () => {
    await srv.login('ada');
    const bad = await srv.api('POST', '/auth/login', { body: { username: 'ada', password: 'wrong' } });
    expect(bad.status).toBe(401);
    expect(bad.body.error).toBe('Invalid username or password.');
    const unknown = await srv.api('POST', '/auth/login', { body: { username: 'nobody', password: 'x' } });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe(bad.body.error);

    const ok = await auditRows(db.pool, `action = 'auth.login' AND username = 'ada' AND outcome = 'success'`, []);
    expect(ok[0]).toMatchObject({ role: 'admin', method: 'POST', path: '/auth/login', status: 200, ip: expect.stringMatching(/127\.0\.0\.1/) as unknown });
    const failed = await auditRows(db.pool, `action = 'auth.login' AND username = 'ada' AND outcome = 'failure'`, []);
    expect(failed[0]).toMatchObject({ role: null, status: 401, details: { reason: 'wrong password' } });
    const nobody = await auditRows(db.pool, `action = 'auth.login' AND username = 'nobody'`, []);
    expect(nobody[0]).toMatchObject({ outcome: 'failure', details: { reason: 'unknown user' } });
  });

  it('GET /api/audit pages and filters for admins', async () => {
    const { accessToken: token } = await srv.login('ada');
    await auditRows(db.pool, `action = 'auth.login' AND username = 'ada'`, [], 2);
    const page = await srv.api('GET', '/api/audit?limit=2&offset=0', { token });
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ limit: 2, offset: 0 });
    expect((page.body.entries as unknown[]).length).toBe(2);
    expect(page.body.total as number).toBeGreaterThan(2);
    const filtered = await srv.api('GET', '/api/audit?user=otto&action=queue.pause', { token });
    expect(filtered.status).toBe(200);
    const entries = filtered.body.entries as { username: string; action: string; outcome: string }[];
    expect(entries.length).toBeGreaterThanOrEqual(1);
    for (const e of entries) expect(e).toMatchObject({ username: 'otto', action: 'queue.pause' });
    // The next page starts below the last entry of this one, however many were written meanwhile (an
    // ?offset page can repeat an entry then: seen in CI, 37 after 37).
    const ids = (body: Record<string, unknown>) => (body.entries as { id: number }[]).map((e) => e.id);
    expect(page.body.nextBefore).toBe(ids(page.body).at(-1));
    const next = await srv.api('GET', `/api/audit?limit=2&before=${String(page.body.nextBefore)}`, { token });
    expect(next.status).toBe(200);
    expect(ids(next.body)).toHaveLength(2);
    expect(Math.max(...ids(next.body))).toBeLessThan(ids(page.body).at(-1)!);
    expect(ids(next.body)).toEqual([...ids(next.body)].sort((a, b) => b - a));
  });
});

describe('login rate limit', () => {
  it('answers 429 with a clear message after --login-limit attempts per address and username', async () => {
    for (let i = 0; i < 3; i++) expect((await srv.api('POST', '/auth/login', { body: { username: 'mallory', password: `guess-${i}` } })).status).toBe(401);
    const limited = await srv.api('POST', '/auth/login', { body: { username: 'mallory', password: 'mallory-password-1' } });
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatch(/Too many failed login attempts .* at most 3 in 15 minutes/);
    // Per username: another user from the same address still logs in.
    expect((await srv.api('POST', '/auth/login', { body: { username: 'vera', password: 'vera-password-1' } })).status).toBe(200);
    const rows = await auditRows(db.pool, `action = 'auth.login' AND username = 'mallory' AND status = 429`, []);
    expect(rows[0]).toMatchObject({ outcome: 'denied', details: { reason: 'rate limited' } });
  });
});

describe('bad input', () => {
  it('gets a clear 4xx, never a stack, and the server keeps answering', async () => {
    const { accessToken: token } = await srv.login('ada');
    const cases: [string, string, Parameters<TestServer['api']>[2], number, RegExp][] = [
      ['POST', '/auth/login', { body: '{"username": "ada", "password": ' }, 400, /not valid JSON/],
      ['POST', '/auth/login', { body: { username: 1, password: ['x'] } }, 400, /Invalid login request: username/],
      ['POST', '/auth/login', { body: [] }, 400, /Invalid login request/],
      ['POST', '/auth/login', { body: { username: 'ada', password: 'x'.repeat(100 * 1024) } }, 413, /too large/],
      ['POST', '/auth/login', { body: 'username=ada', headers: { 'content-type': 'text/plain' } }, 415, /must be JSON/],
      ['POST', '/auth/login', { body: { username: '\' OR 1=1 --', password: '\' OR \'1\'=\'1' } }, 401, /Invalid username or password/],
      ['POST', '/auth/login', { body: { username: 'ada\'; DROP TABLE ops.audit_log; --', password: 'x' } }, 401, /Invalid username or password/],
      ['POST', '/auth/refresh', { body: { refreshToken: 42 } }, 400, /Invalid refresh request/],
      ['POST', '/auth/refresh', { body: { refreshToken: '\' OR 1=1 --' } }, 401, /not valid/],
      ['POST', '/api/runs/no-such-run/rollback', { token, body: {} }, 404, /no-such-run is not in the ledger/],
      ['POST', `/api/runs/${encodeURIComponent('x\' OR \'1\'=\'1')}/rollback`, { token, body: {} }, 400, /run id/],
      ['POST', '/api/runs/no-such-run/rollback', { token, body: { dryRun: 'yes' } }, 404, /not in the ledger/],
      ['POST', '/api/runs/no-such-run/decommission', { token, body: {} }, 404, /not in the ledger/],
      ['POST', '/api/runs/any/rollback', { token, body: '{bad json' }, 400, /not valid JSON/],
      ['POST', '/api/runs/any/rollback', { token, body: { big: 'x'.repeat(70 * 1024) } }, 413, /too large/],
      ['GET', '/api/audit?limit=abc', { token }, 400, /limit/],
      ['GET', `/api/audit?user=${encodeURIComponent('\' OR 1=1 --')}`, { token }, 200, /./],
      ['GET', '/api/runs/no-such-run', { token }, 404, /not in the ledger/],
      ['GET', '/api/nothing-here', { token }, 404, /Not found/],
    ];
    for (const [method, path, opts, status, message] of cases) {
      const r = await srv.api(method, path, opts);
      const what = `${method} ${path.slice(0, 60)} ${JSON.stringify(opts?.body ?? '').slice(0, 60)}`;
      expect(r.status, what).toBe(status);
      if (status !== 200) expect(r.body.error, what).toMatch(message);
      expectNoLeak(r.body);
    }
    // A login form posted empty (no fields at all) is refused like any other bad login, not a 500.
    const emptyForm = await srv.fetch('/auth/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(emptyForm.status).toBeGreaterThanOrEqual(400);
    expect(emptyForm.status).toBeLessThan(500);
    const tables = await db.pool.query(`SELECT count(*)::int AS n FROM ops.audit_log`);
    expect((tables.rows[0] as { n: number }).n).toBeGreaterThan(0);
    expect((await srv.fetch('/healthz')).status).toBe(200);
    expect((await srv.api('GET', '/api/runs', { token })).status).toBe(200);
  });

  it('a malformed %-escape in the URL is a 400 saying so, not a ledger outage, and logs no error', async () => {
    const { accessToken: token } = await srv.login('ada');
    const errors = vi.spyOn(srv.server.deps.logger, 'error');
    try {
      for (const path of ['/api/runs/%E0%A4%A', '/api/runs/%E0%A4%A/events', '/api/runs/%E0%A4%A/rejects', '/api/runs/%zz/rollback']) {
        const r = await srv.api(path.endsWith('rollback') ? 'POST' : 'GET', path, { token, body: path.endsWith('rollback') ? {} : undefined });
        expect(r.status, path).toBe(400);
        expect(r.body.error, path).toMatch(/malformed %-escape/);
        expectNoLeak(r.body);
      }
      expect(errors).not.toHaveBeenCalled();
    } finally {
      errors.mockRestore();
    }
  });

  it('wrong body types on a known run are 400 with the field named', async () => {
    const { accessToken: token } = await srv.login('ada');
    await db.pool.query(`INSERT INTO ledger.runs (id, status, legacy_dir, fingerprint, queue_token, options) VALUES ('known-run', 'completed', '/nonexistent', 'f', 't', '{}')`);
    const r = await srv.api('POST', '/api/runs/known-run/rollback', { token, body: { dryRun: 'yes' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/dryRun must be true or false/);
    const u = await srv.api('POST', '/api/runs/known-run/rollback', { token, body: { dryRun: true, drop: 'table' } });
    expect(u.status).toBe(400);
    expect(u.body.error).toMatch(/unknown field drop/);
    const d = await srv.api('POST', '/api/runs/known-run/decommission', { token, body: { archiveDir: 7 } });
    expect(d.status).toBe(400);
    expect(d.body.error).toMatch(/archiveDir/);
  });
});

describe('start-up', () => {
  it('--no-auth serves everyone as local-admin, on loopback, and still audits', async () => {
    const open = await startTestServer({ databaseUrl: db.url, prefix, auth: false });
    try {
      expect((await open.api('GET', '/api/runs')).status).toBe(200);
      expect((await open.api('GET', '/api/audit?limit=1')).status).toBe(200);
      expect((await open.api('POST', '/auth/login', { body: { username: 'ada', password: 'x' } })).status).toBe(404);
      expect((await open.api('PUT', '/board/api/queues/workflows/pause')).status).toBe(200);
      expect((await open.api('PUT', '/board/api/queues/workflows/resume')).status).toBe(200);
      const rows = await auditRows(db.pool, `username = 'local-admin' AND action = 'queue.resume'`, []);
      expect(rows[0]).toMatchObject({ role: 'admin', outcome: 'success' });
      // Without logins, another site's page must not drive it: cross-origin writes and foreign host names are refused.
      const csrf = await open.api('PUT', '/board/api/queues/workflows/pause', { headers: { origin: 'http://evil.example' } });
      expect(csrf.status).toBe(403);
      expect(csrf.body.error).toMatch(/cross-origin/);
      const rebound = await new Promise<number>((resolve, reject) => {
        const url = new URL(`${open.url}/api/runs`);
        request({ host: url.hostname, port: url.port, path: url.pathname, headers: { host: `evil.example:${url.port}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject).end();
      });
      expect(rebound).toBe(403);
      // An empty login form is a 4xx, not a crash (there are no logins here: 404), and the server answers.
      const empty = await open.fetch('/auth/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      expect(empty.status).toBeLessThan(500);
    } finally {
      await open.close();
    }
  });

  it('--no-auth binds to loopback only', async () => {
    const settings = loadSettings({ databaseUrl: db.url, redisUrl: REDIS_URL, prefix, logLevel: 'silent' }, { env: {} });
    await expect(startOperationsServer({ settings, logger: createLogger('silent'), port: 0, host: '0.0.0.0', auth: null }))
      .rejects.toThrow(/loopback only: --host 0.0.0.0 is refused/);
  });

  it('`taskfleet users hash-password` makes a hash that verifies', async () => {
    const child = spawn(process.execPath, [BIN, 'users', 'hash-password'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stdin.end('correct horse battery staple\n');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    const hash = out.trim();
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('correct horse battery staple', parsePasswordHash(hash))).toBe(true);
    expect(await verifyPassword('correct horse battery staple\n', parsePasswordHash(hash))).toBe(false);
  });

  it('`taskfleet server` refuses to start without a long enough secret, and with one serves logins', async () => {
    const noSecret = await writeUsersFile(await mkdtemp(join(root, 'a-')), { withSecret: false });
    const conn = ['--new-data', db.url, '--redis', REDIS_URL, '--prefix', prefix, '--port', '0'];
    const short = startCli(['server', '--users', noSecret, ...conn], { env: { TASKFLEET_JWT_SECRET: 'too-short' }, timeoutMs: 60_000 });
    const shortResult = await short.result;
    expect(shortResult.code).toBe(2);
    expect(shortResult.stderr).toMatch(/TASKFLEET_JWT_SECRET is 9 bytes; it must be at least 32/);
    const none = await startCli(['server', '--users', noSecret, ...conn], { timeoutMs: 60_000 }).result;
    expect(none.stderr).toMatch(/No JWT secret/);
    const open = await startCli(['server', '--no-auth', '--host', '0.0.0.0', ...conn], { timeoutMs: 60_000 }).result;
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/loopback only/);

    const cli = startCli(['board', '--users', noSecret, ...conn], { env: { TASKFLEET_JWT_SECRET: TEST_SECRET }, timeoutMs: 60_000 });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const check = () => {
          const m = /taskfleet server: (http:\/\/\S+)/.exec(cli.output().stdout);
          if (m) resolve(m[1]!);
        };
        cli.child.stdout?.on('data', check);
        void cli.result.then((r) => reject(new Error(`server exited: ${r.stderr}`)));
      });
      expect(cli.output().stderr).toMatch(/`taskfleet board` is now `taskfleet server`/);
      expect((await fetch(`${url}/api/runs`)).status).toBe(401);
      const login = await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'vera', password: 'vera-password-1' }) });
      expect(login.status).toBe(200);
      const { accessToken } = (await login.json()) as { accessToken: string };
      expect((await fetch(`${url}/api/runs`, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(200);
    } finally {
      cli.child.kill('SIGTERM');
      const end = await cli.result;
      expect(end.signal ?? end.code).toBe(0);
    }
  });
});

describe('the pure pieces', () => {
  it('names audit actions after what the request does', () => {
    expect(actionOf('POST', '/auth/login')).toBe('auth.login');
    expect(actionOf('PUT', '/board/api/queues/migrate/pause')).toBe('queue.pause');
    expect(actionOf('PUT', '/board/api/queues/pause')).toBe('queue.pause-all');
    expect(actionOf('PUT', '/board/api/queues/migrate/retry/failed')).toBe('queue.retry-all');
    expect(actionOf('PUT', '/board/api/queues/migrate/clean/completed')).toBe('queue.clean-all');
    expect(actionOf('PUT', '/board/api/queues/migrate/run-a.t.tasks.3/retry')).toBe('job.retry');
    expect(actionOf('POST', '/api/runs/r1/rollback')).toBe('run.rollback');
    expect(actionOf('POST', '/api/runs/r1/decommission')).toBe('run.decommission');
    expect(actionOf('DELETE', '/api/whatever')).toBe('request');
  });

  it('classifies board writes as Bull Board routes them (its order, Express\'s case-insensitive matching)', () => {
    expect(classifyBoardWrite('PUT', '/api/queues/q/clean/retry')).toEqual({ endpoint: 'clean-all', queue: 'q', status: 'retry' });
    expect(classifyBoardWrite('PUT', '/api/queues/q/retry/clean')).toEqual({ endpoint: 'retry-all', queue: 'q', status: 'clean' });
    expect(classifyBoardWrite('PUT', '/api/queues/q/empty/retry')).toEqual({ endpoint: 'retry', queue: 'q', jobId: 'empty' });
    expect(classifyBoardWrite('PUT', '/API/Queues/q/Empty/')).toMatchObject({ endpoint: 'empty' });
    expect(classifyBoardWrite('PATCH', '/api/queues/q/job-schedulers/update-data')).toMatchObject({ endpoint: 'job-scheduler' });
    expect(classifyBoardWrite('PUT', '/api/queues/q/a%2Fb/retry')).toEqual({ endpoint: 'retry', queue: 'q', jobId: 'a/b' });
    expect(classifyBoardWrite('POST', '/api/queues/q/pause')).toBeNull();
    expect(mayWrite('operator', { endpoint: 'clean-all', status: 'retry' }).allowed).toBe(false);
    expect(mayWrite('admin', { endpoint: 'add' }).allowed).toBe(false);
    expect(mayWrite('admin', null).allowed).toBe(false);
    expect(mayWrite('operator', { endpoint: 'retry-all', status: 'failed' }).allowed).toBe(true);
    expect(mayWrite('viewer', { endpoint: 'pause' }).allowed).toBe(false);
  });

  it('follows only our own paths after login', () => {
    expect(safeNext('/board/queue/migrate')).toBe('/board/queue/migrate');
    for (const bad of ['//evil.example', '/\\evil.example', 'https://evil.example', 'board', '', 42, undefined]) expect(safeNext(bad)).toBe('/board');
  });

  it('parses durations', () => {
    expect([parseDuration('90s'), parseDuration('15m'), parseDuration('12h'), parseDuration('7d'), parseDuration('30')]).toEqual([90, 900, 43_200, 604_800, 30]);
    expect([parseDuration('0'), parseDuration('-1m'), parseDuration('1w'), parseDuration('')]).toEqual([null, null, null, null]);
  });

  it('rejects a users file with a message naming the entry', async () => {
    expect(() => parseUsersFile('users: []', 'u.yaml')).toThrow(/u.yaml: users must list at least one user/);
    // A syntax error names the line, never its text (the secret on it).
    expect(() => parseUsersFile('jwtSecret: "JwtSecretValue-0123456789abcdef\nusers: []\n', 'u.yaml')).toThrow(/^u\.yaml:3 is not valid YAML: Missing closing "quote$/);
    expect(() => parseUsersFile('users:\n  - username: a\n    role: root\n    passwordHash: x', 'u.yaml')).toThrow(/u.yaml: users.0.role/);
    expect(() => parseUsersFile('users:\n  - username: a\n    role: admin\n    passwordHash: plain-text', 'u.yaml')).toThrow(/users.0.passwordHash \(user a\) must look like scrypt/);
    const good = await usersYaml();
    expect(() => parseUsersFile(`${good}  - username: ada\n    role: viewer\n    passwordHash: "${(/scrypt\$[^"]+/.exec(good))![0]}"\n`, 'u.yaml')).toThrow(/"ada" is listed twice/);
    expect(() => resolveAuthSettings({ usersFile: parseUsersFile(good, 'u.yaml'), usersPath: 'u.yaml', envSecret: undefined, accessTtlSeconds: 900, refreshTtlSeconds: 60, loginRateLimit: { limit: 1, windowMs: 1 } }))
      .toThrow(/--access-ttl \(900s\) must not be longer than --refresh-ttl/);
  });
});
