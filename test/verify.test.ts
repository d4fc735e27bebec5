// Acceptance 3: `taskfleet verify` proves a run against its legacy data, and catches tampering — a
// changed task title, a deleted phase row, a stray task row — naming each one. End to end through the
// built CLI against real Redis and Postgres: a generated dataset with bad records (so rejects exist)
// is migrated by a real fleet, then verified.
//
// Also: a run started from `taskfleet prepare` is checked against prepare's own findings (and a
// disagreement between the two is caught); the latency thresholds come from the settings file; bad
// settings, unknown runs and unfinished runs are usage errors (exit 2); every verification is recorded
// in ledger.verifications and as a phase event.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData, type ExpectedReject } from '../src/generator/generate.js';
import { discoverLegacyFiles } from '../src/legacy/files.js';
import type { CheckResult } from '../src/verification/check-result.js';
import { readLegacyRecords } from '../src/verification/legacy-records.js';
import type { VerificationReport } from '../src/verification/report.js';
import { limitsFor, loadVerificationConfig, parseVerificationConfig } from '../src/verification/verification-config.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { jsonLines, readExpectedRejects, readLegacyFile, runFleet, summaryOf, type SummaryEvent } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const SIZE = { projects: 40, phasesPerProject: 4, tasks: 6000 };
const KINDS = ['projects', 'phases', 'tasks', 'task_dependencies'] as const;

const prefix = uniquePrefix('verify');
let root: string;
let dataDir: string;
let expectedRejects: ExpectedReject[];
const databases: TestDatabase[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-verify-'));
  dataDir = join(root, 'legacy');
  await generateLegacyData({ out: dataDir, format: 'jsonl', ...SIZE, badRatio: 0.02, seed: 31 });
  expectedRejects = await readExpectedRejects(dataDir);
});

afterAll(async () => {
  for (const db of databases) await db.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

async function readReport(path: string): Promise<VerificationReport> {
  return JSON.parse(await readFile(path, 'utf8')) as VerificationReport;
}

function check(report: VerificationReport, name: CheckResult['name']): CheckResult {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`the report has no check ${name}`);
  return found;
}

async function migrate(db: TestDatabase, extra: readonly string[]): Promise<SummaryEvent> {
  const result = await runFleet(db.pool, ['migrate', '--legacy-data', dataDir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', '--no-progress', '--json', ...extra]);
  expect(result.code, result.stderr.slice(-2000)).toBe(0);
  return summaryOf(result);
}

describe('verify a run started with --skip-prepare (expected rejects: the migration\'s own)', () => {
  let db: TestDatabase;
  let summary: SummaryEvent;
  let verify: (...extra: string[]) => ReturnType<typeof runCli>;

  beforeAll(async () => {
    db = await createTestDatabase('verify');
    databases.push(db);
    summary = await migrate(db, ['--skip-prepare']);
    verify = (...extra) => runCli(['verify', summary.runId, ...connectionArgs(db, prefix, REDIS_URL), ...extra]);
  });

  it('passes on a clean run: exit 0, every check passed or skipped with its reason, the counts are the data\'s', async () => {
    const reportPath = join(root, 'clean', 'report.json');
    const result = await verify('--verification-report', reportPath);
    expect(result.code, `${result.stdout}\n${result.stderr.slice(-2000)}`).toBe(0);
    expect(result.stdout).toContain(`Verification of run ${summary.runId}: PASSED`);
    expect(result.stdout).toContain(`Report: ${reportPath}`);

    const report = await readReport(reportPath);
    expect(report.runId).toBe(summary.runId);
    expect(report.passed).toBe(true);
    for (const c of report.checks) {
      expect(['passed', 'skipped'], `${c.name}: ${JSON.stringify(c.samples)}`).toContain(c.status);
      if (c.status === 'skipped') expect(c.reason, c.name).toMatch(/\w+/);
      expect(c.mismatches).toBe(0);
    }
    // Every check of the issue is there; every task has its workflow, and the run ran none of them (the
    // shipped templates are all manual), so the run check is skipped with that reason.
    expect(report.checks.map((c) => c.name)).toEqual(['legacy_source', 'counts', 'rejects', 'fields', 'missing_rows', 'stray_rows',
      'orphans', 'dependency_edges', 'one_workflow_per_task', 'workflow_runs', 'performance']);
    expect(check(report, 'one_workflow_per_task').status).toBe('passed');
    expect(check(report, 'one_workflow_per_task').checked).toBeGreaterThan(0);
    expect(check(report, 'workflow_runs').status).toBe('skipped');
    expect(check(report, 'workflow_runs').reason).toContain('manual');
    expect(check(report, 'fields').status).toBe('passed');
    expect(check(report, 'performance').details?.queries).toHaveLength(3);

    // The counts are the data's own: per kind, legacy = migrated + rejected, the rejects are exactly the
    // generator's expected ones, and they agree with the migration's summary.
    for (const kind of KINDS) {
      const counted = report.counts.find((k) => k.kind === kind)!;
      const migrated = summary.kinds.find((k) => k.kind === kind)!;
      expect(counted, kind).toEqual({ kind, legacy: migrated.legacy, migrated: migrated.migrated, rejected: migrated.rejected });
      expect(counted.legacy).toBe(counted.migrated + counted.rejected);
      expect(counted.rejected, kind).toBe(expectedRejects.filter((r) => r.kind === kind).length);
    }
    expect(report.counts.find((k) => k.kind === 'tasks')!.rejected).toBeGreaterThan(0);
    // Every record of the four files was read (this test's own reading of them).
    let records = 0;
    for (const kind of KINDS) records += (await readLegacyFile(join(dataDir, `${kind}.jsonl`), 'jsonl')).length;
    expect(report.legacyRecords).toBe(records);

    // Recorded: a passed verification row pointing at the report, and a passed verify phase event.
    const { rows: verifications } = await db.pool.query<{ passed: boolean; report_path: string; checks: CheckResult[] }>(
      'SELECT passed, report_path, checks FROM ledger.verifications WHERE run_id = $1 ORDER BY id', [summary.runId]);
    expect(verifications).toHaveLength(1);
    expect(verifications[0]).toMatchObject({ passed: true, report_path: reportPath });
    expect(verifications[0]!.checks.map((c) => c.name)).toContain('dependency_edges');
    const { rows: events } = await db.pool.query<{ outcome: string }>(`SELECT outcome FROM ledger.phase_events WHERE run_id = $1 AND phase = 'verify'`, [summary.runId]);
    expect(events.map((e) => e.outcome)).toEqual(['passed']);
  });

  it('takes its latency thresholds from the settings file: impossible limits fail the performance check alone (exit 1)', async () => {
    const thresholds = join(root, 'strict.yaml');
    await writeFile(thresholds, 'maxSamples: 5\nworkflows: { sampleSize: 10 }\nperformance: { runs: 3, p50Ms: 0.0001, p95Ms: 0.0001 }\n');
    const reportPath = join(root, 'strict', 'report.json');
    const result = await verify('--verification-report', reportPath, '--thresholds', thresholds);
    expect(result.code, result.stderr.slice(-2000)).toBe(1);
    const report = await readReport(reportPath);
    expect(report.passed).toBe(false);
    expect(report.checks.filter((c) => c.status === 'failed').map((c) => c.name)).toEqual(['performance']);
    const performance = check(report, 'performance');
    expect(performance.samples.length).toBeGreaterThan(0);
    expect(performance.samples.length).toBeLessThanOrEqual(5);
    expect(performance.samples[0]!.problem).toMatch(/^(project_tasks|phase_board|user_open_tasks): p(50|95) [\d.]+ ms is over 0.0001 ms$/);
    expect(result.stdout).toContain('FAILED');
  });

  it('refuses bad settings, unknown runs and unfinished runs as usage errors (exit 2), naming the setting or the run', async () => {
    const bad = join(root, 'bad.yaml');
    await writeFile(bad, 'maxSamples: 5\nworkflows: { sampleSize: 10 }\nperformance: { runs: 3, p50Ms: 100, p95Ms: -1 }\n');
    const badSettings = await verify('--thresholds', bad);
    expect(badSettings.code).toBe(2);
    expect(badSettings.stderr).toContain(`Verification settings ${bad}: performance.p95Ms: must be more than 0`);
    const unknownSetting = join(root, 'unknown.yaml');
    await writeFile(unknownSetting, 'maxSamples: 5\nworkflows: { sampleSize: 10 }\nperformance: { runs: 3, p50Ms: 100, p95Ms: 200 }\nthreshold: 3\n');
    expect((await verify('--thresholds', unknownSetting)).stderr).toContain('threshold');

    const unknown = await runCli(['verify', 'no-such-run', ...connectionArgs(db, prefix, REDIS_URL)]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Run no-such-run is not in the ledger');

    await db.pool.query(`INSERT INTO ledger.runs (id, status, legacy_dir, fingerprint, queue_token, options) VALUES ('unfinished', 'running', $1, 'x', 'y', '{}')`, [dataDir]);
    const unfinished = await runCli(['verify', 'unfinished', ...connectionArgs(db, prefix, REDIS_URL)]);
    expect(unfinished.code).toBe(2);
    expect(unfinished.stderr).toContain('Run unfinished is running, not completed');
    const { rows } = await db.pool.query<{ outcome: string; error: string }>(`SELECT outcome, error FROM ledger.phase_events WHERE run_id = 'unfinished'`);
    expect(rows).toEqual([{ outcome: 'refused', error: expect.stringContaining('not completed') as string }]);
  });

  it('catches tampering and names each: a changed task title, a deleted phase row, a stray task row (exit 1)', async () => {
    const { rows: [task] } = await db.pool.query<{ id: string; legacy_id: string }>(
      'UPDATE tms.tasks SET title = title || \' (changed in Postgres)\' WHERE id = (SELECT id FROM tms.tasks WHERE run_id = $1 ORDER BY legacy_line LIMIT 1) RETURNING id, legacy_id', [summary.runId]);
    const { rows: [phase] } = await db.pool.query<{ legacy_id: string }>(
      'DELETE FROM tms.phases WHERE id = (SELECT id FROM tms.phases WHERE run_id = $1 ORDER BY legacy_line DESC LIMIT 1) RETURNING legacy_id', [summary.runId]);
    await db.pool.query(`INSERT INTO tms.tasks (id, legacy_id, project_id, title, status, priority, type, run_id, last_run_id, legacy_line)
      SELECT '00000000-0000-4000-8000-000000000001', 'STRAY-TASK-1', project_id, 'Nobody migrated me', 'todo', 'low', 'default', $1, $1, 1
      FROM tms.tasks LIMIT 1`, [summary.runId]);

    const reportPath = join(root, 'tampered', 'report.json');
    const result = await verify('--verification-report', reportPath, '--max-samples', '3', '--json');
    expect(result.code, result.stderr.slice(-2000)).toBe(1);
    const overview = jsonLines(result.stdout).at(-1)!;
    expect(overview).toMatchObject({ event: 'verification', runId: summary.runId, passed: false, reportPath });

    const report = await readReport(reportPath);
    expect(report.passed).toBe(false);
    // The changed title: the task's legacy id, and `title` as the one field that differs.
    const fields = check(report, 'fields');
    expect(fields.status).toBe('failed');
    expect(fields.mismatches).toBe(1);
    expect(fields.samples).toEqual([expect.objectContaining({ kind: 'tasks', legacyId: task!.legacy_id, fields: ['title'] })]);
    expect(fields.samples[0]!.problem).toContain(`${task!.legacy_id}`);
    // The deleted phase: named by its legacy id as a missing row.
    const missing = check(report, 'missing_rows');
    expect(missing.mismatches).toBe(1);
    expect(missing.samples).toEqual([expect.objectContaining({ kind: 'phases', legacyId: phase!.legacy_id })]);
    // The stray task: named by its legacy id.
    const stray = check(report, 'stray_rows');
    expect(stray.mismatches).toBe(1);
    expect(stray.samples).toEqual([expect.objectContaining({ kind: 'tasks', legacyId: 'STRAY-TASK-1' })]);
    // The deleted phase's tasks are orphans now: counted exactly, sampled up to --max-samples, named by the phase's legacy id.
    const orphans = check(report, 'orphans');
    expect(orphans.mismatches).toBeGreaterThan(3);
    expect(orphans.samples).toHaveLength(3);
    expect(orphans.samples[0]).toMatchObject({ kind: 'tasks', parent: 'phase', parentLegacyId: phase!.legacy_id });
    // The per-kind accounting no longer balances for phases and tasks.
    expect(check(report, 'counts').mismatches).toBe(2);
    expect(check(report, 'rejects').status).toBe('passed');

    const { rows } = await db.pool.query<{ passed: boolean }>('SELECT passed FROM ledger.verifications WHERE run_id = $1 ORDER BY id DESC LIMIT 1', [summary.runId]);
    expect(rows[0]!.passed).toBe(false);
  });
});

describe('verify a run started from a prepare (expected rejects: prepare\'s findings)', () => {
  let db: TestDatabase;
  let summary: SummaryEvent;

  beforeAll(async () => {
    db = await createTestDatabase('verify_prepared');
    databases.push(db);
    const prepare = await runCli(['prepare', '--legacy-data', dataDir, '--backup', join(root, 'backup'), '--validation-report', join(root, 'validation.json'),
      '--max-rejects', '1000000', ...connectionArgs(db, prefix, REDIS_URL), '--json']);
    expect(prepare.code, prepare.stderr.slice(-2000)).toBe(0);
    summary = await migrate(db, []);
  });

  it('checks the migration\'s rejects against prepare\'s findings, and catches a disagreement', async () => {
    const { rows: [run] } = await db.pool.query<{ preparation_id: string | null }>('SELECT preparation_id FROM ledger.runs WHERE id = $1', [summary.runId]);
    expect(run!.preparation_id).not.toBeNull();
    const reportPath = join(root, 'prepared', 'report.json');
    const args = ['verify', summary.runId, ...connectionArgs(db, prefix, REDIS_URL), '--verification-report', reportPath];
    const clean = await runCli(args);
    expect(clean.code, `${clean.stdout}\n${clean.stderr.slice(-2000)}`).toBe(0);
    const report = await readReport(reportPath);
    expect(report.expectedRejects).toContain(`prepare #${run!.preparation_id}`);
    expect(check(report, 'rejects')).toMatchObject({ status: 'passed', details: { source: 'preparation', migrationRejects: expectedRejects.length, expectedRejects: expectedRejects.length } });

    // Prepare "forgets" one bad task: the migration's reject of it is now unexplained, and its row is expected.
    const { rows: [forgotten] } = await db.pool.query<{ ref: string }>(
      `DELETE FROM ledger.validation_findings WHERE ctid = (SELECT ctid FROM ledger.validation_findings
         WHERE preparation_id = $1 AND kind = 'tasks' AND severity = 'error' ORDER BY line LIMIT 1) RETURNING ref`, [run!.preparation_id]);
    const disagreeing = await runCli(args);
    expect(disagreeing.code).toBe(1);
    const after = await readReport(reportPath);
    const rejects = check(after, 'rejects');
    expect(rejects.mismatches).toBe(1);
    expect(rejects.samples[0]).toMatchObject({ kind: 'tasks', ref: forgotten!.ref });
    expect(rejects.samples[0]!.problem).toContain('prepare found nothing wrong with it');
  });
});

describe('the legacy side: verify\'s own streaming reader', () => {
  it.each(['csv', 'json', 'jsonl'] as const)('reads every record of a %s file, across read buffers, with its line and fields', async (format) => {
    const dir = join(root, `reader-${format}`);
    await generateLegacyData({ out: dir, format, projects: 10, phasesPerProject: 2, tasks: 4000, badRatio: 0.02, seed: 3 });
    const [file] = (await discoverLegacyFiles(dir)).filter((f) => f.kind === 'tasks');
    expect(file!.bytes).toBeGreaterThan(2 * 1024 * 1024); // more than two read buffers
    const totals = { records: 0, sha256: '' };
    const read: { line: number; fields: Record<string, unknown> | null }[] = [];
    // No size limit here (the generator's oversized record would come back unparsed): every record parses.
    for await (const batch of readLegacyRecords(file!, { maxRecordBytes: 64 * 1024 * 1024 }, totals)) {
      for (const r of batch) read.push({ line: r.line, fields: r.fields });
    }
    const own = await readLegacyFile(file!.path, format);
    expect(read).toEqual(own.map((r) => ({ line: r.line, fields: r.fields })));
    expect(totals.records).toBe(own.length);
    expect(totals.sha256).toBe(createHash('sha256').update(await readFile(file!.path)).digest('hex'));
  });
});

describe('verification settings', () => {
  it('the shipped config/verification.yaml is valid', () => {
    const config = loadVerificationConfig();
    expect(config.maxSamples).toBeGreaterThan(0);
    expect(config.performance.p95Ms).toBeGreaterThanOrEqual(config.performance.p50Ms);
  });

  it('lays a --thresholds file over the shipped settings: it lists only what differs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tf-thresholds-'));
    try {
      const file = join(dir, 'slow-disk.yaml');
      await writeFile(file, 'performance:\n  p95Ms: 2000\n  queries: { user_open_tasks: { p50Ms: 700, p95Ms: 3000 } }\n');
      const shipped = loadVerificationConfig();
      const config = loadVerificationConfig(file);
      expect(config).toEqual({ ...shipped, performance: { ...shipped.performance, p95Ms: 2000, queries: { user_open_tasks: { p50Ms: 700, p95Ms: 3000 } } } });
      expect(limitsFor(config, 'user_open_tasks')).toEqual({ p50Ms: 700, p95Ms: 3000 });
      await writeFile(file, 'performance: { queries: { phase_board: { p95Ms: 4000 } } }\n');
      expect(limitsFor(loadVerificationConfig(file), 'phase_board')).toEqual({ p50Ms: shipped.performance.p50Ms, p95Ms: 4000 });
      await writeFile(file, 'performance: { p95Ms: -1 }\n');
      expect(() => loadVerificationConfig(file)).toThrow(`Verification settings ${file}: performance.p95Ms: must be more than 0`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the setting that is wrong', () => {
    const valid = { maxSamples: 3, workflows: { sampleSize: 5 }, performance: { runs: 2, p50Ms: 1, p95Ms: 2 } };
    expect(parseVerificationConfig(valid, 'x.yaml').performance.queries).toEqual({});
    expect(() => parseVerificationConfig({ ...valid, maxSamples: 1.5 }, 'x.yaml')).toThrow('Verification settings x.yaml: maxSamples: must be a whole number');
    expect(() => parseVerificationConfig({ ...valid, workflows: {} }, 'x.yaml')).toThrow('workflows.sampleSize');
    expect(() => parseVerificationConfig({ ...valid, performance: { ...valid.performance, queries: { project_tasks: { p50Ms: 1, p95Ms: 'fast' } } } }, 'x.yaml'))
      .toThrow('performance.queries.project_tasks.p95Ms: must be a number of milliseconds');
    expect(() => parseVerificationConfig({ ...valid, performance: { ...valid.performance, queries: { all_tasks: { p50Ms: 1, p95Ms: 2 } } } }, 'x.yaml'))
      .toThrow('performance.queries');
  });
});
