// Check: the new system performs. The typical queries (a project's tasks, a phase board, a user's open
// tasks) are timed over parameters sampled from the data; p50 and p95 must stay within the limits of
// config/verification.yaml.
import { measureTypicalQueries } from '../../lifecycle/typical-queries.js';
import type { Pool } from '../../store/pool.js';
import { runCheck, type CheckResult, type MismatchSample } from '../check-result.js';
import { limitsFor, type VerificationConfig } from '../verification-config.js';

export function checkPerformance(db: Pool, config: VerificationConfig, maxSamples: number): Promise<CheckResult> {
  return runCheck('performance', 'p50/p95 latency of the typical queries within the configured thresholds', async () => {
    const figures = await measureTypicalQueries(db, config.performance.runs);
    const problems: MismatchSample[] = [];
    const measured = figures.map((f) => ({ ...f, limits: limitsFor(config, f.query) }));
    for (const f of measured) {
      if (f.p50Ms > f.limits.p50Ms) problems.push({ problem: `${f.query}: p50 ${f.p50Ms} ms is over ${f.limits.p50Ms} ms`, query: f.query, p50Ms: f.p50Ms, limitMs: f.limits.p50Ms });
      if (f.p95Ms > f.limits.p95Ms) problems.push({ problem: `${f.query}: p95 ${f.p95Ms} ms is over ${f.limits.p95Ms} ms`, query: f.query, p95Ms: f.p95Ms, limitMs: f.limits.p95Ms });
    }
    // Two limits per query (p50 and p95): what is counted, checked and missed, is limits.
    return { checked: figures.length * 2, mismatches: problems.length, samples: problems.slice(0, maxSamples), details: { queries: measured } };
  });
}
