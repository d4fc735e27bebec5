// Errors about the legacy data itself. A LegacyDataError stops a command (the directory or a file is
// unusable); a RecordRejection is one bad record and ends in the rejects ledger.

export class LegacyDataError extends Error {
  override name = 'LegacyDataError';
}

/** One rejected legacy record: where it is, which field, and why. */
export interface RecordRejection {
  kind: string;
  ref: string;          // "tasks.jsonl:12" or "tasks.jsonl:12#depends_on[0]"
  fileName: string;
  line: number;
  legacyId: string | null;
  field: string | null;
  reason: string;
}
