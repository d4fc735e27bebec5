// The verify phase: proves a completed run against its legacy data (src/verification/compare.ts), and
// records the outcome — the JSON report, a ledger.verifications row (decommission's gate) and the
// phase event. `taskfleet verify` and `taskfleet run` both come here.
import { resolve } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { findRun } from '../ledger/runs.js';
import type { Logger } from '../logger.js';
import type { Pool } from '../store/pool.js';
import type { CheckResult } from '../verification/check-result.js';
import { compareRun } from '../verification/compare.js';
import { buildReport, recordVerification, reportOverview, writeReport, type VerificationReport } from '../verification/report.js';
import { loadVerificationConfig, type VerificationConfig } from '../verification/verification-config.js';
import { GateError, recordPhase, refusePhase } from './phase-events.js';

export const DEFAULT_VERIFICATION_REPORT = 'reports/verification-report.json';

export interface VerifyOptions {
  runId: string;
  reportPath: string;
  /** Mismatch samples kept per check (default: the settings' maxSamples). */
  maxSamples?: number;
  /** The verification settings (default: config/verification.yaml). */
  thresholds?: VerificationConfig;
  logger: Logger;
}

export interface VerifyResult {
  passed: boolean;
  checks: CheckResult[];
  report: VerificationReport;
  /** Absolute path of the written report. */
  reportPath: string;
}

export async function runVerify(db: Pool, opts: VerifyOptions): Promise<VerifyResult> {
  const config = opts.thresholds ?? loadVerificationConfig();
  const maxSamples = opts.maxSamples ?? config.maxSamples;
  const reportPath = resolve(opts.reportPath);
  const run = await findRun(db, opts.runId);
  if (!run) throw new ConfigError(`Run ${opts.runId} is not in the ledger (see \`taskfleet status\`)`);
  if (run.status !== 'completed') {
    const reason = `Run ${run.id} is ${run.status.replace('_', ' ')}, not completed: only a completed run can be verified${run.status === 'failed' || run.status === 'running' ? ` (finish it with \`taskfleet resume ${run.id}\`)` : ''}`;
    await refusePhase(db, 'verify', { runId: run.id, preparationId: run.preparationId }, reason);
    throw new GateError(reason);
  }
  const outcome = await recordPhase(db, 'verify', { runId: run.id, preparationId: run.preparationId }, async () => {
    const startedAt = new Date();
    const comparison = await compareRun(db, run, config, maxSamples, opts.logger);
    const report = buildReport(run, startedAt, comparison);
    await writeReport(reportPath, report);
    await recordVerification(db, report, reportPath);
    const overview = reportOverview(report, reportPath);
    opts.logger.info(overview, `Verification of run ${run.id} ${report.passed ? 'passed' : 'failed'}; report in ${reportPath}`);
    return { passed: report.passed, summary: overview, report };
  });
  return { passed: outcome.passed, checks: outcome.report.checks, report: outcome.report, reportPath };
}
