// Prepare's validation of a legacy data directory, without a database: streams every legacy file once,
// in stage order (projects, phases, tasks, task_dependencies), and reports as errors exactly the records
// and edges a migration of this directory would reject, plus warnings (src/validation/warnings.ts).
// Findings go to the caller in batches as they are found (nothing accumulates here but the first few,
// for a summary); the per-id state is compact (see entity-checks.ts and dependency-checks.ts).
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { LegacyDataError } from '../legacy/errors.js';
import { discoverLegacyFiles, type LegacyFile } from '../legacy/files.js';
import { LEGACY_KINDS, type LegacyFormat, type LegacyKind } from '../legacy/kinds.js';
import { createNormalizer } from '../legacy/normalize.js';
import type { SharedLines } from '../legacy/record-splitter.js';
import { RETIRED_MARKER } from '../lifecycle/manifest.js';
import { DependencyChecker } from './dependency-checks.js';
import { checkEntityRecord, EntityRegistry, type EntityRegistries } from './entity-checks.js';
import type { ErrorClass, ErrorFinding, Finding, WarningClass } from './findings.js';
import { streamLegacyRecords } from './record-stream.js';
import { createDependencyRowWarnings, createRecordWarnings, emptyFileWarning, ignoredFileWarning, sharedLinesWarning, WarningCollector } from './warnings.js';

export interface KindCounts {
  /** Legacy records (task_dependencies: every depends_on entry of a readable task, plus every row). */
  records: number;
  /** Records that would migrate. */
  valid: number;
  /** Records that would be rejected (blocking errors). */
  errors: number;
  /** Of those, rejected for their own content (unreadable, a wrong type, a missing field), not for another record's fault. */
  contentErrors: number;
  /** Warning occurrences (an aggregated warning counts every record it stands for). */
  warnings: number;
}

export interface ValidatedFile {
  kind: LegacyKind;
  fileName: string;
  format: LegacyFormat;
  bytes: number;
  records: number;
}

/** Reject classes a record earns by itself: the file read wrongly looks like this, record after record. */
const CONTENT_CLASSES: ReadonlySet<ErrorClass> = new Set<ErrorClass>(['malformed_record', 'wrong_type', 'missing_required_field', 'unstorable_text', 'invalid_utf8', 'oversized_record']);

export interface ValidationSummary {
  legacyDir: string;
  files: ValidatedFile[];
  perKind: Record<LegacyKind, KindCounts>;
  /** Blocking findings: rejected records and edges, plus files that cannot be read at all. */
  errors: number;
  /** Files whose structure cannot be read (a migration would refuse to start): blocking whatever --max-rejects says. */
  unreadableFiles: number;
  /** Warning occurrences, and the number of warning findings they are reported in. */
  warnings: number;
  warningFindings: number;
  errorsByClass: Partial<Record<ErrorClass, number>>;
  warningsByClass: Partial<Record<WarningClass, number>>;
  /** The first few errors (and the first of every error class) and the first few warnings, in the order found. */
  firstErrors: Finding[];
  firstWarnings: Finding[];
  durationMs: number;
}

export interface ValidateOptions {
  /** Receives the findings in batches, in the order found; awaited (backpressure). */
  onFindings?: (batch: readonly Finding[]) => Promise<void> | void;
  /** How many of the first errors and warnings the summary keeps (default 10). */
  sample?: number;
}

const ENTITY_ORDER = ['projects', 'phases', 'tasks'] as const;
type EntityKind = (typeof ENTITY_ORDER)[number];

export async function validateLegacyData(dir: string, mapping: LegacyMapping, opts: ValidateOptions = {}): Promise<ValidationSummary> {
  const started = performance.now();
  const legacyDir = resolve(dir);
  const files = await discoverLegacyFiles(legacyDir);
  const sample = opts.sample ?? 10;
  const fileOf = new Map(files.map((f) => [f.kind, f]));

  const perKind = Object.fromEntries(LEGACY_KINDS.map((k) => [k, { records: 0, valid: 0, errors: 0, contentErrors: 0, warnings: 0 }])) as Record<LegacyKind, KindCounts>;
  const errorsByClass: Partial<Record<ErrorClass, number>> = {};
  const firstErrors: Finding[] = [];
  const firstWarnings: Finding[] = [];
  let pending: Finding[] = [];
  let errors = 0;
  let unreadableFiles = 0;
  let warningFindings = 0;

  const emitError = (finding: ErrorFinding): void => {
    errors++;
    // A file-level error is no record of the file: per-kind counts are of records.
    if (finding.kind !== 'other' && finding.class !== 'unreadable_file') {
      perKind[finding.kind].errors++;
      if (CONTENT_CLASSES.has(finding.class)) perKind[finding.kind].contentErrors++;
    }
    errorsByClass[finding.class] = (errorsByClass[finding.class] ?? 0) + 1;
    // The first error of every class, and the first few of all: a summary shows one of each kind of problem.
    if (errorsByClass[finding.class] === 1 || firstErrors.length < sample) firstErrors.push(finding);
    pending.push(finding);
  };
  const warnings = new WarningCollector((finding) => {
    warningFindings++;
    if (firstWarnings.length < sample) firstWarnings.push(finding);
    pending.push(finding);
  });
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await opts.onFindings?.(batch);
  };
  /** A file whose structure is unreadable: one blocking finding; the rest of it is not read. */
  const unreadable = (file: LegacyFile, err: unknown): void => {
    if (!(err instanceof LegacyDataError)) throw err;
    unreadableFiles++;
    const line = Number(/^[^:\s]+:(\d+):/.exec(err.message)?.[1] ?? 0);
    // Once records are numbered (a minified .json), a break names the file's own line: no record's name.
    const fileLine = Number(/^\S+ \(line (\d+) of the file\):/.exec(err.message)?.[1] ?? 0);
    emitError({ severity: 'error', kind: file.kind, class: 'unreadable_file', ref: line > 0 ? `${file.fileName}:${line}` : file.fileName,
      file: file.fileName, line: line || fileLine, legacyId: null, field: null, reason: `${err.message} (a migration would refuse to start)` });
  };

  await reportIgnoredFiles(legacyDir, files, warnings);
  await flush();

  const registries: EntityRegistries = {
    projects: new EntityRegistry(fileOf.get('projects')!.fileName),
    phases: new EntityRegistry(fileOf.get('phases')!.fileName),
    tasks: new EntityRegistry(fileOf.get('tasks')!.fileName),
  };
  const rowsFile = fileOf.get('task_dependencies') ?? null;
  const dependencies = new DependencyChecker(registries.tasks!, registries.tasks!.fileName, rowsFile?.fileName ?? null, mapping, emitError);
  const validated: ValidatedFile[] = [];

  for (const kind of ENTITY_ORDER) {
    const file = fileOf.get(kind)!;
    const counted = { records: 0 };
    const readable = await validateEntityFile(kind, file, mapping, registries, counted, {
      emitError, warnings, flush, onTask: kind === 'tasks' ? (record, migrated) => dependencies.addTaskRecord(record, migrated) : null,
    }).then(() => true, (err: unknown) => { unreadable(file, err); return false; });
    perKind[kind].records = counted.records;
    validated.push({ kind, fileName: file.fileName, format: file.format, bytes: file.bytes, records: counted.records });
    // An unreadable file has its error already; "holds no records" would only repeat it.
    if (readable && counted.records === 0) emptyFileWarning(kind, file.fileName, warnings);
    warnings.finishFile(file.fileName);
    await flush();
  }

  dependencies.checkTaskEdges();
  await flush();
  if (rowsFile) {
    let rows = 0;
    let readable = true;
    try {
      const onShared = (shared: SharedLines) => sharedLinesWarning('task_dependencies', rowsFile.fileName, shared, warnings);
      const rowWarnings = createDependencyRowWarnings(rowsFile.fileName, mapping, warnings);
      for await (const batch of streamLegacyRecords(rowsFile, mapping, undefined, onShared)) {
        for (const record of batch) {
          dependencies.addRowRecord(record);
          if (record.fields) rowWarnings(record.line, record.fields);
        }
        rows += batch.length;
        await flush();
      }
    } catch (err) {
      unreadable(rowsFile, err);
      readable = false;
    }
    validated.push({ kind: 'task_dependencies', fileName: rowsFile.fileName, format: rowsFile.format, bytes: rowsFile.bytes, records: rows });
    if (readable && rows === 0) emptyFileWarning('task_dependencies', rowsFile.fileName, warnings);
  }
  const projectNames = registries.projects.ids.names;
  const migratedEdges = dependencies.finish(warnings, projectNames);
  warnings.finishAll();
  await flush();

  perKind.task_dependencies.records = dependencies.declared;
  for (const kind of ENTITY_ORDER) perKind[kind].valid = Math.max(0, perKind[kind].records - perKind[kind].errors);
  perKind.task_dependencies.valid = migratedEdges;
  const warned = warnings.totals();
  for (const kind of LEGACY_KINDS) perKind[kind].warnings = warned.perKind.get(kind) ?? 0;

  return {
    legacyDir, files: validated, perKind, errors, unreadableFiles, warnings: warned.total, warningFindings,
    errorsByClass, warningsByClass: Object.fromEntries(warned.perClass),
    firstErrors, firstWarnings, durationMs: Math.round(performance.now() - started),
  };
}

interface EntityFileHooks {
  emitError: (finding: ErrorFinding) => void;
  warnings: WarningCollector;
  flush: () => Promise<void>;
  onTask: ((record: Parameters<DependencyChecker['addTaskRecord']>[0], migrated: boolean) => void) | null;
}

/** One entity file, record by record; counts its records into `counted` (also when the file turns out unreadable). */
async function validateEntityFile<K extends EntityKind>(
  kind: K, file: LegacyFile, mapping: LegacyMapping, registries: EntityRegistries, counted: { records: number }, hooks: EntityFileHooks,
): Promise<void> {
  const normalize = createNormalizer(kind, mapping);
  const recordWarnings = createRecordWarnings(kind, file.fileName, mapping, hooks.warnings);
  const onShared = (shared: SharedLines) => sharedLinesWarning(kind, file.fileName, shared, hooks.warnings);
  for await (const batch of streamLegacyRecords(file, { ...mapping, findDuplicateKeys: true }, undefined, onShared)) {
    for (const record of batch) {
      const outcome = checkEntityRecord(kind, record, normalize, registries);
      if (!outcome.migrated) hooks.emitError(outcome.error);
      else if (record.error === null) recordWarnings(record.line, record.fields, outcome.values, record.duplicateKeys);
      hooks.onTask?.(record, outcome.migrated);
    }
    counted.records += batch.length;
    await hooks.flush();
  }
}

/** Files and directories of the legacy directory that are not legacy files: backed up, never migrated. */
async function reportIgnoredFiles(dir: string, files: readonly LegacyFile[], warnings: WarningCollector): Promise<void> {
  const legacyNames = new Set(files.map((f) => f.fileName));
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (legacyNames.has(entry.name) || entry.name === RETIRED_MARKER) continue;
    ignoredFileWarning(entry.name, entry.isDirectory(), warnings);
  }
}
