// Plans a run: checks the legacy directory, records the run and its files in the ledger, and splits
// every file into chunk rows, stage by stage. Planning streams each file once; memory stays flat.
// The same data planned twice gives the same run id, so re-running a migration is a no-op.
import { createHash } from 'node:crypto';
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { insertChunks, type ChunkPlan } from '../ledger/chunks.js';
import type { RunQueue } from '../ledger/run-queue.js';
import { findRun, insertRun, insertRunFile, RUN_ID_PATTERN, updateRun, type Run, type WorkflowRunOptions } from '../ledger/runs.js';
import { scanLegacyFile } from '../legacy/chunk-scanner.js';
import { ConfigError } from '../config/errors.js';
import { LegacyDataError } from '../legacy/errors.js';
import { discoverLegacyFiles, legacyDirectoryPath, type LegacyFile } from '../legacy/files.js';
import { sampleLegacyId } from '../legacy/legacy-id-sample.js';
import { whilePlanningAlone } from './one-run-per-directory.js';
import type { Stage } from '../legacy/kinds.js';
import type { Logger } from '../logger.js';
import { inTransaction, type Pool } from '../store/pool.js';

export interface PlanInput {
  legacyDir: string;
  runId?: string;
  mapping: LegacyMapping;
  chunkSize: number;
  chunkMaxBytes: number;
  maxRejects: number | null;
  /** The passed prepare the run starts from (null: --skip-prepare). */
  preparationId?: number | null;
  /** Marks this process as the run's producer once its id is known, before anything is written (refused if another one is). */
  claim?: (runId: string) => Promise<void>;
  /** Task workflows (templates, runner settings, --no-cache), loaded once here so every worker renders alike; absent: none. */
  workflows?: WorkflowRunOptions | null;
  /** Where the run's jobs are queued, recorded so that a resume from elsewhere finds them. */
  queue?: RunQueue;
}

export interface PlanResult {
  run: Run;
  /** false when the run already existed (nothing was planned again). */
  created: boolean;
}

const INSERT_BATCH = 500;


/** A fingerprint of the data and the settings that shape the chunks: same input, same run. */
function fingerprintOf(dir: string, files: readonly LegacyFile[], input: PlanInput): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ dir, files: files.map((f) => [f.fileName, f.bytes, f.mtimeMs]), mapping: input.mapping, chunkSize: input.chunkSize, chunkMaxBytes: input.chunkMaxBytes,
    ...(input.workflows ? { workflows: input.workflows } : {}) }));
  return hash.digest('hex');
}

export async function planRun(db: Pool, input: PlanInput, logger: Logger): Promise<PlanResult> {
  const legacyDir = await legacyDirectoryPath(input.legacyDir);
  const files = await discoverLegacyFiles(legacyDir);
  const fingerprint = fingerprintOf(legacyDir, files, input);
  const runId = input.runId ?? `run-${fingerprint.slice(0, 12)}`;
  if (!RUN_ID_PATTERN.test(runId)) throw new ConfigError(`--run-id "${runId}" may only hold letters, digits, _ and - (at most 64)`);
  // Before the run shows as running: status never sees it without its producer.
  await input.claim?.(runId);

  const existing = await findRun(db, runId);
  if (existing?.status === 'rolled_back' && existing.rolledBackAt === null) {
    throw new ConfigError(`Run ${runId}'s rollback removed its rows but did not finish restoring its legacy data: finish it first with taskfleet rollback --run-id ${runId}`);
  }
  if (existing && existing.status !== 'planning' && existing.status !== 'rolled_back') {
    if (existing.fingerprint !== fingerprint) {
      throw new LegacyDataError(`Run ${runId} already exists for other legacy data or settings (${existing.legacyDir}); choose another --run-id`);
    }
    return { run: existing, created: false };
  }
  return whilePlanningAlone(db, legacyDir, runId, () => planChunks(db, { ...input, legacyDir }, runId, fingerprint, files, logger));
}

/** Records the run and splits every file into chunk rows; the run is 'running' when it returns. */
async function planChunks(db: Pool, input: PlanInput & { legacyDir: string }, runId: string, fingerprint: string, files: readonly LegacyFile[], logger: Logger): Promise<PlanResult> {
  const { legacyDir } = input;
  // A run left in 'planning' by a dead producer had no jobs yet, and a rolled-back run left no rows:
  // plan it again from scratch (so the same migrate command works again after a rollback).
  await db.query('DELETE FROM ledger.runs WHERE id = $1', [runId]);
  await insertRun(db, { id: runId, legacyDir, fingerprint, options: {
    mapping: input.mapping, chunkSize: input.chunkSize, chunkMaxBytes: input.chunkMaxBytes, maxRejects: input.maxRejects,
    ...(input.workflows ? { workflows: input.workflows } : {}),
  }, preparationId: input.preparationId ?? null, ...(input.queue ? { queue: input.queue } : {}) });

  const nextChunk = new Map<Stage, number>();
  let batch: ChunkPlan[] = [];
  const flush = async (): Promise<void> => {
    const rows = batch;
    batch = [];
    await insertChunks(db, rows);
  };
  const add = async (plan: Omit<ChunkPlan, 'chunkNo' | 'runId'>): Promise<void> => {
    const chunkNo = nextChunk.get(plan.stage) ?? 0;
    nextChunk.set(plan.stage, chunkNo + 1);
    batch.push({ ...plan, runId, chunkNo });
    if (batch.length >= INSERT_BATCH) await flush();
  };

  try {
    for (const file of files) {
      const started = performance.now();
      const idField = Object.entries(input.mapping.fields[file.kind] ?? {}).find(([, name]) => name === (file.kind === 'task_dependencies' ? 'task_id' : 'id'))?.[0]
        ?? (file.kind === 'task_dependencies' ? 'task_id' : 'id');
      const scan = await scanLegacyFile(file, input, async (span, header) => {
        const common = {
          fileName: file.fileName, byteStart: span.byteStart, byteEnd: span.byteEnd, lineStart: span.lineStart,
          lineEnd: span.lineEnd, records: span.records, sha256: span.sha256,
          firstLegacyId: sampleLegacyId(span.firstRecord, file.format, header, idField),
          lastLegacyId: sampleLegacyId(span.lastRecord, file.format, header, idField),
        };
        if (file.kind === 'task_dependencies') {
          await add({ ...common, stage: 'dependencies', kind: 'task_dependencies' });
          return;
        }
        await add({ ...common, stage: file.kind, kind: file.kind });
        // The tasks file is read a second time, after every task is in, for the depends_on edges.
        if (file.kind === 'tasks') await add({ ...common, stage: 'dependencies', kind: 'task_dependencies' });
      });
      await insertRunFile(db, runId, { kind: file.kind, fileName: file.fileName, format: file.format, bytes: file.bytes, sha256: scan.sha256, records: scan.records, header: scan.header });
      logger.info({ runId, file: file.fileName, records: scan.records, ms: Math.round(performance.now() - started) }, `Planned ${file.fileName}`);
    }
  } catch (err) {
    // A file that cannot be planned (with --skip-prepare: prepare refuses it first) leaves no run behind:
    // nothing was queued or written, and a run stuck in 'planning' would only puzzle `status`.
    if (err instanceof LegacyDataError) await db.query(`DELETE FROM ledger.runs WHERE id = $1 AND status = 'planning'`, [runId]).catch(() => undefined);
    throw err;
  }
  await flush();
  await add({ stage: 'dependency_cycles', kind: 'task_dependencies', fileName: null, byteStart: 0, byteEnd: 0, lineStart: 0, lineEnd: 0, records: 0, sha256: null, firstLegacyId: null, lastLegacyId: null });
  await flush();
  await inTransaction(db, async (client) => updateRun(client, runId, { status: 'running', started: true }));
  const run = await findRun(db, runId);
  if (!run) throw new Error(`Run ${runId} vanished while planning`);
  return { run, created: true };
}
