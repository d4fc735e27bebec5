// Job: reject the dependency edges that close a cycle. Runs once per run, after every edge is in.
// Only edges inside a strongly connected component can be on a cycle, so it finds the components
// (Tarjan, linear) and then replays just their edges in declaration order: an edge whose target can
// already reach its source closes a cycle and is rejected; the earlier edges stay. The order is the
// run's own, whoever created an edge: the outcome is the dump's (prepare predicts it from the files),
// and an edge of an earlier run deleted here is kept in ledger.cycle_deleted_edges for the rollback.
import { lockChunk, markChunkDone } from '../ledger/chunks.js';
import { insertRejects } from '../ledger/rejects.js';
import { notifyProgress } from '../ledger/runs.js';
import type { RecordRejection } from '../legacy/errors.js';
import { inTransaction, type PoolClient } from '../store/pool.js';
import type { ChunkJobResult, JobContext } from './context.js';
import { nothingToDo, plannedChunk, SKIPPED } from './chunk-records.js';
import type { ChunkJobPayload } from './payload.js';

const FETCH_ROWS = 20_000;

export async function rejectDependencyCycles(ctx: JobContext, payload: ChunkJobPayload): Promise<ChunkJobResult> {
  const started = performance.now();
  const { runId, stage, chunkNo } = payload;
  const chunk = await plannedChunk(ctx, payload);
  if (!chunk) return SKIPPED;

  return inTransaction(ctx.db, async (client) => {
    if (nothingToDo(ctx, runId, await lockChunk(client, runId, stage, chunkNo))) return SKIPPED;
    const graph = await loadGraph(client, runId, ctx.signal);
    const closing = findCycleClosingEdges(graph);
    const rejects: RecordRejection[] = [];
    if (closing.length > 0) {
      // An edge another run created (this run re-declared, so adopted, it) is kept whole in the ledger:
      // this run's rollback puts it back.
      const { rows } = await client.query<{ legacy_id: string; legacy_ref: string }>(
        `WITH deleted AS (
           DELETE FROM tms.task_dependencies d USING unnest($1::uuid[], $2::uuid[]) AS e(t, dep)
           WHERE d.task_id = e.t AND d.depends_on_id = e.dep RETURNING d.*
         ), kept AS (
           INSERT INTO ledger.cycle_deleted_edges (run_id, task_id, depends_on_id, created_by, edge)
           SELECT $3, d.task_id, d.depends_on_id, d.run_id, to_jsonb(d) FROM deleted d WHERE d.run_id <> $3
           -- a run rolled back and migrated again deletes the edge again
           ON CONFLICT (run_id, task_id, depends_on_id) DO UPDATE SET created_by = excluded.created_by, edge = excluded.edge,
             deleted_at = now(), restored_at = NULL, restored_xid = NULL
         )
         SELECT legacy_id, legacy_ref FROM deleted`,
        [closing.map((e) => graph.nodes[graph.from[e]!]), closing.map((e) => graph.nodes[graph.to[e]!]), runId],
      );
      for (const row of rows) {
        const [fileName = '', line = '0'] = row.legacy_ref.split('#')[0]!.split(':');
        const field = row.legacy_ref.includes('#') ? 'depends_on' : 'depends_on_id';
        rejects.push({
          kind: 'task_dependencies', ref: row.legacy_ref, fileName, line: Number(line), legacyId: row.legacy_id, field,
          reason: `dependency ${row.legacy_id} closes a dependency cycle`,
        });
      }
    }
    const inserted = await insertRejects(client, runId, stage, chunkNo, rejects);
    // Deltas: these edges were counted as migrated by the dependencies stage.
    const outcome = { legacyRecords: 0, migrated: -rejects.length, rejected: inserted, worker: ctx.workerName, durationMs: performance.now() - started };
    await markChunkDone(client, runId, stage, chunkNo, outcome);
    await notifyProgress(client, runId);
    ctx.logger.info({ runId, edges: graph.from.length, rejected: inserted }, 'Checked the dependency graph for cycles');
    return { skipped: false, migrated: outcome.migrated, rejected: inserted };
  });
}

export interface EdgeGraph {
  nodes: string[];
  /** Edge i: from[i] depends on to[i], in declaration order. */
  from: Int32Array;
  to: Int32Array;
}

/** Every edge this run migrated (last_run_id: including edges an earlier run created and this one adopted). */
async function loadGraph(client: PoolClient, runId: string, signal: AbortSignal): Promise<EdgeGraph> {
  const index = new Map<string, number>();
  const nodes: string[] = [];
  const intern = (id: string): number => {
    let i = index.get(id);
    if (i === undefined) { i = nodes.length; nodes.push(id); index.set(id, i); }
    return i;
  };
  let from = new Int32Array(1024);
  let to = new Int32Array(1024);
  let n = 0;
  await client.query(
    `DECLARE run_edges NO SCROLL CURSOR FOR
     SELECT task_id::text AS t, depends_on_id::text AS d FROM tms.task_dependencies WHERE last_run_id = $1 ORDER BY legacy_order`,
    [runId],
  );
  for (;;) {
    if (signal.aborted) throw new Error('The cycle check was aborted');
    const { rows } = await client.query<{ t: string; d: string }>(`FETCH ${FETCH_ROWS} FROM run_edges`);
    if (rows.length === 0) break;
    if (n + rows.length > from.length) {
      const size = Math.max(from.length * 2, n + rows.length);
      const grow = (a: Int32Array) => { const b = new Int32Array(size); b.set(a.subarray(0, n)); return b; };
      from = grow(from);
      to = grow(to);
    }
    for (const row of rows) { from[n] = intern(row.t); to[n] = intern(row.d); n++; }
  }
  await client.query('CLOSE run_edges');
  return { nodes, from: from.subarray(0, n), to: to.subarray(0, n) };
}

/** Indices of the edges that close a cycle, replaying edges in declaration order. */
export function findCycleClosingEdges(graph: EdgeGraph): number[] {
  const component = stronglyConnectedComponents(graph);
  const sizes = new Map<number, number>();
  for (const c of component) sizes.set(c, (sizes.get(c) ?? 0) + 1);
  const accepted = new Map<number, number[]>();
  const closing: number[] = [];
  for (let e = 0; e < graph.from.length; e++) {
    const u = graph.from[e]!;
    const v = graph.to[e]!;
    if (component[u] !== component[v] || (sizes.get(component[u]!) ?? 0) < 2) continue;
    if (reaches(accepted, v, u)) { closing.push(e); continue; }
    let out = accepted.get(u);
    if (!out) accepted.set(u, (out = []));
    out.push(v);
  }
  return closing;
}

function reaches(adjacency: Map<number, number[]>, start: number, target: number): boolean {
  if (start === target) return true;
  const seen = new Set<number>([start]);
  const stack = [start];
  while (stack.length > 0) {
    for (const next of adjacency.get(stack.pop()!) ?? []) {
      if (next === target) return true;
      if (!seen.has(next)) { seen.add(next); stack.push(next); }
    }
  }
  return false;
}

/** Tarjan's algorithm without recursion (graphs here have millions of nodes). */
function stronglyConnectedComponents(graph: EdgeGraph): Int32Array {
  const n = graph.nodes.length;
  // Adjacency in CSR form.
  const start = new Int32Array(n + 1);
  for (const u of graph.from) start[u + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const adj = new Int32Array(graph.from.length);
  for (let e = 0; e < graph.from.length; e++) adj[fill[graph.from[e]!]!++] = graph.to[e]!;

  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const component = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  const callNode: number[] = [];
  const callEdge: number[] = [];
  let counter = 0;
  let components = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    callNode.push(root); callEdge.push(start[root]!);
    index[root] = low[root] = counter++; stack.push(root); onStack[root] = 1;
    while (callNode.length > 0) {
      const top = callNode.length - 1;
      const u = callNode[top]!;
      const e = callEdge[top]!;
      if (e < start[u + 1]!) {
        callEdge[top] = e + 1;
        const v = adj[e]!;
        if (index[v] === -1) {
          index[v] = low[v] = counter++; stack.push(v); onStack[v] = 1;
          callNode.push(v); callEdge.push(start[v]!);
        } else if (onStack[v]) {
          low[u] = Math.min(low[u]!, index[v]!);
        }
        continue;
      }
      if (low[u] === index[u]) {
        let w: number;
        do { w = stack.pop()!; onStack[w] = 0; component[w] = components; } while (w !== u);
        components++;
      }
      callNode.pop(); callEdge.pop();
      if (callNode.length > 0) { const p = callNode[callNode.length - 1]!; low[p] = Math.min(low[p]!, low[u]!); }
    }
  }
  return component;
}
