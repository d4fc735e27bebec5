// The optimize phase: the load runs without secondary indexes, so they are built here, concurrently
// (the new system stays readable and writable meanwhile), then the tables are analyzed. The typical
// queries' plans and latencies are measured before and after, into a report. Re-running builds only
// what is missing, and rebuilds an index an interrupted concurrent build left INVALID.
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from '../logger.js';
import type { Pool, PoolClient } from '../store/pool.js';
import { GateError, recordPhase } from './phase-events.js';
import { createIndexSql, SECONDARY_INDEXES, TMS_TABLES, type SecondaryIndex } from './secondary-indexes.js';
import { measureTypicalQueries, TYPICAL_QUERIES, type LatencyFigures, type TypicalQuery } from './typical-queries.js';
import { makeDirectory } from '../make-directory.js';

/** Two optimize runs on one database would race on the same concurrent builds: one at a time. */
const OPTIMIZE_LOCK = 7_346_012_031;

export interface PlanSummary {
  query: TypicalQuery['name'];
  /** Node types of the plan tree, depth first. */
  nodeTypes: string[];
  /** Indexes the plan reads. */
  indexes: string[];
  /** Tables the plan reads sequentially. */
  seqScans: string[];
  totalCost: number;
}

export interface IndexOutcome {
  name: string;
  table: string;
  unique: boolean;
  definition: string;
  /** created: built now; rebuilt: an INVALID one was dropped and built again; present: already valid. */
  action: 'created' | 'rebuilt' | 'present';
  ms: number;
}

export interface Measurement {
  plans: PlanSummary[];
  latencies: LatencyFigures[];
}

export interface OptimizeReport {
  runId: string | null;
  startedAt: string;
  finishedAt: string;
  /** One sentence: what this optimize did. */
  summary: string;
  indexes: IndexOutcome[];
  analyzed: readonly string[];
  analyzeMs: number;
  before: Measurement;
  after: Measurement;
}

export interface OptimizeOptions {
  reportPath: string;
  runId?: string | null;
  logger: Logger;
  /** Executions per typical query for p50/p95 (default 30). */
  latencySamples?: number;
}

interface ExplainNode {
  'Node Type': string;
  'Total Cost': number;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: ExplainNode[];
}

function summarizePlan(query: TypicalQuery['name'], root: ExplainNode): PlanSummary {
  const summary: PlanSummary = { query, nodeTypes: [], indexes: [], seqScans: [], totalCost: root['Total Cost'] };
  const walk = (node: ExplainNode): void => {
    summary.nodeTypes.push(node['Node Type']);
    if (node['Index Name'] && !summary.indexes.includes(node['Index Name'])) summary.indexes.push(node['Index Name']);
    if (node['Node Type'] === 'Seq Scan' && node['Relation Name']) summary.seqScans.push(node['Relation Name']);
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(root);
  return summary;
}

/** One parameter set per typical query, sampled once so before and after explain the same query. */
async function sampleParameters(db: Pool): Promise<Map<TypicalQuery['name'], unknown[]>> {
  const params = new Map<TypicalQuery['name'], unknown[]>();
  for (const query of TYPICAL_QUERIES) {
    const [first] = await query.sample(db, 1);
    if (first) params.set(query.name, first);
  }
  return params;
}

async function measure(db: Pool, params: Map<TypicalQuery['name'], unknown[]>, samples: number): Promise<Measurement> {
  const plans: PlanSummary[] = [];
  for (const query of TYPICAL_QUERIES) {
    const values = params.get(query.name);
    if (!values) continue; // no data to sample from: nothing to explain
    const { rows } = await db.query<{ 'QUERY PLAN': [{ Plan: ExplainNode }] }>(`EXPLAIN (FORMAT JSON) ${query.sql}`, values);
    plans.push(summarizePlan(query.name, rows[0]!['QUERY PLAN'][0].Plan));
  }
  return { plans, latencies: await measureTypicalQueries(db, samples) };
}

async function indexState(client: PoolClient, name: string): Promise<'missing' | 'valid' | 'invalid'> {
  const { rows } = await client.query<{ valid: boolean }>(
    `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'tms' AND c.relname = $1`, [name]);
  if (rows.length === 0) return 'missing';
  return rows[0]!.valid ? 'valid' : 'invalid';
}

async function buildIndex(client: PoolClient, index: SecondaryIndex, logger: Logger): Promise<IndexOutcome> {
  const started = performance.now();
  const state = await indexState(client, index.name);
  const outcome = (action: IndexOutcome['action']): IndexOutcome =>
    ({ name: index.name, table: index.table, unique: index.unique, definition: index.definition, action, ms: Math.round(performance.now() - started) });
  if (state === 'valid') return outcome('present');
  if (state === 'invalid') {
    // An interrupted CREATE INDEX CONCURRENTLY leaves an index that is maintained but never read.
    logger.warn({ index: index.name }, `Index ${index.name} is INVALID (an interrupted concurrent build): dropping and rebuilding it`);
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS tms.${index.name}`);
  }
  try {
    await client.query(createIndexSql(index));
  } catch (err) {
    // A failed concurrent build leaves its INVALID index behind: remove it so the next attempt starts clean.
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS tms.${index.name}`).catch(() => undefined);
    const e = err as Error & { detail?: string };
    throw new Error(`Building index ${index.name} on ${index.table} failed: ${e.message}${e.detail ? ` (${e.detail})` : ''}`, { cause: err });
  }
  const done = outcome(state === 'invalid' ? 'rebuilt' : 'created');
  logger.info({ index: index.name, ms: done.ms }, `Index ${index.name} ${done.action} on ${index.table} in ${done.ms} ms`);
  return done;
}

function describeOutcome(indexes: readonly IndexOutcome[]): string {
  const created = indexes.filter((i) => i.action === 'created').length;
  const rebuilt = indexes.filter((i) => i.action === 'rebuilt').length;
  if (created + rebuilt === 0) return `All ${indexes.length} secondary indexes were already in place; nothing was created (tables analyzed again).`;
  return `Created ${created} secondary index${created === 1 ? '' : 'es'}${rebuilt > 0 ? `, rebuilt ${rebuilt} INVALID one${rebuilt === 1 ? '' : 's'}` : ''}; `
    + `${indexes.length - created - rebuilt} already in place; tables analyzed.`;
}

/** Builds the missing secondary indexes, analyzes, and writes the before/after report to `reportPath`. */
export async function runOptimize(db: Pool, opts: OptimizeOptions): Promise<OptimizeReport> {
  const runId = opts.runId ?? null;
  const samples = opts.latencySamples ?? 30;
  const { report } = await recordPhase(db, 'optimize', { runId }, async () => {
    const client = await db.connect();
    try {
      const { rows: [lock] } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [OPTIMIZE_LOCK]);
      if (!lock?.locked) throw new GateError('Another `taskfleet optimize` is running on this database; wait for it to finish');
      try {
        const startedAt = new Date();
        const params = await sampleParameters(db);
        const before = await measure(db, params, samples);
        const indexes: IndexOutcome[] = [];
        for (const index of SECONDARY_INDEXES) indexes.push(await buildIndex(client, index, opts.logger));
        const analyzeStarted = performance.now();
        await client.query(`ANALYZE ${TMS_TABLES.join(', ')}`);
        const analyzeMs = Math.round(performance.now() - analyzeStarted);
        const after = await measure(db, params, samples);
        const report: OptimizeReport = {
          runId, startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), summary: describeOutcome(indexes),
          indexes, analyzed: TMS_TABLES, analyzeMs, before, after,
        };
        const path = resolve(opts.reportPath);
        await makeDirectory(dirname(path));
        await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
        opts.logger.info({ report: path }, report.summary);
        const counts = Object.fromEntries((['created', 'rebuilt', 'present'] as const).map((a) => [a, indexes.filter((i) => i.action === a).length]));
        return { passed: true, summary: { ...counts, reportPath: path }, report };
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [OPTIMIZE_LOCK]).catch(() => undefined);
      }
    } finally {
      client.release();
    }
  });
  return report;
}
