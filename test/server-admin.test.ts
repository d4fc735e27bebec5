// The lifecycle API of the operations server (issue 5): an admin rolls back a real run — migrated from
// a small generated data set by the CLI — through POST /api/runs/:id/rollback, and the audit log records
// who did it and what it removed; an operator is refused (403) and changes nothing; the gates of the
// lifecycle code answer 409 with their message (already rolled back, nothing to decommission).
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { ROLLBACK_ORDER } from '../src/lifecycle/rollback.js';
import { connectionArgs } from './helpers/cli.js';
import { runFleet, summaryOf } from './helpers/legacy-files.js';
import { auditRows, startTestServer, type TestServer } from './helpers/server.js';
import { createTestDatabase, deleteQueueKeys, uniquePrefix, type TestDatabase } from './helpers/services.js';

const prefix = uniquePrefix('server_admin');
const RUN = 'srv-admin-a';
let root: string;
let db: TestDatabase;
let srv: TestServer;

/** Rows of every table a rollback empties (ROLLBACK_ORDER) that the run created. */
async function rowsOfRun(runId: string): Promise<number> {
  let n = 0;
  for (const table of ROLLBACK_ORDER) {
    const { rows: [r] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE run_id = $1`, [runId]);
    n += r!.n;
  }
  return n;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-server-admin-'));
  const legacy = join(root, 'legacy');
  await generateLegacyData({ out: legacy, projects: 4, phasesPerProject: 2, tasks: 300, format: 'jsonl', seed: 11 });
  db = await createTestDatabase('server_admin');
  const migrated = await runFleet(db.pool, ['migrate', '--legacy-data', legacy, '--run-id', RUN, '--workers', '1', '--no-progress', '--json', '--skip-prepare', ...connectionArgs(db, prefix)]);
  expect(migrated.code, migrated.stderr).toBe(0);
  expect(summaryOf(migrated).status).toBe('completed');
  srv = await startTestServer({ databaseUrl: db.url, prefix });
}, 180_000);

describe('phases in the audit log', () => {
  it('a phase started from the command line is audited: who (OS user), where (host), which phase and run', async () => {
    const { rows } = await db.pool.query<{ username: string; role: string; ip: string; outcome: string; details: { runId: string; phaseEventId: number } }>(
      `SELECT username, role, ip, outcome, details FROM ops.audit_log WHERE action = 'phase.migrate'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ username: userInfo().username, role: 'process', ip: hostname(), outcome: 'success' });
    expect(rows[0]!.details.runId).toBe(RUN);
    const { rows: events } = await db.pool.query<{ id: string }>(`SELECT id::text FROM ledger.phase_events WHERE phase = 'migrate' AND run_id = $1`, [RUN]);
    expect(events.map((e) => Number(e.id))).toEqual([rows[0]!.details.phaseEventId]);
  });

  // Found by the secrets probe: every phase's audit row said success, refused and failed ones too.
  it('its audit row takes the phase\'s outcome: passed is success, refused is denied', async () => {
    const { rows: [migrated] } = await db.pool.query<{ outcome: string; details: { phaseOutcome?: string } }>(
      `SELECT outcome, details FROM ops.audit_log WHERE action = 'phase.migrate'`);
    expect([migrated!.outcome, migrated!.details.phaseOutcome]).toEqual(['success', 'passed']);
    const refused = await runFleet(db.pool, ['decommission', RUN, '--archive', join(root, 'never'), ...connectionArgs(db, prefix)]);
    expect(refused.code, refused.stderr).toBe(2);
    const { rows } = await db.pool.query<{ outcome: string; details: { phaseOutcome?: string } }>(
      `SELECT outcome, details FROM ops.audit_log WHERE action = 'phase.decommission' ORDER BY id`);
    expect(rows.map((r) => [r.outcome, r.details.phaseOutcome])).toEqual([['denied', 'refused']]);
  });
});

afterAll(async () => {
  await srv?.close();
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) {
    // Decommission leaves run B's legacy data read-only.
    await chmod(join(root, 'legacy-b'), 0o755).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
});

describe('POST /api/runs/:id/rollback', () => {
  it('is refused to an operator (403), and the run keeps every row', async () => {
    const before = await rowsOfRun(RUN);
    expect(before).toBeGreaterThan(300);
    const { accessToken: token } = await srv.login('otto');
    const r = await srv.api('POST', `/api/runs/${RUN}/rollback`, { token, body: {} });
    expect(r.status).toBe(403);
    expect(r.body.error).toMatch(/needs the admin role/);
    expect(await rowsOfRun(RUN)).toBe(before);
    const rows = await auditRows(db.pool, `action = 'run.rollback' AND username = 'otto'`, []);
    expect(rows[0]).toMatchObject({ outcome: 'denied', status: 403, role: 'operator', path: `/api/runs/${RUN}/rollback` });
  });

  it('previews with dryRun and changes nothing', async () => {
    const before = await rowsOfRun(RUN);
    const { accessToken: token } = await srv.login('ada');
    const r = await srv.api('POST', `/api/runs/${RUN}/rollback`, { token, body: { dryRun: true } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.dryRun).toBe(true);
    const plan = r.body.plan as { deletes: { table: string; rows: number }[]; refusals: unknown[] };
    expect(plan.deletes.reduce((n, d) => n + d.rows, 0)).toBe(before);
    expect(plan.refusals).toEqual([]);
    expect(await rowsOfRun(RUN)).toBe(before);
  });

  it('rolls the run back for an admin, and the audit row says who and what', async () => {
    const before = await rowsOfRun(RUN);
    const { accessToken: token } = await srv.login('ada');
    const r = await srv.api('POST', `/api/runs/${RUN}/rollback`, { token, body: { dryRun: false } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.dryRun).toBe(false);
    expect(typeof r.body.rolledBackAt).toBe('string');
    const deleted = r.body.deleted as { table: string; rows: number }[];
    expect(deleted.reduce((n, d) => n + d.rows, 0)).toBe(before);
    expect(await rowsOfRun(RUN)).toBe(0);
    const { rows: [run] } = await db.pool.query<{ status: string }>('SELECT status FROM ledger.runs WHERE id = $1', [RUN]);
    expect(run!.status).toBe('rolled_back');

    const rows = await auditRows(db.pool, `action = 'run.rollback' AND username = 'ada' AND details->>'dryRun' = 'false'`, []);
    expect(rows[0]).toMatchObject({ role: 'admin', method: 'POST', outcome: 'success', status: 200, ip: expect.stringMatching(/127\.0\.0\.1/) as unknown });
    expect(rows[0]!.details).toMatchObject({ runId: RUN, force: false });
    expect(Object.values(rows[0]!.details!.deleted as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(before);
    // The admin can read it back through the API too.
    const audit = await srv.api('GET', '/api/audit?action=run.rollback&user=ada', { token });
    expect((audit.body.entries as { outcome: string }[]).map((e) => e.outcome)).toContain('success');
  });

  it('answers the lifecycle gates with 409 and their message', async () => {
    const { accessToken: token } = await srv.login('ada');
    const again = await srv.api('POST', `/api/runs/${RUN}/rollback`, { token, body: {} });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/already rolled back/);
    const decommission = await srv.api('POST', `/api/runs/${RUN}/decommission`, { token, body: { archiveDir: join(root, 'archive') } });
    expect(decommission.status).toBe(409);
    expect(decommission.body.error).toMatch(/was rolled back/);
    const refused = await auditRows(db.pool, `action = 'run.decommission' AND username = 'ada'`, []);
    expect(refused[0]).toMatchObject({ outcome: 'failure', status: 409 });
    expect(String(refused[0]!.details!.error)).toMatch(/was rolled back/);
    const { rows } = await db.pool.query<{ outcome: string }>(`SELECT outcome FROM ledger.phase_events WHERE run_id = $1 AND phase = 'decommission' ORDER BY id`, [RUN]);
    expect(rows.map((r) => r.outcome)).toEqual(['refused', 'refused']); // the first, from the command line (above)
  });
});

describe('POST /api/runs/:id/decommission', () => {
  it('archives and retires a verified run for an admin; after it, rollback is refused', async () => {
    // Run B starts after A's rollback, so it shares no rows with anything.
    const legacy = join(root, 'legacy-b');
    await generateLegacyData({ out: legacy, projects: 2, phasesPerProject: 2, tasks: 100, format: 'jsonl', seed: 12 });
    const args = connectionArgs(db, prefix);
    const migrated = await runFleet(db.pool, ['migrate', '--legacy-data', legacy, '--run-id', 'srv-admin-b', '--workers', '1', '--no-progress', '--json', '--skip-prepare', ...args]);
    expect(migrated.code, migrated.stderr).toBe(0);
    const verified = await runFleet(db.pool, ['verify', 'srv-admin-b', '--verification-report', join(root, 'verify-b.json'), ...args]);
    expect(verified.code, verified.stderr).toBe(0);

    const archiveDir = join(root, 'archive');
    const operator = await srv.login('otto');
    expect((await srv.api('POST', '/api/runs/srv-admin-b/decommission', { token: operator.accessToken, body: { archiveDir } })).status).toBe(403);

    const { accessToken: token } = await srv.login('ada');
    const missing = await srv.api('POST', '/api/runs/srv-admin-b/decommission', { token, body: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/archiveDir/);
    const r = await srv.api('POST', '/api/runs/srv-admin-b/decommission', { token, body: { archiveDir } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ runId: 'srv-admin-b', alreadyDone: false });
    expect(String(r.body.archivePath)).toContain(archiveDir);
    const rows = await auditRows(db.pool, `action = 'run.decommission' AND username = 'ada' AND outcome = 'success'`, []);
    expect(rows[0]!.details).toMatchObject({ runId: 'srv-admin-b', archiveDir, alreadyDone: false });

    const rollback = await srv.api('POST', '/api/runs/srv-admin-b/rollback', { token, body: {} });
    expect(rollback.status).toBe(409);
    expect(rollback.body.error).toMatch(/decommissioned/);
  }, 180_000);
});
