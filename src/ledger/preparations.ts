// Ledger: preparations (legacy data validated and backed up; migrate's gate looks for a passed one with
// the same manifest hash) and their findings, one row per finding with file:line, so verify can compare
// the migration's rejects with an independent classification.
import type { Manifest } from '../lifecycle/manifest.js';
import type { Pool, PoolClient } from '../store/pool.js';
import type { Finding } from '../validation/findings.js';
import { storableText } from './storable-text.js';

type Db = Pool | PoolClient;

export interface Preparation {
  id: number;
  legacyDir: string;
  manifestSha256: string;
  manifest: Manifest;
  passed: boolean;
  errors: number;
  warnings: number;
  /** Per-kind counts: records, valid, errors, warnings. */
  records: Record<string, unknown> | null;
  /** The directory holding the backup copy of every legacy file, plus manifest.json. */
  backupDir: string | null;
  reportPath: string | null;
  createdAt: Date;
}

export interface StoredFinding {
  severity: 'error' | 'warning';
  class: string | null;
  kind: string;
  ref: string;
  fileName: string;
  line: number;
  legacyId: string | null;
  field: string | null;
  reason: string;
  count: number | null;
}

const PREPARATION_COLUMNS = `id::int AS id, legacy_dir AS "legacyDir", manifest_sha256 AS "manifestSha256", manifest, passed, errors,
  warnings, records, backup_dir AS "backupDir", report_path AS "reportPath", created_at AS "createdAt"`;

const FINDINGS_BATCH = 1000;

/** Opens a preparation (not passed until completePreparation says so); findings can be attached to it at once. */
export async function insertPreparation(db: Db, input: {
  legacyDir: string; manifest: Manifest; mappingSha256: string; backupDir: string | null; reportPath: string | null;
  /** The workflow templates checked (templatesSha256); null when none were. */
  templatesSha256: string | null;
}): Promise<number> {
  const { rows: [row] } = await db.query<{ id: string }>(
    `INSERT INTO ledger.preparations (legacy_dir, manifest_sha256, manifest, passed, backup_dir, report_path, mapping_sha256, templates_sha256)
     VALUES ($1, $2, $3, false, $4, $5, $6, $7) RETURNING id`,
    [input.legacyDir, input.manifest.sha256, JSON.stringify(input.manifest), input.backupDir, input.reportPath, input.mappingSha256, input.templatesSha256]);
  return Number(row!.id);
}

export async function completePreparation(db: Db, id: number, outcome: {
  passed: boolean; errors: number; warnings: number; records: Record<string, unknown>; backupDir: string | null;
}): Promise<void> {
  await db.query(
    'UPDATE ledger.preparations SET passed = $2, errors = $3, warnings = $4, records = $5, backup_dir = $6 WHERE id = $1',
    [id, outcome.passed, outcome.errors, outcome.warnings, JSON.stringify(outcome.records), outcome.backupDir]);
}

/** Stores findings, a thousand rows a statement. */
export async function insertFindings(db: Db, preparationId: number, findings: readonly Finding[]): Promise<void> {
  for (let i = 0; i < findings.length; i += FINDINGS_BATCH) {
    const batch = findings.slice(i, i + FINDINGS_BATCH);
    const col = <T>(pick: (f: Finding) => T): T[] => batch.map(pick);
    await db.query(
      `INSERT INTO ledger.validation_findings (preparation_id, severity, class, kind, ref, file_name, line, legacy_id, field, reason, count)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::int[])`,
      [preparationId, col((f) => f.severity), col((f) => f.class), col((f) => f.kind), col((f) => f.ref), col((f) => f.file),
        col((f) => f.line), col((f) => storableText(f.legacyId)), col((f) => storableText(f.field)), col((f) => storableText(f.reason)), col((f) => f.count ?? null)]);
  }
}

export async function getPreparation(db: Db, id: number): Promise<Preparation | null> {
  const { rows } = await db.query<Preparation>(`SELECT ${PREPARATION_COLUMNS} FROM ledger.preparations WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** The latest passed preparation of the data with this manifest hash, or null. */
export async function findPassedPreparation(db: Db, manifestSha256: string): Promise<Preparation | null> {
  const { rows } = await db.query<Preparation>(
    `SELECT ${PREPARATION_COLUMNS} FROM ledger.preparations WHERE manifest_sha256 = $1 AND passed ORDER BY id DESC LIMIT 1`, [manifestSha256]);
  return rows[0] ?? null;
}

/** The latest passed preparation of a legacy directory (resolved path), whatever its data, or null. */
export async function lastPassedPreparationOf(db: Db, legacyDir: string): Promise<Preparation | null> {
  const { rows } = await db.query<Preparation>(
    `SELECT ${PREPARATION_COLUMNS} FROM ledger.preparations WHERE legacy_dir = $1 AND passed ORDER BY id DESC LIMIT 1`, [legacyDir]);
  return rows[0] ?? null;
}

/** A preparation's findings in file order (errors only, warnings only, or both). */
export async function listFindings(db: Db, preparationId: number, opts: { severity?: 'error' | 'warning'; limit?: number; offset?: number } = {}): Promise<StoredFinding[]> {
  const { rows } = await db.query<StoredFinding>(
    `SELECT severity, class, kind, ref, file_name AS "fileName", line, legacy_id AS "legacyId", field, reason, count
     FROM ledger.validation_findings WHERE preparation_id = $1 AND ($2::text IS NULL OR severity = $2)
     ORDER BY kind, file_name, line, ref LIMIT $3 OFFSET $4`,
    [preparationId, opts.severity ?? null, opts.limit ?? null, opts.offset ?? 0]);
  return rows;
}
