// Job: migrate the dependency edges of one chunk — either a chunk of the tasks file (each task's
// depends_on) or a chunk of task_dependencies. Runs after every task is in, so both ends of an edge
// can be checked. Like every chunk job it is one transaction, verified before commit.
import { getChunk, lockChunk, markChunkDone } from '../ledger/chunks.js';
import { insertRejects } from '../ledger/rejects.js';
import { notifyProgress } from '../ledger/runs.js';
import type { RecordRejection } from '../legacy/errors.js';
import { createNormalizer } from '../legacy/normalize.js';
import { writeRows, type TableSpec } from '../store/copy-rows.js';
import type { CopyValue } from '../store/copy-text.js';
import { newId } from '../store/new-ids.js';
import { inTransaction } from '../store/pool.js';
import { readChunkRecords } from './chunk-records.js';
import type { ChunkJobResult, JobContext } from './context.js';
import { PermanentJobError } from './errors.js';
import type { ChunkJobPayload } from './payload.js';

export const DEPENDENCY_TABLE: TableSpec = {
  table: 'tms.task_dependencies',
  columns: ['task_id', 'depends_on_id', 'legacy_id', 'legacy_ref', 'legacy_order', 'run_id'],
  key: ['task_id', 'depends_on_id'],
  keep: ['run_id'],
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
  const chunk = await getChunk(ctx.db, runId, stage, chunkNo);
  if (!chunk) throw new PermanentJobError(`Chunk ${stage} #${chunkNo} of run ${runId} is not in the ledger`);
  if (chunk.status === 'done') return { skipped: true, migrated: 0, rejected: 0 };
  const run = await ctx.runs.get(runId);
  const fromTasksFile = chunk.fileName === run.files.get('tasks')?.fileName;
  const file = run.files.get(fromTasksFile ? 'tasks' : 'task_dependencies');
  if (!file) throw new PermanentJobError(`Run ${runId} has no file ${chunk.fileName ?? '?'}`);

  const records = await readChunkRecords(run, chunk, file);
  const rejects: RecordRejection[] = [];
  const reject = (ref: string, line: number, legacyId: string | null, field: string | null, reason: string): void => {
    rejects.push({ kind: 'task_dependencies', ref, fileName: file.fileName, line, legacyId, field, reason });
  };
  const edges: Edge[] = [];

  if (fromTasksFile) {
    const normalize = createNormalizer('tasks', run.mapping);
    const dependsOnField = Object.entries(run.mapping.fields.tasks ?? {}).find(([, name]) => name === 'depends_on')?.[0] ?? 'depends_on';
    for (const record of records) {
      if (record.error !== null) continue; // an unparseable task declares no countable edge
      const result = normalize(record.fields);
      // A rejected task's edges are still counted, and rejected with it (when its depends_on is readable).
      const legacyId = result.ok ? result.value.legacyId : result.legacyId ?? `?${record.line}`;
      const dependsOn = result.ok ? result.value.dependsOn : readableList(record.fields[dependsOnField]);
      (dependsOn ?? []).forEach((dep, position) => {
        const ref = `${file.fileName}:${record.line}#depends_on[${position}]`;
        const edge: Edge = { taskLegacyId: legacyId, dependsOnLegacyId: dep, ref, line: record.line, order: declarationOrder(true, record.line, position) };
        if (!result.ok) edge.rejectedBecause = { field: 'depends_on', reason: `task ${legacyId} at ${file.fileName}:${record.line} was rejected, so its dependencies are too` };
        else if (position >= MAX_DEPENDENCIES_PER_TASK) edge.rejectedBecause = { field: 'depends_on', reason: `more than ${MAX_DEPENDENCIES_PER_TASK} dependencies on one task` };
        edges.push(edge);
      });
    }
  } else {
    const normalize = createNormalizer('task_dependencies', run.mapping);
    for (const record of records) {
      const ref = `${file.fileName}:${record.line}`;
      if (record.error !== null) { reject(ref, record.line, null, null, record.error); continue; }
      const result = normalize(record.fields);
      if (!result.ok) { reject(ref, record.line, result.legacyId, result.field, result.reason); continue; }
      edges.push({ ...result.value, ref, line: record.line, order: declarationOrder(false, record.line, 0) });
    }
  }

  return inTransaction(ctx.db, async (client) => {
    const status = await lockChunk(client, runId, stage, chunkNo);
    if (status === 'done') return { skipped: true, migrated: 0, rejected: 0 };

    const taskIds = [...new Set(edges.flatMap((e) => [newId('tasks', e.taskLegacyId), newId('tasks', e.dependsOnLegacyId)]))];
    const { rows: tasks } = await client.query<{ id: string; legacy_line: number }>(
      `SELECT id::text, legacy_line FROM tms.tasks WHERE id = ANY($1::uuid[])`, [taskIds]);
    const taskLine = new Map(tasks.map((t) => [t.id, t.legacy_line]));

    const candidates: (Edge & { taskId: string; dependsOnId: string })[] = [];
    const seen = new Map<string, string>();
    for (const edge of edges) {
      const legacyId = `${edge.taskLegacyId}->${edge.dependsOnLegacyId}`;
      const taskId = newId('tasks', edge.taskLegacyId);
      const dependsOnId = newId('tasks', edge.dependsOnLegacyId);
      const fail = (field: string, reason: string) => reject(edge.ref, edge.line, legacyId, field, reason);
      if (edge.rejectedBecause) { fail(edge.rejectedBecause.field, edge.rejectedBecause.reason); continue; }
      // A task record was migrated only if its row carries this very line (else it lost a duplicate contest).
      const line = taskLine.get(taskId);
      if (fromTasksFile && line !== edge.line) {
        fail('depends_on', `task ${edge.taskLegacyId} at ${file.fileName}:${edge.line} was rejected, so its dependencies are too`);
        continue;
      }
      if (!fromTasksFile && line === undefined) { fail('task_id', `task_id ${edge.taskLegacyId} names no migrated task`); continue; }
      if (edge.taskLegacyId === edge.dependsOnLegacyId) { fail(fromTasksFile ? 'depends_on' : 'depends_on_id', `task ${edge.taskLegacyId} depends on itself`); continue; }
      if (!taskLine.has(dependsOnId)) {
        fail(fromTasksFile ? 'depends_on' : 'depends_on_id', `dependency ${edge.dependsOnLegacyId} names no migrated task`);
        continue;
      }
      const key = `${taskId}|${dependsOnId}`;
      const first = seen.get(key);
      if (first) { fail(fromTasksFile ? 'depends_on' : 'depends_on_id', `duplicate dependency ${legacyId} (first at ${first})`); continue; }
      seen.set(key, edge.ref);
      candidates.push({ ...edge, taskId, dependsOnId });
    }

    // Edges declared in other chunks: the earliest declaration wins.
    const { rows: existing } = await client.query<{ task_id: string; depends_on_id: string; legacy_ref: string; legacy_order: string; run_id: string }>(
      `SELECT d.task_id::text, d.depends_on_id::text, d.legacy_ref, d.legacy_order, d.run_id
       FROM tms.task_dependencies d JOIN unnest($1::uuid[], $2::uuid[]) AS e(t, dep) ON d.task_id = e.t AND d.depends_on_id = e.dep`,
      [candidates.map((c) => c.taskId), candidates.map((c) => c.dependsOnId)],
    );
    const existingByKey = new Map(existing.map((e) => [`${e.task_id}|${e.depends_on_id}`, e]));
    const rows: CopyValue[][] = [];
    let movedToRejects = 0;
    for (const c of candidates) {
      const legacyId = `${c.taskLegacyId}->${c.dependsOnLegacyId}`;
      const other = existingByKey.get(`${c.taskId}|${c.dependsOnId}`);
      if (other && other.run_id === runId && other.legacy_ref !== c.ref) {
        const field = fromTasksFile ? 'depends_on' : 'depends_on_id';
        if (Number(other.legacy_order) < c.order) {
          reject(c.ref, c.line, legacyId, field, `duplicate dependency ${legacyId} (first at ${other.legacy_ref})`);
          continue;
        }
        const [otherFile, otherLine] = other.legacy_ref.split('#')[0]!.split(':');
        rejects.push({ kind: 'task_dependencies', ref: other.legacy_ref, fileName: otherFile ?? '', line: Number(otherLine), legacyId, field, reason: `duplicate dependency ${legacyId} (first at ${c.ref})` });
        movedToRejects++;
      }
      rows.push([c.taskId, c.dependsOnId, legacyId, c.ref, c.order, runId]);
    }
    await writeRows(client, DEPENDENCY_TABLE, rows, existing.length > 0);
    await verifyEdges(client, rows);
    const inserted = await insertRejects(client, runId, stage, chunkNo, rejects);
    const outcome = {
      legacyRecords: fromTasksFile ? edges.length : records.length,
      migrated: rows.length - movedToRejects,
      rejected: inserted,
      worker: ctx.workerName,
      durationMs: performance.now() - started,
    };
    await markChunkDone(client, runId, stage, chunkNo, outcome);
    await notifyProgress(client, runId);
    return { skipped: false, migrated: outcome.migrated, rejected: outcome.rejected };
  });
}

/** The depends_on of a rejected task, if it is still a readable list of ids. */
function readableList(value: unknown): string[] | null {
  const items = typeof value === 'string' ? value.split(';') : Array.isArray(value) ? value : null;
  if (!items?.every((item) => typeof item === 'string' || typeof item === 'number')) return null;
  return items.map((item) => String(item).trim()).filter((item) => item !== '');
}

async function verifyEdges(client: import('../store/pool.js').PoolClient, rows: readonly CopyValue[][]): Promise<void> {
  if (rows.length === 0) return;
  const { rows: read } = await client.query<{ task_id: string; depends_on_id: string; legacy_id: string; legacy_ref: string; legacy_order: string }>(
    `SELECT d.task_id::text, d.depends_on_id::text, d.legacy_id, d.legacy_ref, d.legacy_order
     FROM tms.task_dependencies d JOIN unnest($1::uuid[], $2::uuid[]) AS e(t, dep) ON d.task_id = e.t AND d.depends_on_id = e.dep`,
    [rows.map((r) => r[0]), rows.map((r) => r[1])],
  );
  const byKey = new Map(read.map((r) => [`${r.task_id}|${r.depends_on_id}`, r]));
  for (const row of rows) {
    const found = byKey.get(`${String(row[0])}|${String(row[1])}`);
    if (!found || found.legacy_id !== row[2] || found.legacy_ref !== row[3] || Number(found.legacy_order) !== row[4]) {
      throw new Error(`Per-chunk verification failed for dependency ${String(row[2])}: the row read back differs`);
    }
  }
}
