// Loading the legacy side: every legacy record becomes one row of a temporary table — the row the
// mapping and the normalizer make of it (the very row builders the migration uses), or, for a record
// that cannot be migrated, its file:line and why. Rows stream from the legacy file into COPY with
// backpressure, so nothing grows with the input in this process; Postgres holds the expected side and
// the comparisons are joins (see compare.ts for why).
//
//   verify_projects / verify_phases / verify_tasks   the columns of tms.<kind> (types copied from it),
//                                                      plus ref (file:line), problem, rejected
//   verify_tasks also keeps each task's declared depends_on (the edges of the tasks file)
//   verify_edges                                       every dependency edge the legacy data declares
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { declarationOrder } from '../jobs/migrate-dependencies.js';
import { declaredEdges, type DeclaredEdge } from '../legacy/declared-edges.js';
import type { LegacyFile } from '../legacy/files.js';
import type { EntityKind } from '../legacy/kinds.js';
import { createNormalizer, type PhaseValues, type ProjectValues, type TaskValues } from '../legacy/normalize.js';
import type { RawRecord } from '../legacy/read-chunk.js';
import { encodeCopyLine, type CopyValue } from '../store/copy-text.js';
import { ENTITY_TABLES, phaseRow, projectRow, taskRow } from '../store/entity-tables.js';
import { idMemo, newId } from '../store/new-ids.js';
import type { PoolClient } from '../store/pool.js';
import { readLegacyRecords, type LegacyFileTotals } from './legacy-records.js';
import { storableText } from '../ledger/storable-text.js';

export const EXPECTED_TABLE: Record<EntityKind, string> = { projects: 'verify_projects', phases: 'verify_phases', tasks: 'verify_tasks' };
export const EXPECTED_EDGES = 'verify_edges';

const TASK_EDGE_COLUMNS = ['declaring_id', 'declaring_legacy_id', 'dep_legacy', 'dep_ids', 'dep_refs', 'dep_orders'];

/** Creates the (empty) temporary tables; they go with the transaction. */
export async function createExpectedTables(client: PoolClient): Promise<void> {
  for (const [kind, table] of Object.entries(EXPECTED_TABLE) as [EntityKind, string][]) {
    await client.query(`CREATE TEMP TABLE ${table} ON COMMIT DROP AS SELECT ${ENTITY_TABLES[kind].columns.join(', ')} FROM tms.${kind} WITH NO DATA`);
    await client.query(`ALTER TABLE ${table} ADD COLUMN ref text, ADD COLUMN problem text, ADD COLUMN rejected boolean NOT NULL DEFAULT false`);
  }
  await client.query(`ALTER TABLE verify_tasks ADD COLUMN declaring_id uuid, ADD COLUMN declaring_legacy_id text,
    ADD COLUMN dep_legacy text[], ADD COLUMN dep_ids uuid[], ADD COLUMN dep_refs text[], ADD COLUMN dep_orders bigint[]`);
  await client.query(`CREATE TEMP TABLE ${EXPECTED_EDGES} (
    ref text, line integer, legacy_id text, task_id uuid, depends_on_id uuid, legacy_order bigint, problem text,
    rejected boolean NOT NULL DEFAULT false) ON COMMIT DROP`);
}

export interface LoadedFile {
  kind: string;
  fileName: string;
  records: number;
  sha256: string;
}

/** Streams every legacy file into its expected table; returns each file's record count and hash. */
export async function loadExpectedRows(client: PoolClient, files: readonly LegacyFile[], mapping: LegacyMapping, runId: string): Promise<LoadedFile[]> {
  const loaded: LoadedFile[] = [];
  for (const file of files) {
    const totals: LegacyFileTotals = { records: 0, sha256: '' };
    const records = readLegacyRecords(file, mapping, totals);
    if (file.kind === 'task_dependencies') {
      await copyInto(client, EXPECTED_EDGES, ['ref', 'line', 'legacy_id', 'task_id', 'depends_on_id', 'legacy_order', 'problem'],
        encodeBatches(records, dependencyLines(file, mapping)));
    } else {
      const extra = file.kind === 'tasks' ? TASK_EDGE_COLUMNS : [];
      await copyInto(client, EXPECTED_TABLE[file.kind], [...ENTITY_TABLES[file.kind].columns, 'ref', 'problem', ...extra],
        encodeBatches(records, entityLines(file, file.kind, mapping, runId)));
    }
    loaded.push({ kind: file.kind, fileName: file.fileName, records: totals.records, sha256: totals.sha256 });
  }
  // The edges the tasks file declares (each task's depends_on), one row per edge.
  await client.query(`INSERT INTO ${EXPECTED_EDGES} (ref, line, legacy_id, task_id, depends_on_id, legacy_order)
    SELECT d.ref, t.legacy_line, t.declaring_legacy_id || '->' || d.legacy, t.declaring_id, d.id, d.ord
    FROM verify_tasks t, unnest(t.dep_refs, t.dep_legacy, t.dep_ids, t.dep_orders) AS d(ref, legacy, id, ord)
    WHERE t.dep_refs IS NOT NULL`);
  return loaded;
}

async function copyInto(client: PoolClient, table: string, columns: readonly string[], text: AsyncIterable<string>): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  // One batch (about one read buffer of records) waits ahead of COPY at most: memory stays flat.
  await pipeline(Readable.from(text, { highWaterMark: 1 }), stream);
}

async function* encodeBatches(batches: AsyncIterable<RawRecord[]>, toRows: (records: RawRecord[]) => CopyValue[][]): AsyncGenerator<string> {
  for await (const records of batches) {
    const rows = toRows(records);
    if (rows.length > 0) yield `${rows.map(encodeCopyLine).join('\n')}\n`;
  }
}

/** A record that cannot become a row: only its legacy id (if readable), line, file:line and why. */
function unbuildableRow(kind: EntityKind, legacyId: string | null, line: number): CopyValue[] {
  return ENTITY_TABLES[kind].columns.map((c) => (c === 'legacy_id' ? legacyId : c === 'legacy_line' ? line : null));
}

function entityLines(file: LegacyFile, kind: EntityKind, mapping: LegacyMapping, runId: string): (records: RawRecord[]) => CopyValue[][] {
  const normalize = createNormalizer(kind, mapping);
  return (records) => {
    // Parents repeat within a batch (every task of a project names it); a memo per batch stays small.
    const projectId = idMemo('projects');
    const phaseId = idMemo('phases');
    const edgesAt = kind === 'tasks' ? edgesByLine(declaredEdges(records, mapping)) : null;
    return records.map((record) => {
      const ref = `${file.fileName}:${record.line}`;
      let row: CopyValue[];
      let problem: string | null = null;
      if (record.error !== null) {
        row = unbuildableRow(kind, null, record.line);
        problem = storableText(record.error);
      } else {
        const result = normalize(record.fields, record.exactNumbers);
        if (!result.ok) {
          // Shown as the workers store it in the rejects (a NUL cannot be stored).
          row = unbuildableRow(kind, storableText(result.legacyId), record.line);
          problem = storableText(result.reason);
        } else {
          const v = result.value;
          const id = newId(kind, v.legacyId);
          if (kind === 'projects') row = projectRow(v as ProjectValues, id, runId, record.line);
          else if (kind === 'phases') row = phaseRow(v as PhaseValues, id, runId, record.line, projectId((v as PhaseValues).projectLegacyId));
          else {
            const t = v as TaskValues;
            row = taskRow(t, id, runId, record.line, projectId(t.projectLegacyId), t.phaseLegacyId === null ? null : phaseId(t.phaseLegacyId));
          }
        }
      }
      row.push(ref, problem);
      if (edgesAt) row.push(...declaredColumns(file, edgesAt.get(record.line)));
      return row;
    });
  };
}

function edgesByLine(edges: readonly DeclaredEdge[]): Map<number, DeclaredEdge[]> {
  const byLine = new Map<number, DeclaredEdge[]>();
  for (const edge of edges) {
    const list = byLine.get(edge[2]);
    if (list) list.push(edge);
    else byLine.set(edge[2], [edge]);
  }
  return byLine;
}

/** A task's declared depends_on edges, as the arrays verify_tasks keeps (null when it declares none). */
function declaredColumns(file: LegacyFile, edges: readonly DeclaredEdge[] | undefined): CopyValue[] {
  if (!edges || edges.length === 0) return [null, null, null, null, null, null];
  const declaring = edges[0]![0];
  return [
    newId('tasks', declaring),
    storableText(declaring),
    edges.map((e) => storableText(e[1])),
    edges.map((e) => newId('tasks', e[1])),
    edges.map((e) => `${file.fileName}:${e[2]}#depends_on[${e[3]}]`),
    edges.map((e) => String(declarationOrder(true, e[2], e[3]))),
  ];
}

function dependencyLines(file: LegacyFile, mapping: LegacyMapping): (records: RawRecord[]) => CopyValue[][] {
  const normalize = createNormalizer('task_dependencies', mapping);
  return (records) => records.map((record) => {
    const ref = `${file.fileName}:${record.line}`;
    const order = declarationOrder(false, record.line, 0);
    if (record.error !== null) return [ref, record.line, null, null, null, order, storableText(record.error)];
    const result = normalize(record.fields, record.exactNumbers);
    if (!result.ok) return [ref, record.line, storableText(result.legacyId), null, null, order, storableText(result.reason)];
    const { taskLegacyId, dependsOnLegacyId } = result.value;
    return [ref, record.line, `${taskLegacyId}->${dependsOnLegacyId}`, newId('tasks', taskLegacyId), newId('tasks', dependsOnLegacyId), order, null];
  });
}
