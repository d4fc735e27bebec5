// What prepare's validation finds: blocking errors (exactly the records and edges a migration would
// reject, classed like docs/legacy-format.md's table) and non-blocking warnings an operator should read.
import type { LegacyKind } from '../legacy/kinds.js';

/** Error classes: the reject table of docs/legacy-format.md in snake_case, plus files that cannot be read at all. */
export const ERROR_CLASSES = [
  'malformed_record',
  'wrong_type',
  'missing_required_field',
  'unstorable_text',
  'invalid_utf8',
  'oversized_record',
  'duplicate_id',
  'dangling_reference',
  'phase_of_another_project',
  'rejected_parent',
  'dangling_dependency',
  'self_dependency',
  'dependency_cycle',
  'duplicate_dependency',
  'edge_of_rejected_task',
  'too_many_dependencies',
  'unreadable_file',
  // Workflow templates (src/validation/template-checks.ts): not records, but they block a migration too.
  'workflow_template_invalid',
  'workflow_template_missing',
  'workflow_image_not_allowed',
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/** Warning classes: data that migrates, but perhaps not as the operator expects. See src/validation/warnings.ts. */
export const WARNING_CLASSES = [
  'unknown_field',
  'default_applied',
  'id_trimmed',
  'ends_before_start',
  'updated_before_created',
  'task_without_phase',
  'cross_project_dependency',
  'empty_file',
  'ignored_file',
  'records_share_lines',
  'null_marker_text',
  'list_as_text',
  'timestamp_without_offset',
  'duplicate_field',
] as const;
export type WarningClass = (typeof WARNING_CLASSES)[number];

/** `other` is a file in the legacy directory that is not a legacy file (it is backed up, never migrated). */
export type FindingKind = LegacyKind | 'other';

export interface Finding {
  severity: 'error' | 'warning';
  kind: FindingKind;
  class: ErrorClass | WarningClass;
  /** "tasks.jsonl:12", "tasks.jsonl:12#depends_on[0]", or a bare file name for a whole-file finding. */
  ref: string;
  file: string;
  /** 1-based line the record starts on; 0 for a whole-file finding. */
  line: number;
  legacyId: string | null;
  field: string | null;
  reason: string;
  /** Aggregated warnings only: how many records this one finding stands for (ref is the first). */
  count?: number;
}

export type ErrorFinding = Finding & { severity: 'error'; class: ErrorClass };

export function recordRef(fileName: string, line: number): string {
  return `${fileName}:${line}`;
}

export function edgeRef(fileName: string, line: number, position: number): string {
  return `${fileName}:${line}#depends_on[${position}]`;
}

// The reasons below are the ones src/legacy/read-chunk.ts and src/legacy/normalize.ts produce; the
// unit test test/unit/validation-classes.test.ts pins them, so a changed wording fails loudly.

/** The class of a record the reader could not parse (read-chunk's RawRecord error). */
export function classOfUnreadableRecord(reason: string): ErrorClass {
  if (reason.startsWith('record is not valid UTF-8')) return 'invalid_utf8';
  if (/^record is \d+ bytes, more than the/.test(reason)) return 'oversized_record';
  return 'malformed_record';
}

/** The class of a record the normalizer refused (normalize's `reason`, which starts with the field name). */
export function classOfInvalidField(reason: string): ErrorClass {
  // "; the record has fields the mapping does not know: …" may follow (normalize's hint).
  if (/ is required( \(it is empty\))?(;|$)/.test(reason)) return 'missing_required_field';
  if (reason.endsWith('contains a NUL character, which Postgres text cannot store')
    || reason.includes('contains an unpaired UTF-16 surrogate')) return 'unstorable_text';
  return 'wrong_type';
}
