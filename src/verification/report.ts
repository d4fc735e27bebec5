// The verification report: a JSON file an operator can sign off (every check with its status, counts
// and mismatch samples), a short summary for the terminal, and the ledger.verifications row that
// decommission's gate reads.
import { rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Pool } from '../store/pool.js';
import type { CheckResult } from './check-result.js';
import type { KindCount } from './checks/counts.js';
import type { Comparison } from './compare.js';
import { makeDirectory } from '../make-directory.js';

export interface VerificationReport {
  runId: string;
  passed: boolean;
  legacyDir: string;
  startedAt: string;
  finishedAt: string;
  /** Where the list of records expected to be rejected came from. */
  expectedRejects: string;
  timings: { totalMs: number; legacyReadMs: number; comparisonMs: number; performanceMs: number };
  legacyRecords: number;
  counts: KindCount[];
  summary: Record<CheckResult['status'], number>;
  checks: CheckResult[];
}

export function buildReport(run: { id: string; legacyDir: string }, startedAt: Date, comparison: Comparison): VerificationReport {
  const finishedAt = new Date();
  const { checks } = comparison;
  const count = (status: CheckResult['status']) => checks.filter((c) => c.status === status).length;
  return {
    runId: run.id,
    passed: checks.every((c) => c.status !== 'failed'),
    legacyDir: run.legacyDir,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    expectedRejects: comparison.rejectSource.description,
    timings: { totalMs: finishedAt.getTime() - startedAt.getTime(), ...comparison.timings },
    legacyRecords: comparison.files.reduce((n, f) => n + f.records, 0),
    counts: comparison.counts,
    summary: { passed: count('passed'), failed: count('failed'), skipped: count('skipped') },
    checks,
  };
}

/** Written whole to a temporary name, then renamed: a reader never sees half a report. */
export async function writeReport(path: string, report: VerificationReport): Promise<void> {
  await makeDirectory(dirname(path));
  const partial = `${path}.partial`;
  await writeFile(partial, `${JSON.stringify(report, null, 2)}\n`);
  await rename(partial, path);
}

export async function recordVerification(db: Pool, report: VerificationReport, reportPath: string): Promise<void> {
  await db.query(
    'INSERT INTO ledger.verifications (run_id, started_at, finished_at, passed, checks, report_path) VALUES ($1, $2, $3, $4, $5, $6)',
    [report.runId, report.startedAt, report.finishedAt, report.passed, JSON.stringify(report.checks), reportPath]);
}

/** The report without samples and details: what `--json` prints and the phase event keeps. */
export function reportOverview(report: VerificationReport, reportPath: string): Record<string, unknown> {
  return {
    event: 'verification', runId: report.runId, passed: report.passed, reportPath, timings: report.timings,
    legacyRecords: report.legacyRecords, counts: report.counts, summary: report.summary,
    checks: report.checks.map((c) => ({ name: c.name, status: c.status, checked: c.checked, mismatches: c.mismatches, ...(c.reason ? { reason: c.reason } : {}) })),
  };
}

const MARK: Record<CheckResult['status'], string> = { passed: '✔', failed: '✘', skipped: '–' };

/** A few lines for a person: the verdict, the counts, each check, and what is wrong where it failed. */
export function formatReportSummary(report: VerificationReport, reportPath: string, samplesPerCheck = 3): string[] {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const lines = [
    `Verification of run ${report.runId}: ${report.passed ? 'PASSED' : 'FAILED'} in ${seconds(report.timings.totalMs)} `
      + `(legacy read ${seconds(report.timings.legacyReadMs)}, comparison ${seconds(report.timings.comparisonMs)}, queries ${seconds(report.timings.performanceMs)})`,
  ];
  const width = Math.max(...report.counts.map((k) => k.kind.length));
  for (const k of report.counts) {
    lines.push(`  ${k.kind.padEnd(width)}  legacy ${String(k.legacy).padStart(9)}  migrated ${String(k.migrated).padStart(9)}  rejected ${String(k.rejected).padStart(7)}`);
  }
  const nameWidth = Math.max(...report.checks.map((c) => c.name.length));
  for (const c of report.checks) {
    const what = c.status === 'skipped' ? `skipped: ${c.reason ?? ''}`
      : c.status === 'passed' ? `${c.checked} checked`
      : `${c.mismatches} wrong of ${c.checked} checked`;
    lines.push(`  ${MARK[c.status]} ${c.name.padEnd(nameWidth)}  ${what}`);
    if (c.status === 'failed') for (const s of c.samples.slice(0, samplesPerCheck)) lines.push(`      ${s.problem}`);
  }
  lines.push(`Report: ${reportPath}`);
  return lines;
}
