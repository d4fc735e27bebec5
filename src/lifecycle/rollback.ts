// The rollback phase: removes exactly the rows a run created (run_id = the run), children first, in
// one transaction, and restores the run's legacy data from the backup its prepare made.
//
// What it never does is touch another run's rows:
// - rows this run created that a later run has since adopted (last_run_id = that run), and rows of
//   other runs that point at rows of this run, make it refuse: that run must be rolled back first;
// - rows another run created that this run adopted (run_id = other, last_run_id = this run) stay;
// - edges another run created that this run's cycle check deleted (ledger.cycle_deleted_edges) are put
//   back, unless that would close a cycle with edges added since; and a run whose edges a later run's
//   cycle check deleted waits for that run's rollback.
// Rows of the run changed after it completed (xmin newer than the run's completed_xid) are someone
// else's work: they are listed and the rollback refuses unless --force.
// A dry run computes the same plan and writes nothing at all (not even a phase event).
import { copyFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { findRun, lockRunAlone, notifyProgress, runStatusOf, type Run } from '../ledger/runs.js';
import type { Logger } from '../logger.js';
import type { Pool, PoolClient } from '../store/pool.js';
import { whileHoldingSessionLock } from '../store/session-lock.js';
import { verifyBackup } from './backup.js';
import { checkAgainstManifest, describeMismatches, type Manifest, type ManifestMismatch } from './manifest.js';
import { GateError, recordPhase } from './phase-events.js';
import { makeDirectory } from '../make-directory.js';

type Db = Pool | PoolClient;

/** How many legacy ids each listing names (the counts are always complete). */
const SAMPLE = 10;

/** The tables a run writes, children before parents: the deletion order. */
export const ROLLBACK_ORDER = ['tms.task_dependencies', 'tms.workflow_runs', 'tms.workflows', 'tms.workflow_templates', 'tms.tasks', 'tms.phases', 'tms.projects'] as const;
export type RollbackTable = (typeof ROLLBACK_ORDER)[number];

/** Tables whose rows carry a legacy id and the run that last migrated them. */
const MIGRATED_TABLES = ['tms.projects', 'tms.phases', 'tms.tasks', 'tms.task_dependencies'] as const;

/** Rows of one table that belong to a group (a run), counted, with a few legacy ids named. */
export interface RowGroup {
  table: string;
  /** The other run concerned (the adopter, the owner of the pointing rows, the creator). */
  runId: string | null;
  rows: number;
  sample: string[];
  /** Rows written outside taskfleet: their run_id names no run of the ledger (no rollback removes them). */
  outside?: boolean;
}

export interface RestoreAction {
  file: string;
  /** 'cannot restore': the file differs, and so does the backup's copy of it (--force leaves the file as it is). */
  action: 'restore' | 'unchanged' | 'left in place' | 'cannot restore';
  /** Why: missing, size differs, sha256 differs, or "not in the backup" for left-in-place files. */
  reason?: string;
}

export interface RestorePlan {
  preparationId: number;
  backupDir: string;
  manifestSha256: string;
  actions: RestoreAction[];
  /** How the backup differs from its manifest (empty: intact). */
  backupProblems: ManifestMismatch[];
}

export interface RollbackPlan {
  runId: string;
  legacyDir: string;
  /** Rows to delete per table, in deletion order. */
  deletes: { table: RollbackTable; rows: number }[];
  /** Rows of this run that later runs adopted: refuse (roll those runs back first). */
  adoptedByLaterRuns: RowGroup[];
  /** Rows of other runs pointing at rows of this run: refuse (they would be left dangling). */
  dependentsOfOtherRuns: RowGroup[];
  /** Rows other runs created that this run adopted: left in place. */
  adoptedFromOtherRuns: RowGroup[];
  /** Edges other runs created that this run's cycle check deleted: put back (grouped by creator). */
  edgesToPutBack: RowGroup[];
  /** Edges of this run that a later run's cycle check deleted: refuse (roll that run back first). */
  edgesDeletedByLaterRuns: RowGroup[];
  /** Edges to put back that would now close a cycle with an edge added since: refuse. */
  edgesClosingCycles: RowGroup[];
  /** The later runs whose edges those cycles run through: to roll back first. */
  runsOnCycles: string[];
  /** Rows of this run changed after it completed; null when the run never completed (cannot tell). */
  changedAfterRun: RowGroup[] | null;
  /** null: the run was started without a prepare (--skip-prepare), so there is no backup. */
  restore: RestorePlan | null;
  /** Why a real rollback would refuse now (empty: it would proceed). */
  refusals: { reason: string; forceable: boolean }[];
}

export interface RollbackResult {
  plan: RollbackPlan;
  dryRun: boolean;
  /** Rows deleted per table (a dry run deletes nothing). */
  deleted: { table: RollbackTable; rows: number }[];
  /** Edges of other runs put back (a dry run puts back none). */
  edgesPutBack: number;
  restored: string[];
  rolledBackAt: Date | null;
}

export interface RollbackOptions {
  /** Default: the latest run (refused if it is rolled back already). */
  runId?: string | null;
  dryRun: boolean;
  force: boolean;
  logger: Logger;
}

// ---- the database side ---------------------------------------------------------------------------

// The workflow attempts a run created: those its workflows stage made (also on workflows an earlier run
// created, which stay), and any attempt at a workflow the run created (they go with the workflow).
const RUN_WORKFLOW_RUNS = 'wr.run_id = $1 OR wr.workflow_id IN (SELECT id FROM tms.workflows WHERE run_id = $1)';
// Templates are stored once per content and shared: the rollback removes those the run stored first,
// and those a run already rolled back stored first (kept then for this run's workflows), once no other
// run's workflow uses them.
const RUN_TEMPLATES = `(tpl.run_id = $1 OR tpl.run_id IN (SELECT id FROM ledger.runs WHERE status = 'rolled_back'))
  AND tpl.id NOT IN (SELECT DISTINCT template_id FROM tms.workflows WHERE run_id <> $1)`;

async function countRows(db: Db, runId: string): Promise<RollbackPlan['deletes']> {
  const { rows: [c] } = await db.query<Record<string, number>>(
    `SELECT (SELECT count(*) FROM tms.task_dependencies WHERE run_id = $1)::int AS "tms.task_dependencies",
            (SELECT count(*) FROM tms.workflow_runs wr WHERE ${RUN_WORKFLOW_RUNS})::int AS "tms.workflow_runs",
            (SELECT count(*) FROM tms.workflows WHERE run_id = $1)::int AS "tms.workflows",
            (SELECT count(*) FROM tms.workflow_templates tpl WHERE ${RUN_TEMPLATES})::int AS "tms.workflow_templates",
            (SELECT count(*) FROM tms.tasks WHERE run_id = $1)::int AS "tms.tasks",
            (SELECT count(*) FROM tms.phases WHERE run_id = $1)::int AS "tms.phases",
            (SELECT count(*) FROM tms.projects WHERE run_id = $1)::int AS "tms.projects"`, [runId]);
  return ROLLBACK_ORDER.map((table) => ({ table, rows: c![table] ?? 0 }));
}

/** Groups rows by `groupBy` (a run id column) from `from ... where`, naming `label` of a few. */
async function groupRows(db: Db, table: string, sql: { from: string; where: string; groupBy: string; label: string }, params: unknown[]): Promise<RowGroup[]> {
  const { rows } = await db.query<{ run_id: string | null; rows: number; sample: string[] }>(
    `SELECT ${sql.groupBy} AS run_id, count(*)::int AS rows, (array_agg(${sql.label} ORDER BY ${sql.label}))[1:${SAMPLE}] AS sample
       FROM ${sql.from} WHERE ${sql.where} GROUP BY 1 ORDER BY 1`, params);
  return rows.map((r) => ({ table, runId: r.run_id, rows: r.rows, sample: r.sample }));
}

async function adoptedByLaterRuns(db: Db, runId: string): Promise<RowGroup[]> {
  const groups: RowGroup[] = [];
  for (const table of MIGRATED_TABLES) {
    groups.push(...await groupRows(db, table, {
      from: `${table} t JOIN ledger.runs r ON r.id = t.last_run_id`,
      where: `t.run_id = $1 AND t.last_run_id <> $1 AND r.status <> 'rolled_back'`, groupBy: 't.last_run_id', label: 't.legacy_id',
    }, [runId]));
  }
  return groups;
}

async function adoptedFromOtherRuns(db: Db, runId: string): Promise<RowGroup[]> {
  const groups: RowGroup[] = [];
  for (const table of MIGRATED_TABLES) {
    groups.push(...await groupRows(db, table, { from: `${table} t`, where: 't.run_id <> $1 AND t.last_run_id = $1', groupBy: 't.run_id', label: 't.legacy_id' }, [runId]));
  }
  return groups;
}

const PENDING_EDGES = 'ledger.cycle_deleted_edges c';

async function edgesToPutBack(db: Db, runId: string): Promise<RowGroup[]> {
  return groupRows(db, 'tms.task_dependencies', { from: PENDING_EDGES, where: 'c.run_id = $1 AND c.restored_at IS NULL', groupBy: 'c.created_by', label: "(c.edge->>'legacy_id')" }, [runId]);
}

async function edgesDeletedByLaterRuns(db: Db, runId: string): Promise<RowGroup[]> {
  return groupRows(db, 'tms.task_dependencies', {
    from: `${PENDING_EDGES} JOIN ledger.runs r ON r.id = c.run_id`,
    where: `c.created_by = $1 AND c.run_id <> $1 AND c.restored_at IS NULL AND r.status <> 'rolled_back'`, groupBy: 'c.run_id', label: "(c.edge->>'legacy_id')",
  }, [runId]);
}

// The walk over the graph a rollback leaves (every edge not of run $1, plus the edges it puts back),
// from `start` onwards, by primary key: a query goes on to read `reach(node)`.
const reachFrom = (start: string): string => `WITH RECURSIVE reach(node) AS (
  SELECT ${start}
  UNION
  SELECT n.next FROM reach, LATERAL (
    SELECT d.depends_on_id AS next FROM tms.task_dependencies d WHERE d.task_id = reach.node AND d.run_id <> $1
    UNION ALL
    SELECT p.depends_on_id FROM ledger.cycle_deleted_edges p WHERE p.run_id = $1 AND p.restored_at IS NULL AND p.task_id = reach.node) n
)`;

/**
 * The edges to put back that would close a cycle with an edge added since this run, and the runs that
 * added those (to roll back first). The graph is the one the rollback leaves: every edge not of this
 * run, plus the edges put back. A cycle made only of edges from runs no later than this one is the
 * state before its cycle check (runs do not check each other's edges), which the rollback restores.
 * Walks only what the candidate edges reach, by primary key.
 */
async function cyclesOnPutBack(db: Db, runId: string): Promise<{ groups: RowGroup[]; runs: string[] }> {
  // Candidates: pending edges u → v where v reaches u.
  const { rows: candidates } = await db.query<{ task_id: string; depends_on_id: string; created_by: string; legacy_id: string }>(
    `SELECT c.task_id::text, c.depends_on_id::text, c.created_by, c.edge->>'legacy_id' AS legacy_id FROM ${PENDING_EDGES}
      WHERE c.run_id = $1 AND c.restored_at IS NULL AND EXISTS (${reachFrom('c.depends_on_id')} SELECT 1 FROM reach WHERE reach.node = c.task_id)
      ORDER BY 4`, [runId]);
  const refused: typeof candidates = [];
  const runs = new Set<string>();
  for (const edge of candidates) {
    // Every edge the walk from v meets; the later ones name the run to roll back (the adopter, when
    // their creator is rolled back and the row stayed for it).
    const { rows: met } = await db.query<{ t: string; d: string; run: string | null; later: boolean }>(
      `${reachFrom('$2::uuid')}
       SELECT d.task_id::text AS t, d.depends_on_id::text AS d,
              CASE WHEN r.status = 'rolled_back' THEN d.last_run_id ELSE d.run_id END AS run,
              COALESCE(r.created_at > (SELECT created_at FROM ledger.runs WHERE id = $1), false) AS later
         FROM reach JOIN tms.task_dependencies d ON d.task_id = reach.node AND d.run_id <> $1 LEFT JOIN ledger.runs r ON r.id = d.run_id
       UNION ALL
       SELECT p.task_id::text, p.depends_on_id::text, NULL, false FROM reach JOIN ledger.cycle_deleted_edges p
         ON p.run_id = $1 AND p.restored_at IS NULL AND p.task_id = reach.node`,
      [runId, edge.depends_on_id]);
    // An edge x → y lies on a cycle through u → v when y reaches u (x is reached from v by the walk).
    const into = new Map<string, string[]>();
    for (const e of met) { const list = into.get(e.d); if (list) list.push(e.t); else into.set(e.d, [e.t]); }
    const reachesU = new Set<string>([edge.task_id]);
    const stack = [edge.task_id];
    while (stack.length > 0) for (const from of into.get(stack.pop()!) ?? []) if (!reachesU.has(from)) { reachesU.add(from); stack.push(from); }
    const later = met.filter((e) => e.later && e.run !== null && reachesU.has(e.d));
    if (later.length === 0) continue;
    refused.push(edge);
    for (const e of later) runs.add(e.run!);
  }
  const byCreator = new Map<string, string[]>();
  for (const e of refused) { const ids = byCreator.get(e.created_by); if (ids) ids.push(e.legacy_id); else byCreator.set(e.created_by, [e.legacy_id]); }
  const groups = [...byCreator].sort(([a], [b]) => a.localeCompare(b))
    .map(([creator, ids]): RowGroup => ({ table: 'tms.task_dependencies', runId: creator, rows: ids.length, sample: ids.slice(0, SAMPLE) }));
  return { groups, runs: [...runs].sort() };
}

async function dependentsOfOtherRuns(db: Db, runId: string): Promise<RowGroup[]> {
  // EXISTS by primary key, not IN (subquery): a run's million ids do not fit a hashed subplan, and
  // an unhashed one would rescan them for every row.
  const ours = (table: string, column: string) => `EXISTS (SELECT 1 FROM ${table} o WHERE o.id = ${column} AND o.run_id = $1)`;
  const checks: { table: string; from: string; where: string; label: string }[] = [
    { table: 'tms.phases', from: 'tms.phases t', where: `t.run_id <> $1 AND ${ours('tms.projects', 't.project_id')}`, label: 't.legacy_id' },
    { table: 'tms.tasks', from: 'tms.tasks t', where: `t.run_id <> $1 AND (${ours('tms.projects', 't.project_id')} OR ${ours('tms.phases', 't.phase_id')})`, label: 't.legacy_id' },
    { table: 'tms.task_dependencies', from: 'tms.task_dependencies t', where: `t.run_id <> $1 AND (${ours('tms.tasks', 't.task_id')} OR ${ours('tms.tasks', 't.depends_on_id')})`, label: 't.legacy_id' },
    { table: 'tms.workflows', from: 'tms.workflows t JOIN tms.tasks k ON k.id = t.task_id', where: `t.run_id <> $1 AND k.run_id = $1`, label: 'k.legacy_id' },
  ];
  const groups: RowGroup[] = [];
  for (const c of checks) groups.push(...await groupRows(db, c.table, { from: c.from, where: c.where, groupBy: 't.run_id', label: c.label }, [runId]));
  const { rows: known } = await db.query<{ id: string }>('SELECT id FROM ledger.runs WHERE id = ANY($1::text[])', [[...new Set(groups.map((g) => g.runId))]]);
  const runs = new Set(known.map((r) => r.id));
  return groups.map((g) => (g.runId !== null && runs.has(g.runId) ? g : { ...g, outside: true }));
}

/**
 * Rows of the run written after the run that last migrated them completed: someone else's change.
 * That run is this one, or a later run that adopted the row and has since been rolled back (rows a
 * live later run adopted are refused separately). Its completed_xid is the next transaction id at its
 * completion; a row with an xmin at or after it was written later (writtenAtOrAfter). A row whose last
 * run never completed cannot be told apart and counts as changed.
 */
async function changedAfterRun(db: Db, runId: string, completedXid: string): Promise<RowGroup[]> {
  const groups: RowGroup[] = [];
  // Workflows carry a legacy id and a last run like the entity rows; their attempts (below) do not.
  for (const table of [...MIGRATED_TABLES, 'tms.workflows']) {
    // An edge a later run's cycle check deleted and its rollback put back was written by that rollback.
    const putBack = table === 'tms.task_dependencies'
      ? `LEFT JOIN (SELECT task_id, depends_on_id, max(restored_xid::text::numeric) AS xid FROM ledger.cycle_deleted_edges
           WHERE created_by = $1 GROUP BY 1, 2) pb ON pb.task_id = t.task_id AND pb.depends_on_id = t.depends_on_id`
      : 'LEFT JOIN (SELECT NULL::numeric AS xid) pb ON false';
    groups.push(...await groupRows(db, table, {
      from: `${table} t LEFT JOIN ledger.runs lr ON lr.id = t.last_run_id AND t.last_run_id <> $1 ${putBack},
        (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::numeric AS next) h`,
      where: `t.run_id = $1 AND NOT (lr.id IS NOT NULL AND lr.status <> 'rolled_back') AND ${writtenAtOrAfter('t',
        "GREATEST(COALESCE(CASE WHEN t.last_run_id = $1 THEN $2::numeric ELSE lr.completed_xid::text::numeric END, 0), COALESCE(pb.xid + 1, 0))")}`,
      groupBy: 'NULL::text', label: 't.legacy_id',
    }, [runId, completedXid]));
  }
  // Attempts at the run's workflows made after it (a manual workflow run), which the rollback deletes with them.
  groups.push(...await groupRows(db, 'tms.workflow_runs', {
    from: `tms.workflow_runs wr LEFT JOIN tms.workflows t ON t.id = wr.workflow_id, (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::numeric AS next) h`,
    where: `(${RUN_WORKFLOW_RUNS}) AND ${writtenAtOrAfter('wr', '$2::numeric')}`,
    groupBy: 'NULL::text', label: "COALESCE(t.legacy_id, wr.workflow_id::text) || ' attempt ' || wr.attempt",
  }, [runId, completedXid]));
  return groups;
}

/**
 * Whether row `t` was written at or after the 64-bit transaction id `xid` (SQL). xmin is a 32-bit xid: it
 * is widened to the 64-bit xid8 of the current snapshot's epoch (h.next; it lies less than 2^31
 * transactions back), so the comparison holds across xid wraparound. Reserved xids (< 3: frozen,
 * bootstrap) are old by definition.
 */
const writtenAtOrAfter = (t: string, xid: string): string => `${t}.xmin::text::numeric >= 3
  AND h.next - ((h.next % 4294967296) - ${t}.xmin::text::numeric + 4294967296) % 4294967296 >= ${xid}`;

interface DatabasePlan {
  deletes: RollbackPlan['deletes'];
  adoptedByLaterRuns: RowGroup[];
  dependentsOfOtherRuns: RowGroup[];
  adoptedFromOtherRuns: RowGroup[];
  edgesToPutBack: RowGroup[];
  edgesDeletedByLaterRuns: RowGroup[];
  edgesClosingCycles: RowGroup[];
  runsOnCycles: string[];
  changedAfterRun: RowGroup[] | null;
}

async function planDatabase(db: Db, runId: string, completedXid: string | null): Promise<DatabasePlan> {
  const cycles = await cyclesOnPutBack(db, runId);
  return {
    deletes: await countRows(db, runId),
    adoptedByLaterRuns: await adoptedByLaterRuns(db, runId),
    dependentsOfOtherRuns: await dependentsOfOtherRuns(db, runId),
    adoptedFromOtherRuns: await adoptedFromOtherRuns(db, runId),
    edgesToPutBack: await edgesToPutBack(db, runId),
    edgesDeletedByLaterRuns: await edgesDeletedByLaterRuns(db, runId),
    edgesClosingCycles: cycles.groups,
    runsOnCycles: cycles.runs,
    changedAfterRun: completedXid === null ? null : await changedAfterRun(db, runId, completedXid),
  };
}

const total = (groups: readonly RowGroup[]) => groups.reduce((n, g) => n + g.rows, 0);
/** "1 row of run X was" / "3 rows of run X were". */
const rowsWere = (n: number, runId: string) => `${n} row${n === 1 ? '' : 's'} of run ${runId} ${n === 1 ? 'was' : 'were'}`;
export const describeGroup = (g: RowGroup): string => `${g.table} ${g.sample.join(', ')}${g.rows > g.sample.length ? ` … (${g.rows} rows)` : ''}`;

function refusalsOf(run: Run, db: DatabasePlan, restore: RestorePlan | null): RollbackPlan['refusals'] {
  return [...databaseRefusals(run, db), ...restoreRefusals(restore)];
}

function databaseRefusals(run: Run, db: DatabasePlan): RollbackPlan['refusals'] {
  const refusals: RollbackPlan['refusals'] = [];
  const runsOf = (groups: readonly RowGroup[]) => [...new Set(groups.map((g) => g.runId ?? '?'))].join(', ');
  if (db.adoptedByLaterRuns.length > 0) {
    refusals.push({ forceable: false, reason: `${rowsWere(total(db.adoptedByLaterRuns), run.id)} adopted by a later run `
      + `(${db.adoptedByLaterRuns.map((g) => `${describeGroup(g)} by ${g.runId}`).join('; ')}): roll back run ${runsOf(db.adoptedByLaterRuns)} first` });
  }
  if (db.dependentsOfOtherRuns.length > 0) {
    const n = total(db.dependentsOfOtherRuns);
    const ofRuns = db.dependentsOfOtherRuns.filter((g) => !g.outside);
    const outside = db.dependentsOfOtherRuns.filter((g) => g.outside);
    const firsts = [
      ...(ofRuns.length > 0 ? [`roll back run ${runsOf(ofRuns)} first`] : []),
      ...(outside.length > 0 ? ['delete or re-point the rows written outside taskfleet first'] : []),
    ];
    refusals.push({ forceable: false, reason: `${n} row${n === 1 ? '' : 's'} of other runs point${n === 1 ? 's' : ''} at rows of run ${run.id} `
      + `(${db.dependentsOfOtherRuns.map((g) => `${describeGroup(g)} ${g.outside ? `written outside taskfleet (run_id ${g.runId ?? 'empty'}, no run of the ledger)` : `of run ${g.runId}`}`).join('; ')}): ${firsts.join('; ')}` });
  }
  if (db.edgesDeletedByLaterRuns.length > 0) {
    const n = total(db.edgesDeletedByLaterRuns);
    refusals.push({ forceable: false, reason: `${n} dependency edge${n === 1 ? '' : 's'} of run ${run.id} ${n === 1 ? 'was' : 'were'} deleted by the cycle check of a later run `
      + `(${db.edgesDeletedByLaterRuns.map((g) => `${describeGroup(g)} by ${g.runId}`).join('; ')}), whose rollback puts ${n === 1 ? 'it' : 'them'} back: roll back run ${runsOf(db.edgesDeletedByLaterRuns)} first` });
  }
  if (db.edgesClosingCycles.length > 0) {
    const n = total(db.edgesClosingCycles);
    refusals.push({ forceable: false, reason: `Putting back ${n} dependency edge${n === 1 ? '' : 's'} that run ${run.id}'s cycle check deleted would now close a cycle with edges of other runs `
      + `(${db.edgesClosingCycles.map((g) => `${describeGroup(g)} of run ${g.runId}`).join('; ')}), through edges of run ${db.runsOnCycles.join(', ') || '?'}: `
      + `roll back run ${db.runsOnCycles.join(', ') || '?'} first` });
  }
  if (db.changedAfterRun === null) {
    const stillRunning = run.status === 'running' || run.status === 'planning';
    refusals.push({ forceable: true, reason: stillRunning
      ? `Run ${run.id} has not finished (status ${run.status}): roll back with --force to stop it and remove every row it created (its producer stops, and workers drop its jobs left in the queue)`
      : `Run ${run.id} never completed (status ${run.status}): rows changed after it cannot be told from its own; roll back with --force to remove every row it created` });
  } else if (db.changedAfterRun.length > 0) {
    refusals.push({ forceable: true, reason: `${rowsWere(total(db.changedAfterRun), run.id)} changed after it completed `
      + `(${db.changedAfterRun.map(describeGroup).join('; ')}): roll back with --force to delete them anyway` });
  }
  return refusals;
}

/** A damaged backup matters only for the files that need restoring: it cannot give them back. */
function restoreRefusals(restore: RestorePlan | null): RollbackPlan['refusals'] {
  const lost = restore?.actions.filter((a) => a.action === 'cannot restore') ?? [];
  if (!restore || lost.length === 0) return [];
  return [{ forceable: true, reason: `The backup ${restore.backupDir} (prepare #${restore.preparationId}) cannot restore `
    + `${lost.map((a) => `${a.file} (${a.reason ?? 'differs'})`).join(', ')}: it no longer matches its manifest (${describeMismatches(restore.backupProblems)}). `
    + 'Put the backup back as prepare wrote it, or roll back with --force to remove the rows and leave those files as they are' }];
}

// ---- the legacy data side ------------------------------------------------------------------------

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** What restoring the run's legacy directory from its preparation's backup takes; null without a backup. */
async function planRestore(db: Db, run: Run): Promise<RestorePlan | null> {
  if (run.preparationId === null) return null;
  const { rows: [prep] } = await db.query<{ backup_dir: string | null; manifest: Manifest; manifest_sha256: string }>(
    'SELECT backup_dir, manifest, manifest_sha256 FROM ledger.preparations WHERE id = $1', [run.preparationId]);
  if (!prep?.backup_dir) return null;
  const backupDir = resolve(prep.backup_dir);
  const legacyDir = resolve(run.legacyDir);
  // Strays in the backup directory (its own manifest.json among them) do not matter: only the copies do.
  const backupPresent = await exists(backupDir);
  const backupProblems = backupPresent
    ? (await verifyBackup(backupDir, prep.manifest)).filter((m) => m.problem !== 'unexpected')
    : [{ name: backupDir, problem: 'missing' as const }];
  const damaged = new Map(backupProblems.map((m) => [m.name, m.problem]));
  if (await exists(legacyDir) && !(await stat(legacyDir)).isDirectory()) {
    throw new GateError(`The run's legacy directory ${legacyDir} is no longer a directory: move that file away, then roll back again (the files are restored into a directory of that name)`);
  }
  const mismatches = (await exists(legacyDir))
    ? await checkAgainstManifest(legacyDir, prep.manifest)
    : prep.manifest.files.map((f): ManifestMismatch => ({ name: f.name, problem: 'missing' }));
  const byName = new Map(mismatches.map((m) => [m.name, m]));
  const actions: RestoreAction[] = prep.manifest.files.map((f) => {
    const m = byName.get(f.name);
    if (!m) return { file: f.name, action: 'unchanged' };
    const copy = backupPresent ? damaged.get(f.name) : 'missing (the whole backup is)';
    return copy ? { file: f.name, action: 'cannot restore', reason: `${m.problem}; the backup's copy: ${copy}` } : { file: f.name, action: 'restore', reason: m.problem };
  });
  // Files the backup never had (notes, the generator's extras) are the operator's: left alone.
  for (const m of mismatches) if (m.problem === 'unexpected') actions.push({ file: m.name, action: 'left in place', reason: 'not in the backup' });
  return { preparationId: run.preparationId, backupDir, manifestSha256: prep.manifest_sha256, actions, backupProblems };
}

/** Copies every file to restore from the backup (via a temporary name, then renamed into place). */
async function restoreFiles(restore: RestorePlan, legacyDir: string, logger: Logger): Promise<string[]> {
  const restored: string[] = [];
  for (const action of restore.actions) {
    if (action.action !== 'restore') continue;
    const target = join(legacyDir, ...action.file.split('/'));
    const partial = `${target}.taskfleet-restore`;
    await makeDirectory(dirname(target));
    await copyFile(join(restore.backupDir, ...action.file.split('/')), partial);
    await rename(partial, target).catch(async (err: unknown) => { await rm(partial, { force: true }); throw err; });
    logger.info({ file: target, reason: action.reason }, `Restored ${target} from the backup (${action.reason ?? 'differs'})`);
    restored.push(action.file);
  }
  return restored;
}

// ---- the phase -----------------------------------------------------------------------------------

async function completedXidOf(db: Db, runId: string): Promise<string | null> {
  const { rows: [row] } = await db.query<{ xid: string | null }>('SELECT completed_xid::text AS xid FROM ledger.runs WHERE id = $1', [runId]);
  return row?.xid ?? null;
}

/** A run whose rows are gone but whose legacy files were not restored yet (the rollback stopped there). */
const unfinished = (run: Run): boolean => run.status === 'rolled_back' && run.rolledBackAt === null;

/**
 * The latest run. One already rolled back is refused, not passed over for the run before it: running the
 * same rollback twice must not undo an earlier migration nobody named.
 */
async function defaultRun(db: Db): Promise<string> {
  const { rows: [row] } = await db.query<{ id: string; status: string; rolled_back_at: Date | null }>(
    'SELECT id, status, rolled_back_at FROM ledger.runs ORDER BY created_at DESC, id DESC LIMIT 1');
  if (!row) throw new GateError('No run to roll back: the ledger holds no run yet (`taskfleet migrate` makes one)');
  if (row.status === 'rolled_back' && row.rolled_back_at) {
    throw new GateError(`The latest run, ${row.id}, was already rolled back on ${row.rolled_back_at.toISOString()}; nothing to do. `
      + 'To roll back an earlier run, name it with --run-id (`taskfleet status` lists the runs)');
  }
  return row.id;
}

/** The gates that depend on the run alone. */
function checkRun(runId: string, run: Run | null): Run {
  if (!run) throw new GateError(`Run ${runId} is not in the ledger (see \`taskfleet status\`)`);
  if (run.status === 'rolled_back' && run.rolledBackAt) throw new GateError(`Run ${runId} was already rolled back on ${run.rolledBackAt.toISOString()}; nothing to do`);
  if (run.decommissionedAt) {
    throw new GateError(`Run ${runId} was decommissioned on ${run.decommissionedAt.toISOString()}: its legacy data is archived and retired, so it can no longer be rolled back`);
  }
  return run;
}

export async function planRollback(db: Pool, run: Run): Promise<RollbackPlan> {
  const database = await planDatabase(db, run.id, await completedXidOf(db, run.id));
  const restore = await planRestore(db, run);
  // Finishing a rollback whose rows are gone already: only the files are left to restore.
  const refusals = unfinished(run) ? restoreRefusals(restore) : refusalsOf(run, database, restore);
  return { runId: run.id, legacyDir: resolve(run.legacyDir), ...database, restore, refusals };
}

/** The refusals that stop a rollback given --force (or not). */
export function blockingRefusals(refusals: RollbackPlan['refusals'], force: boolean): RollbackPlan['refusals'] {
  return refusals.filter((r) => !r.forceable || !force);
}

function refuseIfNeeded(refusals: RollbackPlan['refusals'], force: boolean): void {
  const blocking = blockingRefusals(refusals, force);
  if (blocking.length > 0) throw new GateError(blocking.map((r) => r.reason).join('; '));
}

const LOCKED_TABLES = 'tms.projects, tms.phases, tms.tasks, tms.task_dependencies, tms.workflows, tms.workflow_templates, tms.workflow_runs';

/**
 * Deletes the run's rows, children first, and marks the run rolled back, in one transaction; the plan
 * is re-checked under a lock.
 */
async function deleteRows(db: Pool, run: Run, restore: RestorePlan | null, force: boolean): Promise<Pick<RollbackResult, 'deleted' | 'edgesPutBack'>> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    // The run's lock first, before any table: the run's jobs in flight share it (lockChunk), so the
    // rollback waits for them to commit; a job that comes later waits for the rollback, then sees the run
    // rolled back and drops itself. Then writers wait until the rollback commits (readers do not):
    // nothing can change between the checks below and the deletes.
    await lockRunAlone(client, run.id);
    if (await runStatusOf(client, run.id) === 'rolled_back') throw new GateError(`Run ${run.id} was rolled back meanwhile, by another rollback; nothing to do`);
    await client.query(`LOCK TABLE ${LOCKED_TABLES} IN SHARE ROW EXCLUSIVE MODE`);
    const checked = await planDatabase(client, run.id, await completedXidOf(client, run.id));
    refuseIfNeeded(refusalsOf(run, checked, restore), force);
    const statements: Record<RollbackTable, string> = {
      'tms.task_dependencies': 'DELETE FROM tms.task_dependencies WHERE run_id = $1',
      'tms.workflow_runs': `DELETE FROM tms.workflow_runs wr WHERE ${RUN_WORKFLOW_RUNS}`,
      'tms.workflows': 'DELETE FROM tms.workflows WHERE run_id = $1',
      'tms.workflow_templates': `DELETE FROM tms.workflow_templates tpl WHERE ${RUN_TEMPLATES}`,
      'tms.tasks': 'DELETE FROM tms.tasks WHERE run_id = $1',
      'tms.phases': 'DELETE FROM tms.phases WHERE run_id = $1',
      'tms.projects': 'DELETE FROM tms.projects WHERE run_id = $1',
    };
    const deleted: RollbackResult['deleted'] = [];
    for (const table of ROLLBACK_ORDER) deleted.push({ table, rows: (await client.query(statements[table], [run.id])).rowCount ?? 0 });
    // The edges of other runs this run's cycle check deleted go back as they were deleted. One a later
    // run has declared again since keeps that run's values but goes back to its creator, as an adopted
    // row: that run's rollback then leaves it.
    const putBack = await client.query(
      `WITH put_back AS (
         UPDATE ledger.cycle_deleted_edges SET restored_at = now(), restored_xid = pg_current_xact_id()
         WHERE run_id = $1 AND restored_at IS NULL RETURNING edge
       )
       INSERT INTO tms.task_dependencies SELECT (jsonb_populate_record(NULL::tms.task_dependencies, edge)).* FROM put_back
       ON CONFLICT (task_id, depends_on_id) DO UPDATE SET run_id = excluded.run_id`, [run.id]);
    // rolled_back_at stays empty until the legacy files are restored too (a failed restore is finished
    // by the next rollback of the run).
    await client.query(`UPDATE ledger.runs SET status = 'rolled_back', rolled_back_at = NULL, finished_at = COALESCE(finished_at, now()) WHERE id = $1`, [run.id]);
    await client.query('COMMIT');
    await notifyProgress(db, run.id);
    return { deleted, edgesPutBack: putBack.rowCount ?? 0 };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Rolls a run back, or (dryRun) says exactly what that would do and writes nothing. */
export async function runRollback(db: Pool, opts: RollbackOptions): Promise<RollbackResult> {
  const runId = opts.runId ?? await defaultRun(db);
  if (opts.dryRun) {
    const run = checkRun(runId, await findRun(db, runId));
    return { plan: await planRollback(db, run), dryRun: true, deleted: [], edgesPutBack: 0, restored: [], rolledBackAt: null };
  }
  // Two rollbacks of one run at once would both restore its files (the second one seeing the first one's
  // rows gone, as after a failed restore): one rollback of a run at a time, rows and files; the second is
  // refused, whenever it starts.
  const busy = () => new GateError(`Run ${runId} is being rolled back by another rollback right now; nothing to do (see \`taskfleet status\`)`);
  return whileHoldingSessionLock(db, 'rollback', runId, busy, () => rollBackAlone(db, runId, opts));
}

/** The rollback itself, holding the run's rollback lock: the run is read after taking it. */
async function rollBackAlone(db: Pool, runId: string, opts: RollbackOptions): Promise<RollbackResult> {
  const found = await findRun(db, runId);
  // A run id the ledger does not know is a typo: refused before anything is recorded under it.
  if (!found) checkRun(runId, null);
  const { result } = await recordPhase(db, 'rollback', { runId }, async () => {
    const run = checkRun(runId, found);
    const plan = await planRollback(db, run);
    refuseIfNeeded(plan.refusals, opts.force);
    let deleted: RollbackResult['deleted'] = ROLLBACK_ORDER.map((table) => ({ table, rows: 0 }));
    let edgesPutBack = 0;
    if (unfinished(run)) {
      opts.logger.info({ runId }, `The rows of run ${runId} were removed already: restoring its legacy data`);
    } else {
      ({ deleted, edgesPutBack } = await deleteRows(db, run, plan.restore, opts.force));
      opts.logger.info({ runId, deleted, edgesPutBack }, `Removed the rows of run ${runId}: ${deleted.map((d) => `${d.table} ${d.rows}`).join(', ')}`
        + (edgesPutBack > 0 ? `; put back ${edgesPutBack} dependency edge(s) of other runs its cycle check had deleted` : ''));
    }

    let restored: string[] = [];
    if (plan.restore) {
      const lost = new Set(plan.restore.actions.filter((a) => a.action === 'cannot restore').map((a) => a.file));
      for (const file of lost) opts.logger.warn({ runId, file }, `${file} differs from the backup, and the backup's copy is damaged: left as it is (--force)`);
      try {
        restored = await restoreFiles(plan.restore, plan.legacyDir, opts.logger);
        const { rows: [prep] } = await db.query<{ manifest: Manifest }>('SELECT manifest FROM ledger.preparations WHERE id = $1', [plan.restore.preparationId]);
        const left = (await checkAgainstManifest(plan.legacyDir, prep!.manifest)).filter((m) => m.problem !== 'unexpected' && !lost.has(m.name));
        if (left.length > 0) throw new Error(`after restoring, ${plan.legacyDir} still differs from the backup's manifest: ${describeMismatches(left)}`);
      } catch (err) {
        throw new Error(`The rows of run ${runId} were removed, but restoring its legacy data failed: ${(err as Error).message}. `
          + `Fix the cause and run \`taskfleet rollback --run-id ${runId}\` again to finish`, { cause: err });
      }
    } else {
      opts.logger.warn({ runId }, `Run ${runId} was started without a prepare (--skip-prepare): there is no backup to restore its legacy data from`);
    }
    const { rows: [marked] } = await db.query<{ at: Date }>(
      `UPDATE ledger.runs SET rolled_back_at = now() WHERE id = $1 RETURNING rolled_back_at AS at`, [runId]);
    const result: RollbackResult = { plan, dryRun: false, deleted, edgesPutBack, restored, rolledBackAt: marked!.at };
    return {
      passed: true, result,
      summary: {
        deleted: Object.fromEntries(deleted.map((d) => [d.table, d.rows])), edgesPutBack, restored,
        adoptedFromOtherRuns: total(plan.adoptedFromOtherRuns), changedAfterRun: plan.changedAfterRun ? total(plan.changedAfterRun) : null,
        forced: opts.force && plan.refusals.length > 0, backup: plan.restore?.backupDir ?? null,
      },
    };
  });
  return result;
}
