// Job: migrate the dependency edges of one chunk — either the edges a tasks chunk declared in its
// records' depends_on (kept in the ledger by the tasks stage) or a chunk of task_dependencies. Runs
// after every task is in, so both ends of an edge can be checked. Like every chunk job it is one
// transaction, verified before commit.
import { declaredEdgesAt, lockChunk, markChunkDone } from '../ledger/chunks.js';
import { insertRejects } from '../ledger/rejects.js';
import { notifyProgress } from '../ledger/runs.js';
import type { RecordRejection } from '../legacy/errors.js';
import type { DeclaredEdge } from '../legacy/declared-edges.js';
import { createNormalizer } from '../legacy/normalize.js';
import { claimRows, type ClaimSpec } from '../store/claim-rows.js';
import type { CopyValue } from '../store/copy-text.js';
import { idMemo } from '../store/new-ids.js';
import { lookupById } from '../store/lookup-by-id.js';
import { inTransaction, type PoolClient } from '../store/pool.js';
import { nothingToDo, plannedChunk, readChunkRecords, SKIPPED } from './chunk-records.js';
import type { ChunkJobResult, JobContext } from './context.js';
import { PermanentJobError } from './errors.js';
import type { ChunkJobPayload } from './payload.js';

export const DEPENDENCY_TABLE: ClaimSpec = {
  table: 'tms.task_dependencies',
  columns: ['task_id', 'depends_on_id', 'legacy_id', 'legacy_ref', 'legacy_order', 'run_id', 'last_run_id'],
  key: ['task_id', 'depends_on_id'],
  orderColumn: 'legacy_order',
  describeColumns: ['legacy_ref'],
};

/** Declaration order: tasks' depends_on (by line, then position), then task_dependencies (by line). */
export const MAX_DEPENDENCIES_PER_TASK = 1000;
export function declarationOrder(fromTasksFile: boolean, line: number, position: number): number {
  return (fromTasksFile ? 0 : 1) * 1e12 + line * MAX_DEPENDENCIES_PER_TASK + position;
}

interface Edge {
  taskLegacyId: string;
  dependsOnLegacyId: string;
  ref: string;
  line: number;
  order: number;
  /** Set when the edge is already known to be rejected. */
  rejectedBecause?: { field: string; reason: string };
}

export async function migrateDependencyChunk(ctx: JobContext, payload: ChunkJobPayload): Promise<ChunkJobResult> {
  const started = performance.now();
  const { runId, stage, chunkNo } = payload;
  const chunk = await plannedChunk(ctx, payload);
  if (!chunk) return SKIPPED;
  const run = await ctx.runs.get(runId);
  const fromTasksFile = chunk.fileName === run.files.get('tasks')?.fileName;
  const file = run.files.get(fromTasksFile ? 'tasks' : 'task_dependencies');
  if (!file) throw new PermanentJobError(`Run ${runId} has no file ${chunk.fileName ?? '?'}`);

  const rejects: RecordRejection[] = [];
  const reject = (ref: string, line: number, legacyId: string | null, field: string | null, reason: string): void => {
    rejects.push({ kind: 'task_dependencies', ref, fileName: file.fileName, line, legacyId, field, reason });
  };
  const edges: Edge[] = [];
  let legacyRecords: number;

  if (fromTasksFile) {
    // The tasks stage kept the edges its records declare: no need to read the file again.
    const declared = (await declaredEdgesAt(ctx.db, runId, file.fileName, chunk.byteStart)) as DeclaredEdge[] | null;
    if (!declared) throw new Error(`The tasks chunk at ${file.fileName}:${chunk.lineStart} is not done yet`);
    for (const [taskLegacyId, dependsOnLegacyId, line, position] of declared) {
      const ref = `${file.fileName}:${line}#depends_on[${position}]`;
      const edge: Edge = { taskLegacyId, dependsOnLegacyId, ref, line, order: declarationOrder(true, line, position) };
      if (position >= MAX_DEPENDENCIES_PER_TASK) edge.rejectedBecause = { field: 'depends_on', reason: `more than ${MAX_DEPENDENCIES_PER_TASK} dependencies on one task` };
      edges.push(edge);
    }
    legacyRecords = edges.length;
  } else {
    const records = await readChunkRecords(run, chunk, file);
    legacyRecords = records.length;
    const normalize = createNormalizer('task_dependencies', run.mapping);
    for (const record of records) {
      const ref = `${file.fileName}:${record.line}`;
      if (record.error !== null) { reject(ref, record.line, null, null, record.error); continue; }
      const result = normalize(record.fields, record.exactNumbers);
      if (!result.ok) { reject(ref, record.line, result.legacyId, result.field, result.reason); continue; }
      edges.push({ ...result.value, ref, line: record.line, order: declarationOrder(false, record.line, 0) });
    }
  }

  return inTransaction(ctx.db, async (client) => {
    if (nothingToDo(ctx, runId, await lockChunk(client, runId, stage, chunkNo))) return SKIPPED;

    const taskId = idMemo('tasks');
    const taskIds = [...new Set(edges.flatMap((e) => [taskId(e.taskLegacyId), taskId(e.dependsOnLegacyId)]))];
    const { rows: tasks } = await client.query<{ id: string; legacy_line: number }>(
      lookupById('tms.tasks', 't.id::text AS id, t.legacy_line'), [taskIds]);
    const taskLine = new Map(tasks.map((t) => [t.id, t.legacy_line]));
    const rejectedTaskLines = fromTasksFile ? await rejectedTaskLinesOf(client, runId, file.fileName, edges, (e) => taskLine.get(taskId(e.taskLegacyId))) : null;

    const candidates: (Edge & { taskId: string; dependsOnId: string })[] = [];
    const seen = new Map<string, string>();
    const targetField = fromTasksFile ? 'depends_on' : 'depends_on_id';
    for (const edge of edges) {
      const legacyId = `${edge.taskLegacyId}->${edge.dependsOnLegacyId}`;
      const from = taskId(edge.taskLegacyId);
      const to = taskId(edge.dependsOnLegacyId);
      const fail = (field: string, reason: string) => reject(edge.ref, edge.line, legacyId, field, reason);
      if (edge.rejectedBecause) { fail(edge.rejectedBecause.field, edge.rejectedBecause.reason); continue; }
      // A task record was migrated if its row carries this very line; else this run rejected it (possibly
      // as the later of two records with one id), unless a run of another dump sharing its ids took the
      // row over since (runs of two directories may run at once).
      const line = taskLine.get(from);
      if (fromTasksFile && line !== edge.line && (line === undefined || rejectedTaskLines!.has(edge.line))) {
        fail('depends_on', `task ${edge.taskLegacyId} at ${file.fileName}:${edge.line} was rejected, so its dependencies are too`);
        continue;
      }
      if (!fromTasksFile && line === undefined) { fail('task_id', `task_id ${edge.taskLegacyId} names no migrated task`); continue; }
      if (edge.taskLegacyId === edge.dependsOnLegacyId) { fail(targetField, `task ${edge.taskLegacyId} depends on itself`); continue; }
      if (!taskLine.has(to)) { fail(targetField, `dependency ${edge.dependsOnLegacyId} names no migrated task`); continue; }
      const key = `${from}|${to}`;
      const first = seen.get(key);
      if (first) { fail(targetField, `duplicate dependency ${legacyId} (first at ${first})`); continue; }
      seen.set(key, edge.ref);
      candidates.push({ ...edge, taskId: from, dependsOnId: to });
    }

    const claimants = candidates.map((c) => ({
      row: [c.taskId, c.dependsOnId, `${c.taskLegacyId}->${c.dependsOnLegacyId}`, c.ref, c.order, runId, runId] as CopyValue[],
      order: c.order,
      item: c,
    }));
    const { written, lost, displaced } = await claimRows(client, DEPENDENCY_TABLE, runId, claimants);
    // Within a run the earliest declaration of an edge wins; later ones are rejected as duplicates.
    for (const { claimant, holder } of lost) {
      const legacyId = claimant.row[2] as string;
      reject(claimant.item.ref, claimant.item.line, legacyId, targetField, `duplicate dependency ${legacyId} (first at ${String(holder.described.legacy_ref)})`);
    }
    for (const { claimant, holder } of displaced) {
      const legacyId = claimant.row[2] as string;
      const ref = String(holder.described.legacy_ref);
      const [otherFile = '', otherLine = '0'] = ref.split('#')[0]!.split(':');
      rejects.push({
        kind: 'task_dependencies', ref, fileName: otherFile, line: Number(otherLine), legacyId,
        field: ref.includes('#') ? 'depends_on' : 'depends_on_id',
        reason: `duplicate dependency ${legacyId} (first at ${claimant.item.ref})`,
      });
    }
    const inserted = await insertRejects(client, runId, stage, chunkNo, rejects);
    const outcome = {
      legacyRecords,
      migrated: written.length, // a delta, as in migrate-entities
      rejected: inserted,
      worker: ctx.workerName,
      durationMs: performance.now() - started,
    };
    await markChunkDone(client, runId, stage, chunkNo, outcome);
    await notifyProgress(client, runId);
    return { skipped: false, migrated: outcome.migrated, rejected: outcome.rejected };
  });
}

/**
 * Of the task lines whose row does not carry them (`rowLine` differs), the ones this run rejected. Rare:
 * a rejected task, a duplicate id, or a concurrent run of another dump over the same ids.
 */
async function rejectedTaskLinesOf(client: PoolClient, runId: string, fileName: string, edges: readonly Edge[], rowLine: (e: Edge) => number | undefined): Promise<Set<number>> {
  const refs = [...new Set(edges.filter((e) => rowLine(e) !== undefined && rowLine(e) !== e.line).map((e) => `${fileName}:${e.line}`))];
  if (refs.length === 0) return new Set();
  const { rows } = await client.query<{ line: number }>(
    `SELECT line FROM ledger.rejects WHERE run_id = $1 AND kind = 'tasks' AND ref = ANY($2::text[])`, [runId, refs]);
  return new Set(rows.map((r) => r.line));
}
