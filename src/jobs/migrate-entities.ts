// Job: migrate one chunk of projects, phases or tasks. The whole chunk is one transaction: its rows,
// its rejects and the chunk's "done" mark commit together, so a chunk that runs twice changes nothing
// the second time. Bad records are rejected alone; the rest of the chunk lands and is read back and
// compared field by field before the commit.
import { lockChunk, markChunkDone } from '../ledger/chunks.js';
import { insertRejects, rejectedRefs } from '../ledger/rejects.js';
import { notifyProgress } from '../ledger/runs.js';
import type { RecordRejection } from '../legacy/errors.js';
import type { EntityKind } from '../legacy/kinds.js';
import { declaredEdges } from '../legacy/declared-edges.js';
import { createNormalizer, type KindValues } from '../legacy/normalize.js';
import { claimRows } from '../store/claim-rows.js';
import type { CopyValue } from '../store/copy-text.js';
import { ENTITY_TABLES, phaseRow, projectRow, taskRow } from '../store/entity-tables.js';
import { idMemo } from '../store/new-ids.js';
import { lookupById } from '../store/lookup-by-id.js';
import { inTransaction, type PoolClient } from '../store/pool.js';
import { workflowRow, writeWorkflows, type WorkflowRow } from '../store/workflow-rows.js';
import { storeTemplates } from '../store/workflow-templates.js';
import { ConfigError } from '../config/errors.js';
import type { TemplateSet } from '../workflows/templates.js';
import type { WorkflowTemplate } from '../workflows/types.js';
import { nothingToDo, plannedChunk, readChunkRecords, SKIPPED } from './chunk-records.js';
import type { ChunkJobResult, JobContext } from './context.js';
import { PermanentJobError } from './errors.js';
import type { ChunkJobPayload } from './payload.js';

interface Candidate<K extends EntityKind> {
  line: number;
  id: string;
  values: KindValues[K];
}

export async function migrateEntityChunk(ctx: JobContext, payload: ChunkJobPayload): Promise<ChunkJobResult> {
  const started = performance.now();
  const { runId, stage, chunkNo } = payload;
  const chunk = await plannedChunk(ctx, payload);
  if (!chunk) return SKIPPED;
  const kind = chunk.kind as EntityKind;
  const run = await ctx.runs.get(runId);
  const file = run.files.get(kind);
  if (!file) throw new PermanentJobError(`Run ${runId} has no ${kind} file`);

  const records = await readChunkRecords(run, chunk, file);
  const normalize = createNormalizer(kind, run.mapping);
  const rejects: RecordRejection[] = [];
  const reject = (line: number, legacyId: string | null, field: string | null, reason: string): void => {
    rejects.push({ kind, ref: `${file.fileName}:${line}`, fileName: file.fileName, line, legacyId, field, reason });
  };
  const ownId = idMemo(kind);
  const candidates: Candidate<EntityKind>[] = [];
  for (const record of records) {
    if (record.error !== null) { reject(record.line, null, null, record.error); continue; }
    const result = normalize(record.fields, record.exactNumbers);
    if (!result.ok) { reject(record.line, result.legacyId, result.field, result.reason); continue; }
    candidates.push({ line: record.line, id: ownId(result.value.legacyId), values: result.value });
  }

  // The templates its tasks use, stored before the transaction (storeTemplates says why).
  if (kind === 'tasks' && run.workflows) await storeTemplates(ctx.db, runId, templatesUsed(run.workflows.templates, candidates));

  return inTransaction(ctx.db, async (client) => {
    if (nothingToDo(ctx, runId, await lockChunk(client, runId, stage, chunkNo))) return SKIPPED;
    // Duplicates within the chunk are settled after the parent checks: a record rejected for another
    // reason holds no id, so a later valid record with that id migrates (as it would across chunks).
    const firstLine = new Map<string, number>();
    const accepted = (await checkParents(client, runId, kind, candidates, reject)).filter((c) => {
      const legacyId = c.values.legacyId;
      const seenAt = firstLine.get(legacyId);
      if (seenAt === undefined) { firstLine.set(legacyId, c.line); return true; }
      reject(c.line, legacyId, 'id', `duplicate id ${legacyId} (first at ${file.fileName}:${seenAt})`);
      return false;
    });
    const claimants = accepted.map((c) => ({ row: buildRow(kind, c, runId, c.parents), order: c.line, item: c }));
    const { written, lost, displaced } = await claimRows(client, ENTITY_TABLES[kind], runId, claimants);
    // Within a run the earliest line holding an id wins; the later ones are rejected as duplicates.
    for (const { claimant, holder } of lost) {
      const legacyId = claimant.item.values.legacyId;
      reject(claimant.order, legacyId, 'id', `duplicate id ${legacyId} (first at ${file.fileName}:${holder.order})`);
    }
    for (const { claimant, holder } of displaced) {
      const legacyId = claimant.item.values.legacyId;
      reject(holder.order, legacyId, 'id', `duplicate id ${legacyId} (first at ${file.fileName}:${claimant.order})`);
    }
    // Every task this chunk now holds gets its workflow, in this same transaction.
    if (kind === 'tasks' && run.workflows) {
      const kept = [...written, ...displaced.map((d) => d.claimant)];
      await writeWorkflows(client, runId, renderWorkflows(run.workflows.templates, kept.map((k) => k.item)));
    }
    const inserted = await insertRejects(client, runId, stage, chunkNo, rejects);
    const outcome = {
      legacyRecords: records.length,
      declaredEdges: kind === 'tasks' ? declaredEdges(records, run.mapping) : undefined,
      // A delta: rows this chunk now holds (written + displaced.length), less the displaced records,
      // which the chunks that wrote them counted as migrated.
      migrated: written.length,
      rejected: inserted,
      worker: ctx.workerName,
      durationMs: performance.now() - started,
    };
    await markChunkDone(client, runId, stage, chunkNo, outcome);
    await notifyProgress(client, runId);
    return { skipped: false, migrated: outcome.migrated, rejected: outcome.rejected };
  });
}

function renderWorkflows(templates: TemplateSet, tasks: readonly Accepted[]): WorkflowRow[] {
  try {
    return tasks.map((t) => workflowRow(templates, {
      id: t.id, projectId: t.parents!.projectId, phaseId: t.parents!.phaseId, values: t.values as KindValues['tasks'],
    }));
  } catch (err) {
    // A task type without a template (and no default.yaml): retrying cannot help; prepare reports it up front.
    if (err instanceof ConfigError) throw new PermanentJobError(err.message);
    throw err;
  }
}

/** The templates of these tasks' types; a type without one is left to renderWorkflows, which says so. */
function templatesUsed(templates: TemplateSet, tasks: readonly Candidate<EntityKind>[]): Set<WorkflowTemplate> {
  const used = new Set<WorkflowTemplate>();
  for (const type of new Set(tasks.map((t) => (t.values as KindValues['tasks']).type))) {
    try {
      used.add(templates.templateFor(type));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
    }
  }
  return used;
}

interface Parents { projectId: string; phaseId: string | null }
type Accepted = Candidate<EntityKind> & { parents: Parents | null };

/** Keeps the candidates whose parents exist (and, for tasks, whose phase is in the same project). */
async function checkParents(
  client: PoolClient,
  runId: string,
  kind: EntityKind,
  candidates: readonly Candidate<EntityKind>[],
  reject: (line: number, legacyId: string | null, field: string | null, reason: string) => void,
): Promise<Accepted[]> {
  if (kind === 'projects') return candidates.map((c) => ({ ...c, parents: null }));
  const projectId = idMemo('projects');
  const phaseId = idMemo('phases');
  const projectLegacy = (c: Candidate<EntityKind>) => (c.values as KindValues['phases'] | KindValues['tasks']).projectLegacyId;
  const projectIds = [...new Set(candidates.map((c) => projectId(projectLegacy(c))))];
  const { rows: projects } = await client.query<{ id: string }>(lookupById('tms.projects', 't.id::text AS id'), [projectIds]);
  const haveProject = new Set(projects.map((p) => p.id));
  const phaseProject = new Map<string, string>();
  if (kind === 'tasks') {
    const phaseIds = [...new Set(candidates.flatMap((c) => {
      const phase = (c.values as KindValues['tasks']).phaseLegacyId;
      return phase === null ? [] : [phaseId(phase)];
    }))];
    const { rows } = await client.query<{ id: string; project_id: string }>(
      lookupById('tms.phases', 't.id::text AS id, t.project_id::text AS project_id'), [phaseIds]);
    for (const r of rows) phaseProject.set(r.id, r.project_id);
  }

  const missingProjects = candidates.map(projectLegacy).filter((p) => !haveProject.has(projectId(p)));
  const rejectedProjects = await rejectedRefs(client, runId, 'projects', [...new Set(missingProjects)]);
  const missingPhases = kind === 'tasks'
    ? candidates.map((c) => (c.values as KindValues['tasks']).phaseLegacyId).filter((p): p is string => p !== null && !phaseProject.has(phaseId(p)))
    : [];
  const rejectedPhases = await rejectedRefs(client, runId, 'phases', [...new Set(missingPhases)]);

  const accepted: Accepted[] = [];
  for (const c of candidates) {
    const projectLegacyId = projectLegacy(c);
    const parentId = projectId(projectLegacyId);
    if (!haveProject.has(parentId)) {
      const where = rejectedProjects.get(projectLegacyId);
      reject(c.line, c.values.legacyId, 'project_id', where
        ? `project ${projectLegacyId} was rejected (${where})`
        : `project_id ${projectLegacyId} names no migrated project`);
      continue;
    }
    let phase: string | null = null;
    if (kind === 'tasks') {
      const phaseLegacyId = (c.values as KindValues['tasks']).phaseLegacyId;
      if (phaseLegacyId !== null) {
        phase = phaseId(phaseLegacyId);
        const owner = phaseProject.get(phase);
        if (owner === undefined) {
          const where = rejectedPhases.get(phaseLegacyId);
          reject(c.line, c.values.legacyId, 'phase_id', where
            ? `phase ${phaseLegacyId} was rejected (${where})`
            : `phase_id ${phaseLegacyId} names no migrated phase`);
          continue;
        }
        if (owner !== parentId) {
          reject(c.line, c.values.legacyId, 'phase_id', `phase ${phaseLegacyId} belongs to another project than ${projectLegacyId}`);
          continue;
        }
      }
    }
    accepted.push({ ...c, parents: { projectId: parentId, phaseId: phase } });
  }
  return accepted;
}

function buildRow(kind: EntityKind, c: Candidate<EntityKind>, runId: string, parents: Parents | null): CopyValue[] {
  if (kind === 'projects') return projectRow(c.values as KindValues['projects'], c.id, runId, c.line);
  if (kind === 'phases') return phaseRow(c.values as KindValues['phases'], c.id, runId, c.line, parents!.projectId);
  return taskRow(c.values as KindValues['tasks'], c.id, runId, c.line, parents!.projectId, parents!.phaseId);
}
