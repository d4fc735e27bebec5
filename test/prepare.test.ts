// The prepare phase end to end, through the built CLI against a real Postgres (acceptance 2 and 6):
// clean data passes with a verified backup and a ledger record; generated bad data (--bad-ratio) gives
// a report whose errors are exactly `_expected_rejects.jsonl` in every format, blocking unless
// --max-rejects accepts them; hand-made encoding and size faults are reported with file:line; a
// tampered backup is caught by the re-read; a missing directory is a one-line usage error; and the
// report's errors equal what a real migration of the same data rejects.
//
// Files, backups and reports are checked with this file's own reading and hashing.
import { createHash } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData, type ExpectedReject } from '../src/generator/generate.js';
import { backupLegacyData, verifyBackup } from '../src/lifecycle/backup.js';
import { buildManifest } from '../src/lifecycle/manifest.js';
import { connectionArgs, runCli, type CliResult } from './helpers/cli.js';
import { firstOf, jsonLines, readExpectedRejects, runFleet, summaryOf, type LegacyFormat } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const BAD_SIZE = { projects: 30, phasesPerProject: 4, tasks: 3000 };
const FORMATS: readonly LegacyFormat[] = ['jsonl', 'csv', 'json'];

let root: string;
let db: TestDatabase;
const prefix = uniquePrefix('prepare');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-prepare-'));
  db = await createTestDatabase('prepare');
});

afterAll(async () => {
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

interface ReportFinding { kind: string; class: string; ref: string; file: string; line: number; legacyId: string | null; field: string | null; reason: string; count?: number }
interface Report {
  legacyDir: string;
  manifestSha256: string;
  preparationId: number;
  passed: boolean;
  blockingErrors: number;
  warnings: number;
  perKind: Record<string, { records: number; valid: number; errors: number; warnings: number }>;
  backup: { dir: string; verified: boolean } | null;
  findings: { errors: ReportFinding[]; warnings: ReportFinding[] };
}
interface PrepareLine { event: string; passed: boolean; preparationId: number; manifestSha256: string; errors: number; reportPath: string; summaryPath: string; backupDir: string }

async function prepare(dir: string, out: string, extra: readonly string[] = []): Promise<CliResult> {
  return runCli(['prepare', '--legacy-data', dir, '--backup', join(out, 'backup'), '--validation-report', join(out, 'report.json'), '--new-data', db.url, ...extra]);
}

const readReport = async (out: string): Promise<Report> => JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Report;
const prepareLine = (result: CliResult): PrepareLine => {
  const line = jsonLines(result.stdout).find((e) => e.event === 'prepare');
  if (!line) throw new Error(`no prepare line in stdout (exit ${String(result.code)}): ${result.stdout.slice(-1000)} ${result.stderr.slice(-1000)}`);
  return line as unknown as PrepareLine;
};
const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');
const errorKey = (e: { kind: string; ref: string; field: string | null; legacyId: string | null }) => `${e.kind} ${e.ref} field=${String(e.field)} id=${String(e.legacyId)}`;
/** `tasks.jsonl:12` or `tasks.jsonl:12#depends_on[0]` -> file and line. */
const REF = /^(.+):(\d+)(?:#depends_on\[\d+\])?$/;

describe('clean generated data (5k tasks, jsonl)', () => {
  let dir: string;
  let out: string;
  let first: CliResult;
  let line: PrepareLine;
  let report: Report;

  beforeAll(async () => {
    dir = join(root, 'clean');
    out = join(root, 'clean-out');
    await generateLegacyData({ out: dir, format: 'jsonl', projects: 50, phasesPerProject: 4, tasks: 5000 });
    first = await prepare(dir, out, ['--json']);
    line = prepareLine(first);
    report = await readReport(out);
  });

  it('passes (exit 0) with a report of zero errors and every record valid', async () => {
    expect(first.code, first.stderr).toBe(0);
    expect(line).toMatchObject({ passed: true, errors: 0 });
    expect(report).toMatchObject({ passed: true, blockingErrors: 0, preparationId: line.preparationId, manifestSha256: line.manifestSha256 });
    expect(report.findings.errors).toEqual([]);
    expect(report.perKind.tasks).toMatchObject({ records: 5000, valid: 5000, errors: 0 });
    expect(report.perKind.task_dependencies!.records).toBeGreaterThan(1000);
    // Warnings say what is kept or defaulted, each with a place to look.
    for (const w of report.findings.warnings) expect(w.ref.startsWith(w.file), JSON.stringify(w)).toBe(true);
    expect(await readFile(line.summaryPath, 'utf8')).toContain('Prepare PASSED');
  });

  it('backs up every file with a manifest whose SHA-256s are the originals\'', async () => {
    const names = (await readdir(dir)).sort();
    expect(line.backupDir).toBe(join(out, 'backup', line.manifestSha256.slice(0, 16)));
    const manifest = JSON.parse(await readFile(join(line.backupDir, 'manifest.json'), 'utf8')) as { sha256: string; files: { name: string; bytes: number; sha256: string }[] };
    expect(manifest.sha256).toBe(line.manifestSha256);
    expect(manifest.files.map((f) => f.name)).toEqual(names);
    for (const f of manifest.files) {
      const original = await sha256(join(dir, f.name));
      expect(f.sha256, f.name).toBe(original);
      expect(await sha256(join(line.backupDir, f.name)), `backup copy of ${f.name}`).toBe(original);
      expect((await stat(join(dir, f.name))).size).toBe(f.bytes);
    }
    expect((await readdir(line.backupDir)).sort()).toEqual([...names, 'manifest.json'].sort());
  });

  it('records a passed preparation and a passed prepare phase event in the ledger', async () => {
    const { rows: [prep] } = await db.pool.query<{ passed: boolean; manifest_sha256: string; backup_dir: string; report_path: string; errors: number }>(
      'SELECT passed, manifest_sha256, backup_dir, report_path, errors FROM ledger.preparations WHERE id = $1', [line.preparationId]);
    expect(prep).toEqual({ passed: true, manifest_sha256: line.manifestSha256, backup_dir: line.backupDir, report_path: join(out, 'report.json'), errors: 0 });
    const { rows: events } = await db.pool.query<{ phase: string; outcome: string }>(
      'SELECT phase, outcome FROM ledger.phase_events WHERE preparation_id = $1', [line.preparationId]);
    expect(events).toEqual([{ phase: 'prepare', outcome: 'passed' }]);
  });

  it('run again, it reuses the same backup directory and prints the readable summary', async () => {
    const again = await prepare(dir, out);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/tasks\s+5000\s+5000\s+0/);
    expect(again.stdout).toContain(`Backup: ${line.backupDir} (`);
    expect(again.stdout).toContain('existing backup reused');
    expect(again.stdout).toContain('Prepare PASSED');
    expect(await readdir(join(out, 'backup'))).toEqual([line.manifestSha256.slice(0, 16)]);
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger.preparations WHERE manifest_sha256 = $1 AND passed', [line.manifestSha256]);
    expect(rows[0]!.n).toBe(2);
  });

  // Found by the README probe: after a rollback left a file behind, migrate said only "the data may have
  // changed since", not which file.
  it('a migrate after the data changed is refused, naming what changed since the last passed prepare', async () => {
    const extra = join(dir, 'notes.txt');
    await writeFile(extra, 'not legacy data\n');
    try {
      const r = await runCli(['migrate', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL)]);
      expect(r.code, r.stderr).toBe(2);
      // The latest passed one: "run again" above made a second.
      const { rows: [latest] } = await db.pool.query<{ id: number }>('SELECT max(id)::int AS id FROM ledger.preparations WHERE passed');
      expect(r.stderr).toContain(`No successful prepare of the legacy data in ${dir}: since its last passed prepare (#${latest!.id}, `);
      expect(r.stderr).toContain('notes.txt: unexpected');
      expect(r.stderr).toContain(`run \`taskfleet prepare --legacy-data ${dir}\` first`);
    } finally {
      await rm(extra);
    }
  });

  it('fails on workflow templates that do not serve the data: a type without template, a broken file, a disallowed image', async () => {
    // Templates for only some types, no default.yaml: the generated data's other types have none.
    const templates = join(root, 'bad-templates');
    await mkdir(templates, { recursive: true });
    await writeFile(join(templates, 'bug.yaml'), 'version: "1"\nrun: manual\nsteps:\n  - name: s\n    image: evil.example/miner:latest\n    command: ["true"]\n');
    await writeFile(join(templates, 'feature.yaml'), 'version: "1"\nrun: sometimes\nsteps: []\n');
    const badOut = join(root, 'clean-templates-out');
    const result = await prepare(dir, badOut, ['--templates-dir', templates, '--json']);
    expect(result.code, result.stderr).toBe(1);
    const failed = prepareLine(result);
    expect(failed.passed).toBe(false);
    const errors = (await readReport(badOut)).findings.errors;
    const byClass = (c: string) => errors.filter((e) => e.class === c);
    expect(byClass('workflow_image_not_allowed').map((e) => `${e.ref} ${String(e.field)}`)).toEqual([expect.stringMatching(/bug\.yaml.*image/)]);
    expect(byClass('workflow_template_invalid').length).toBeGreaterThan(0);
    expect(byClass('workflow_template_invalid').every((e) => e.ref.includes('feature.yaml'))).toBe(true);
    // Every other type present in the data is missing, pointing at its first task's line.
    const missing = byClass('workflow_template_missing');
    expect(missing.length).toBeGreaterThan(0);
    for (const m of missing) expect(m.ref, m.reason).toMatch(/^tasks\.jsonl:\d+$/);
    // The data itself is clean: every blocking error is a template one.
    expect(errors.every((e) => e.class.startsWith('workflow_'))).toBe(true);
  });
});

describe.each(FORMATS)('%s data with bad records (--bad-ratio 0.02)', (format) => {
  let dir: string;
  let out: string;
  let result: CliResult;
  let line: PrepareLine;
  let report: Report;
  let expected: ExpectedReject[];

  beforeAll(async () => {
    dir = join(root, `bad-${format}`);
    out = join(root, `bad-${format}-out`);
    await generateLegacyData({ out: dir, format, ...BAD_SIZE, badRatio: 0.02, dependencies: true, dependencyFile: true });
    expected = await readExpectedRejects(dir);
    result = await prepare(dir, out, ['--json']);
    line = prepareLine(result);
    report = await readReport(out);
  });

  it('fails (exit 1) with one clear line, yet writes the report and the backup', async () => {
    expect(result.code, result.stderr).toBe(1);
    const stderr = result.stderr.trim().split('\n');
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(new RegExp(`^taskfleet: prepare failed: ${expected.length} records would be rejected, more than --max-rejects 0`));
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(report).toMatchObject({ passed: false, blockingErrors: expected.length, backup: { verified: true } });
    expect((await readdir(line.backupDir)).length).toBeGreaterThan(4);
    const { rows: [prep] } = await db.pool.query<{ passed: boolean }>('SELECT passed FROM ledger.preparations WHERE id = $1', [line.preparationId]);
    expect(prep!.passed).toBe(false);
    const { rows: events } = await db.pool.query<{ outcome: string }>('SELECT outcome FROM ledger.phase_events WHERE preparation_id = $1', [line.preparationId]);
    expect(events).toEqual([{ outcome: 'failed' }]);
  });

  it('lists exactly the records of _expected_rejects.jsonl (kind, ref, field, legacy id, class), each with file:line', () => {
    // The data set really is bad in every class the generator makes for this format.
    expect(new Set(expected.map((e) => e.class)).size).toBeGreaterThanOrEqual(format === 'csv' ? 10 : 11);
    const want = new Set(expected.map(errorKey));
    const got = new Set(report.findings.errors.map(errorKey));
    expect(got.size, 'one error per record').toBe(report.findings.errors.length);
    const missing = [...want].filter((k) => !got.has(k));
    const unexpected = [...got].filter((k) => !want.has(k));
    expect({ missing: firstOf(missing), unexpected: firstOf(unexpected) }).toEqual({ missing: [], unexpected: [] });
    const classOf = new Map(expected.map((e) => [errorKey(e), e.class]));
    const wrong: string[] = [];
    for (const e of report.findings.errors) {
      const m = REF.exec(e.ref);
      if (!m || m[1] !== e.file || Number(m[2]) !== e.line) wrong.push(`${e.ref}: file ${e.file}, line ${e.line}`);
      if (classOf.get(errorKey(e)) !== e.class) wrong.push(`${e.ref}: class ${e.class}, expected ${String(classOf.get(errorKey(e)))}`);
      if (e.reason.trim() === '') wrong.push(`${e.ref}: no reason`);
    }
    expect(firstOf(wrong)).toEqual([]);
  });

  it('stores every finding in ledger.validation_findings, as in the report', async () => {
    const { rows } = await db.pool.query<{ kind: string; ref: string; file_name: string; line: number; legacy_id: string | null; field: string | null; reason: string; class: string }>(
      `SELECT kind, ref, file_name, line, legacy_id, field, reason, class FROM ledger.validation_findings WHERE preparation_id = $1 AND severity = 'error'`, [line.preparationId]);
    const stored = rows.map((r) => JSON.stringify([r.kind, r.ref, r.file_name, r.line, r.legacy_id, r.field, r.reason, r.class])).sort();
    const reported = report.findings.errors.map((e) => JSON.stringify([e.kind, e.ref, e.file, e.line, e.legacyId, e.field, e.reason, e.class])).sort();
    expect(stored).toEqual(reported);
    const { rows: [w] } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger.validation_findings WHERE preparation_id = $1 AND severity = 'warning'`, [line.preparationId]);
    expect(w!.n).toBe(report.findings.warnings.length);
  });

  it('passes with --max-rejects equal to the number of errors, fails with one less', async () => {
    const less = await prepare(dir, out, ['--json', '--max-rejects', String(expected.length - 1)]);
    expect(less.code).toBe(1);
    const enough = await prepare(dir, out, ['--json', '--max-rejects', String(expected.length)]);
    expect(enough.code, enough.stderr).toBe(0);
    expect(prepareLine(enough)).toMatchObject({ passed: true, errors: expected.length, manifestSha256: line.manifestSha256 });
  });
});

describe('hand-made faults: invalid UTF-8, an oversized field, a NUL, in a CSV with a multi-line record', () => {
  it('reports each with the line its record starts on', async () => {
    const dir = join(root, 'hand-made');
    const out = join(root, 'hand-made-out');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'projects.jsonl'), '{"id":"P1","name":"One"}\n');
    await writeFile(join(dir, 'phases.jsonl'), '{"id":"F1","project_id":"P1","name":"Only"}\n');
    await writeFile(join(dir, 'tasks.csv'), Buffer.concat([
      Buffer.from('id,project_id,title,description\r\n'),
      Buffer.from('T1,P1,"two\r\nlines",fine\r\n'),
      Buffer.from('T2,P1,caf'), Buffer.from([0xe9]), Buffer.from(',latin-1 byte\r\n'),
      Buffer.from(`T3,P1,big,"${'x'.repeat(1_100_000)}"\r\n`),
      Buffer.from('T4,P1,"a\u0000b",nul\r\n'),
      Buffer.from('T5,P1,last,fine\r\n'),
    ]));
    const result = await prepare(dir, out, ['--json']);
    expect(result.code, result.stderr).toBe(1);
    const report = await readReport(out);
    expect(report.findings.errors.map((e) => [e.ref, e.class, e.field, e.legacyId])).toEqual([
      ['tasks.csv:4', 'invalid_utf8', null, null],
      ['tasks.csv:5', 'oversized_record', null, null],
      ['tasks.csv:6', 'unstorable_text', 'title', 'T4'],
    ]);
    expect(report.findings.errors[1]!.reason).toMatch(/^record is 11000\d\d bytes, more than the 1048576-byte limit/);
    expect(report.perKind.tasks).toMatchObject({ records: 5, valid: 2, errors: 3 });
  });
});

describe('the backup is proven by re-reading it', () => {
  it('catches a tampered, truncated, missing or stray file in the copy, and a re-run repairs it', async () => {
    const dir = join(root, 'tamper');
    const backupRoot = join(root, 'tamper-backup');
    await generateLegacyData({ out: dir, format: 'jsonl', projects: 3, phasesPerProject: 2, tasks: 200 });
    const manifest = await buildManifest(dir);
    const backup = await backupLegacyData(dir, backupRoot, manifest);
    expect(backup).toMatchObject({ reused: false, mismatches: [], files: manifest.files.length });
    expect(await verifyBackup(backup.dir, manifest)).toEqual([]);

    const tasks = join(backup.dir, 'tasks.jsonl');
    const bytes = await readFile(tasks);
    bytes[10] = bytes[10] === 0x41 ? 0x42 : 0x41; // same size, other content
    await writeFile(tasks, bytes);
    await appendFile(join(backup.dir, 'projects.jsonl'), '\n');
    await rm(join(backup.dir, 'phases.jsonl'));
    await writeFile(join(backup.dir, 'stray.txt'), 'not from the legacy data');
    const problems = (await verifyBackup(backup.dir, manifest)).map((m) => `${m.name}: ${m.problem}`).sort();
    expect(problems).toEqual(['phases.jsonl: missing', 'projects.jsonl: size differs', 'stray.txt: unexpected', 'tasks.jsonl: sha256 differs']);

    const repaired = await backupLegacyData(dir, backupRoot, manifest);
    expect(repaired).toMatchObject({ dir: backup.dir, reused: false, mismatches: [] });
    const reused = await backupLegacyData(dir, backupRoot, manifest);
    expect(reused).toMatchObject({ reused: true, mismatches: [] });
  });

  it('fails when the legacy data changes between hashing and copying', async () => {
    const dir = join(root, 'changing');
    await generateLegacyData({ out: dir, format: 'jsonl', projects: 2, phasesPerProject: 1, tasks: 20 });
    const manifest = await buildManifest(dir);
    await appendFile(join(dir, 'tasks.jsonl'), '{"id":"T-late","project_id":"P-000001","title":"late"}\n');
    const backup = await backupLegacyData(dir, join(root, 'changing-backup'), manifest);
    expect(backup.mismatches.map((m) => `${m.name}: ${m.problem}`)).toEqual(['tasks.jsonl: size differs']);
  });
});

describe('usage errors exit 2 with one line and no stack', () => {
  it.each([
    ['a missing directory', (dir: string) => ['--legacy-data', join(dir, 'nope')], /Legacy data directory .*nope does not exist/],
    ['a backup inside the legacy directory', (dir: string) => ['--legacy-data', dir, '--backup', join(dir, 'bk')], /--backup .*bk is inside the legacy data directory/],
    ['a negative --max-rejects', (dir: string) => ['--legacy-data', dir, '--max-rejects', '-1'], /max-rejects/],
  ])('%s', async (_what, args, message) => {
    const dir = join(root, 'usage');
    await generateLegacyData({ out: dir, format: 'jsonl', projects: 2, phasesPerProject: 1, tasks: 10 });
    const result = await runCli(['prepare', ...args(dir), '--validation-report', join(root, 'usage-report.json'), '--new-data', db.url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr.split('\n').filter((l) => l.startsWith('taskfleet:') || l.startsWith('error:'))).toHaveLength(1);
  });
});

describe('a file whose every record would be rejected', () => {
  it('is named as a file taskfleet reads wrongly, with no advice to accept its rejects', async () => {
    const dir = join(root, 'all-rejected');
    await generateLegacyData({ out: dir, format: 'jsonl', projects: 2, phasesPerProject: 1, tasks: 10 });
    // Another system's names: no title anywhere (as a dump with a delimiter or names of its own reads).
    const tasks = (await readFile(join(dir, 'tasks.jsonl'), 'utf8')).replaceAll('"title":', '"summary":');
    await writeFile(join(dir, 'tasks.jsonl'), tasks);
    const result = await prepare(dir, join(root, 'all-rejected-out'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/prepare failed: \d+ records would be rejected, more than --max-rejects 0: every record of tasks would be rejected: the file does not match what taskfleet reads/);
    expect(result.stderr).not.toMatch(/accept them with --max-rejects/);
  });

  it('a file rejected whole for another file\'s fault (every parent missing) is not blamed', async () => {
    const dir = join(root, 'all-orphans');
    await generateLegacyData({ out: dir, format: 'jsonl', projects: 2, phasesPerProject: 1, tasks: 10 });
    const tasks = (await readFile(join(dir, 'tasks.jsonl'), 'utf8')).replaceAll(/"project_id":"[^"]*"/g, '"project_id":"P-none"');
    await writeFile(join(dir, 'tasks.jsonl'), tasks);
    const result = await prepare(dir, join(root, 'all-orphans-out'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/records would be rejected, more than --max-rejects 0: fix them, or accept them with --max-rejects \d+/);
  });
});

describe('a legacy file that is a symbolic link', () => {
  it('is refused (exit 2, one line): the backup could not hold it', async () => {
    const dir = join(root, 'linked');
    const elsewhere = join(root, 'linked-target');
    await generateLegacyData({ out: elsewhere, format: 'jsonl', projects: 2, phasesPerProject: 1, tasks: 10 });
    await generateLegacyData({ out: dir, format: 'jsonl', projects: 2, phasesPerProject: 1, tasks: 10 });
    await rm(join(dir, 'tasks.jsonl'));
    await symlink(join(elsewhere, 'tasks.jsonl'), join(dir, 'tasks.jsonl'));
    const result = await prepare(dir, join(root, 'linked-out'));
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^taskfleet: tasks\.jsonl in .*linked is not a regular file \(a symbolic link\?\)[^\n]*$/);
  });
});

describe('cross-check with a real migration of the same bad data (jsonl)', () => {
  it('the report\'s errors are exactly the migration\'s rejects (kind, ref), and its counts its summary\'s', async () => {
    const dir = join(root, 'bad-jsonl'); // prepared above
    const report = await readReport(join(root, 'bad-jsonl-out'));
    const result = await runFleet(db.pool, ['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', '--json', '--no-progress']);
    const summary = summaryOf(result);
    expect(summary.status, result.stderr.slice(-2000)).toBe('completed');
    const { rows } = await db.pool.query<{ kind: string; ref: string }>('SELECT kind, ref FROM ledger.rejects WHERE run_id = $1', [summary.runId]);
    const rejects = rows.map((r) => `${r.kind} ${r.ref}`).sort();
    const errors = report.findings.errors.map((e) => `${e.kind} ${e.ref}`).sort();
    expect(rejects.length).toBeGreaterThan(50);
    const missing = errors.filter((k) => !rejects.includes(k));
    const unexpected = rejects.filter((k) => !errors.includes(k));
    expect({ missing: firstOf(missing), unexpected: firstOf(unexpected) }).toEqual({ missing: [], unexpected: [] });
    for (const k of summary.kinds) {
      expect({ kind: k.kind, records: report.perKind[k.kind]!.records, errors: report.perKind[k.kind]!.errors, valid: report.perKind[k.kind]!.valid })
        .toEqual({ kind: k.kind, records: k.legacy, errors: k.rejected, valid: k.migrated });
    }
  });
});
