// Compares the legacy source with the new system, independently of the migration's bookkeeping.
//
// How, and why this way: the legacy files are streamed once, each record turned into the row the
// mapping makes of it, and COPYed into temporary tables in the same session; the checks are then SQL
// joins against tms.* by new id (UUIDv5 of kind + legacy id — the ID mapping), run in one
// REPEATABLE READ transaction so every check sees the same snapshot. A sorted merge in this process
// would need both sides sorted by id: the legacy files are in file order, so that means an external
// sort of a million records on disk — which is what Postgres' hash joins and sorts already do, spilling
// to disk past work_mem. This way this process holds one read buffer and one batch of rows at a time
// (flat RSS: peak 240 MB for 100k tasks, 270 MB for 1M — V8 collecting lazily; 155 MB for 1M under
// --max-old-space-size=64, measured), the comparison of typed values is Postgres'
// own (a timestamp is an instant, jsonb is jsonb), and mismatch lists are read through cursors so a
// million mismatches cost a count, not a million objects.
import type { Logger } from '../logger.js';
import type { Run } from '../ledger/runs.js';
import { discoverLegacyFiles } from '../legacy/files.js';
import type { Pool } from '../store/pool.js';
import type { CheckResult } from './check-result.js';
import { checkCounts, countKinds, type KindCount } from './checks/counts.js';
import { checkDependencyEdges } from './checks/dependency-edges.js';
import { checkFields } from './checks/fields.js';
import { checkLegacySource } from './checks/legacy-source.js';
import { checkMissingRows } from './checks/missing-rows.js';
import { checkOrphans } from './checks/orphans.js';
import { checkPerformance } from './checks/performance.js';
import { checkRejects } from './checks/rejects.js';
import { checkStrayRows } from './checks/stray-rows.js';
import { checkWorkflows } from './checks/workflows.js';
import { createExpectedTables, EXPECTED_EDGES, EXPECTED_TABLE, loadExpectedRows, type LoadedFile } from './expected-rows.js';
import { classifyRejects, rejectSourceOf, type RejectSource } from './reject-classification.js';
import type { VerificationConfig } from './verification-config.js';

export interface Comparison {
  checks: CheckResult[];
  files: LoadedFile[];
  counts: KindCount[];
  rejectSource: RejectSource;
  timings: { legacyReadMs: number; comparisonMs: number; performanceMs: number };
}

export async function compareRun(db: Pool, run: Run, config: VerificationConfig, maxSamples: number, logger: Logger): Promise<Comparison> {
  const legacyFiles = await discoverLegacyFiles(run.legacyDir, { asPlanned: true });
  const rejectSource = rejectSourceOf(run);
  const checks: CheckResult[] = [];
  const done = (result: CheckResult | CheckResult[]): void => {
    for (const check of Array.isArray(result) ? result : [result]) {
      checks.push(check);
      const line = `Check ${check.name} ${check.status}${check.status === 'skipped' ? `: ${check.reason ?? ''}` : ` (${check.mismatches} of ${check.checked} wrong)`}`;
      logger[check.status === 'failed' ? 'warn' : 'info']({ runId: run.id, check: check.name, status: check.status, checked: check.checked, mismatches: check.mismatches, ms: check.durationMs }, line);
    }
  };

  const client = await db.connect();
  let files: LoadedFile[];
  let counts: KindCount[];
  let legacyReadMs: number;
  const started = performance.now();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    // Hash joins of a million rows stay in memory longer; cursors are read to the end, so plan for that.
    await client.query(`SET LOCAL work_mem = '64MB'`);
    await client.query('SET LOCAL cursor_tuple_fraction = 1');
    await createExpectedTables(client);
    logger.info({ runId: run.id, legacyDir: run.legacyDir, files: legacyFiles.map((f) => f.fileName) }, `Reading the legacy data in ${run.legacyDir}`);
    files = await loadExpectedRows(client, legacyFiles, run.options.mapping, run.id);
    const expectedRejects = await classifyRejects(client, run.id, rejectSource);
    // Temporary tables are never analyzed automatically; without statistics the joins are planned blind.
    for (const table of [...Object.values(EXPECTED_TABLE), EXPECTED_EDGES, 'verify_rejects']) await client.query(`ANALYZE ${table}`);
    legacyReadMs = Math.round(performance.now() - started);
    logger.info({ runId: run.id, files, expectedRejects, ms: legacyReadMs }, `Read ${files.reduce((n, f) => n + f.records, 0)} legacy records; ${expectedRejects} are expected to be rejected (${rejectSource.description})`);

    done(await checkLegacySource(client, run.id, run.legacyDir, files, maxSamples));
    counts = await countKinds(client, run.id);
    done(await checkCounts(client, run.id, counts, maxSamples));
    done(await checkRejects(client, run.id, rejectSource, maxSamples));
    done(await checkFields(client, maxSamples));
    done(await checkMissingRows(client, maxSamples));
    done(await checkStrayRows(client, run.id, maxSamples));
    done(await checkOrphans(client, run.id, maxSamples));
    done(await checkDependencyEdges(client, run.id, maxSamples));
    done(await checkWorkflows(client, run.id, config.workflows.sampleSize, maxSamples));
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  const comparisonMs = Math.round(performance.now() - started) - legacyReadMs;
  const performanceStarted = performance.now();
  done(await checkPerformance(db, config, maxSamples));
  const performanceMs = Math.round(performance.now() - performanceStarted);
  return { checks, files, counts, rejectSource, timings: { legacyReadMs, comparisonMs, performanceMs } };
}
