// The dry run: the real transform and the real writes, rehearsed in a scratch database that is dropped
// afterwards. The scratch database gets the new system's schema and a copy of the rows the new system
// already holds (so "update" and "already there" are predicted as a real run would meet them); the
// run is planned and every chunk job runs in-process, through the very handlers the workers use. The
// real database is only read, and no queue is touched: Postgres and Redis are left exactly as they were.
// Task workflows are created as the real run would create them, but none is executed (a step may have
// effects outside the database): the forecast counts the on-migrate workflows a real run would run.
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { LegacyMapping } from '../config/legacy-mapping.js';
import type { JobContext } from '../jobs/context.js';
import { PermanentJobError } from '../jobs/errors.js';
import { CHUNK_HANDLERS } from '../jobs/registry.js';
import { RunContextCache } from '../jobs/run-context.js';
import { listChunks, markChunkFailed, nextPendingChunks } from '../ledger/chunks.js';
import { findRun, updateRun, type WorkflowRunOptions } from '../ledger/runs.js';
import { runSummary, type KindSummary } from '../ledger/summary.js';
import { workflowStageCounts } from '../ledger/workflow-runs.js';
import { LEGACY_KINDS, STAGES, type Stage } from '../legacy/kinds.js';
import type { Logger } from '../logger.js';
import { planRun } from '../producers/plan-run.js';
import { redactUrl } from '../redact-url.js';
import { prepareDatabase } from '../store/database.js';
import { createPool, type Pool } from '../store/pool.js';

/** The new system's tables whose existing rows a rehearsal must see. */
const EXISTING_ROW_TABLES = ['projects', 'phases', 'tasks', 'task_dependencies', 'workflows'] as const;

export interface DryRunInput {
  databaseUrl: string;
  legacyDir: string;
  runId?: string;
  mapping: LegacyMapping;
  chunkSize: number;
  chunkMaxBytes: number;
  /** Chunks rehearsed at once (the fleet's workers × concurrency, bounded by this machine). */
  concurrency: number;
  /** The run's workflow settings, as `migrate` would load them (they are part of the run's identity). */
  workflows: WorkflowRunOptions;
  /** Attempts per chunk and the first backoff, as the fleet's jobs get them (a deadlock or a dropped connection is retried). */
  attempts?: number;
  backoffMs?: number;
  logger: Logger;
}

export interface TableForecast {
  table: string;
  /** Rows the run would create. */
  inserts: number;
  /** Existing rows (of earlier runs) the run would take over and rewrite. */
  updates: number;
}

export interface DryRunForecast {
  runId: string;
  /** Set when the real ledger already has this run completed: a real migrate would do nothing. */
  alreadyCompleted: boolean;
  kinds: KindSummary[];
  tables: TableForecast[];
  rejectsByReason: { kind: string; field: string | null; reason: string; count: number }[];
  /** On-migrate workflows the real run would execute (the rehearsal creates them, runs none). */
  workflowsToRun: number;
  rehearsalSeconds: number;
  /** The rehearsal did exactly the real work with `concurrency` chunks in flight: its time is the estimate. */
  estimatedSeconds: number;
  records: number;
}

function scratchUrl(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function copyExistingRows(source: string, target: string, logger: Logger): Promise<void> {
  const from = new pg.Client({ connectionString: source });
  const to = new pg.Client({ connectionString: target });
  await Promise.all([from.connect(), to.connect()]);
  try {
    for (const table of EXISTING_ROW_TABLES) {
      const started = performance.now();
      await pipeline(from.query(copyTo(`COPY tms.${table} TO STDOUT`)), to.query(copyFrom(`COPY tms.${table} FROM STDIN`)));
      logger.debug({ table, ms: Math.round(performance.now() - started) }, `Dry run: copied existing tms.${table}`);
    }
  } finally {
    await Promise.all([from.end(), to.end()]);
  }
}

/** One chunk, retried with exponential backoff on transient errors as a queued job would be. */
async function rehearseChunk(ctx: JobContext, payload: { runId: string; stage: Stage; chunkNo: number }, retry: { attempts: number; backoffMs: number }): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await CHUNK_HANDLERS[payload.stage](ctx, payload);
      return;
    } catch (err) {
      if (err instanceof PermanentJobError || attempt >= retry.attempts) {
        await markChunkFailed(ctx.db, payload.runId, payload.stage, payload.chunkNo, (err as Error).message).catch(() => undefined);
        return;
      }
      ctx.logger.warn({ stage: payload.stage, chunk: payload.chunkNo, attempt, err: (err as Error).message }, `Dry run: chunk attempt ${attempt} failed, retrying: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, retry.backoffMs * 2 ** (attempt - 1)));
    }
  }
}

/** Runs every chunk of every stage through the workers' handlers, `concurrency` at a time. */
async function rehearse(db: Pool, runId: string, concurrency: number, retry: { attempts: number; backoffMs: number }, logger: Logger): Promise<void> {
  const ctx: JobContext = { db, logger, signal: new AbortController().signal, workerName: 'dry-run', runs: new RunContextCache(db) };
  for (const stage of STAGES) {
    await updateRun(db, runId, { stage });
    for (;;) {
      const chunks = await nextPendingChunks(db, runId, stage, [], concurrency * 4);
      if (chunks.length === 0) break;
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, async () => {
        while (next < chunks.length) {
          const chunk = chunks[next++]!;
          await rehearseChunk(ctx, { runId, stage, chunkNo: chunk.chunkNo }, retry);
        }
      }));
    }
    const [failed] = await listChunks(db, runId, stage, 'failed');
    if (failed) throw new Error(`Dry run: chunk ${stage} #${failed.chunkNo} failed: ${failed.error ?? 'unknown error'}`);
  }
  await updateRun(db, runId, { status: 'completed', stage: null, finished: true });
}

async function forecastTables(db: Pool, runId: string): Promise<TableForecast[]> {
  const tables: TableForecast[] = [];
  for (const table of ['projects', 'phases', 'tasks', 'task_dependencies', 'workflows'] as const) {
    const { rows: [row] } = await db.query<{ inserts: string; updates: string }>(
      `SELECT count(*) FILTER (WHERE run_id = $1) AS inserts,
              count(*) FILTER (WHERE run_id <> $1 AND last_run_id = $1) AS updates
         FROM tms.${table}`, [runId]);
    tables.push({ table, inserts: Number(row!.inserts), updates: Number(row!.updates) });
  }
  return tables;
}

async function rejectsByReason(db: Pool, runId: string): Promise<DryRunForecast['rejectsByReason']> {
  // Reasons name the offending values; grouping keeps their wording with quoted values and ids masked.
  const { rows } = await db.query<{ kind: string; field: string | null; reason: string; count: string }>(
    `SELECT kind, field, reason, count(*) AS count FROM (
        SELECT kind, field, regexp_replace(regexp_replace(regexp_replace(regexp_replace(reason, '"[^"]*"', '"…"', 'g'),
                 '\\m[A-Z]+-[A-Z]?[0-9]+\\M', '…', 'g'), '[A-Za-z0-9_.-]+\\.(jsonl|json|csv):[0-9]+(#[a-z_]+\\[[0-9]+\\])?', '…', 'g'),
                 '\\m(lines? [0-9]+(-[0-9]+)?)', 'line …', 'g') AS reason
          FROM ledger.rejects WHERE run_id = $1) r
      GROUP BY kind, field, reason
      ORDER BY array_position($2::text[], kind), count(*) DESC, reason`, [runId, LEGACY_KINDS]);
  return rows.map((r) => ({ kind: r.kind, field: r.field, reason: r.reason, count: Number(r.count) }));
}

export async function runDryRun(input: DryRunInput): Promise<DryRunForecast> {
  const { logger } = input;
  const name = `taskfleet_dryrun_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: input.databaseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (err) {
    await admin.end();
    throw new Error(`Dry run needs to create a scratch database on ${redactUrl(input.databaseUrl)} (CREATEDB privilege): ${(err as Error).message}`, { cause: err });
  }
  const url = scratchUrl(input.databaseUrl, name);
  let scratch: Pool | null = null;
  try {
    await prepareDatabase(url);
    await copyExistingRows(input.databaseUrl, url, logger);
    scratch = createPool(url, input.concurrency + 2);
    const { run } = await planRun(scratch, {
      legacyDir: input.legacyDir, runId: input.runId, mapping: input.mapping, chunkSize: input.chunkSize,
      chunkMaxBytes: input.chunkMaxBytes, maxRejects: null, workflows: input.workflows,
    }, logger);
    const real = createPool(input.databaseUrl, 1);
    const existing = await findRun(real, run.id).finally(() => real.end());
    // Rows copied from the real database may already carry this run (a run that completed, or got
    // part of the way): only what the rehearsal itself adds is a forecast.
    const before = await forecastTables(scratch, run.id);
    const started = performance.now();
    await rehearse(scratch, run.id, input.concurrency, { attempts: input.attempts ?? 5, backoffMs: input.backoffMs ?? 200 }, logger);
    const rehearsalSeconds = (performance.now() - started) / 1000;
    const kinds = await runSummary(scratch, run.id);
    return {
      runId: run.id,
      alreadyCompleted: existing?.status === 'completed',
      kinds,
      tables: (await forecastTables(scratch, run.id)).map((t, i) => ({
        table: t.table, inserts: Math.max(0, t.inserts - before[i]!.inserts), updates: Math.max(0, t.updates - before[i]!.updates),
      })),
      rejectsByReason: await rejectsByReason(scratch, run.id),
      workflowsToRun: (await workflowStageCounts(scratch, run.id)).total,
      rehearsalSeconds: Math.round(rehearsalSeconds * 100) / 100,
      estimatedSeconds: Math.round(rehearsalSeconds * 100) / 100,
      records: kinds.reduce((n, k) => n + k.legacy, 0),
    };
  } finally {
    await scratch?.end().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((err: Error) => logger.warn({ err: err.message }, `Could not drop the dry run's scratch database ${name}`));
    await admin.end().catch(() => undefined);
  }
}
