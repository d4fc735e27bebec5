// The readable summary of a validation report (written next to the JSON as .txt and printed by
// `taskfleet prepare`): counts per kind and per class, the first findings with file:line, the backup,
// and the verdict with what to do next.
import { LEGACY_KINDS } from '../legacy/kinds.js';
import { shownText } from '../shown-text.js';
import type { Finding } from './findings.js';
import type { ValidationSummary } from './validate-legacy-data.js';

export interface SummaryContext {
  manifestSha256: string;
  maxRejects: number;
  passed: boolean;
  /** Why prepare did not pass (null when it passed). */
  failure: string | null;
  reportPath: string;
  backup: { dir: string; files: number; reused: boolean; verified: boolean } | null;
}

/** The path of the readable summary beside a JSON report: report.json -> report.txt. */
export function summaryPathFor(reportPath: string): string {
  return reportPath.endsWith('.json') ? `${reportPath.slice(0, -'.json'.length)}.txt` : `${reportPath}.txt`;
}

const byCount = (counts: Partial<Record<string, number>>): string =>
  Object.entries(counts).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0)).map(([name, n]) => `${name} ${n}`).join(', ');

function findingLine(f: Finding): string {
  const id = f.legacyId ? ` ${f.legacyId}` : '';
  const field = f.field ? ` [${f.field}]` : '';
  return shownText(`  ${f.ref}  ${f.kind}${id}${field}: ${f.reason}`);
}

export function formatValidationSummary(v: ValidationSummary, ctx: SummaryContext): string {
  const lines: string[] = [];
  lines.push(`Validation of ${v.legacyDir} (manifest ${ctx.manifestSha256.slice(0, 16)}, ${(v.durationMs / 1000).toFixed(1)} s)`);
  lines.push(`  ${'kind'.padEnd(18)}${'records'.padStart(10)}${'valid'.padStart(10)}${'errors'.padStart(10)}${'warnings'.padStart(10)}`);
  for (const kind of LEGACY_KINDS) {
    const k = v.perKind[kind];
    lines.push(`  ${kind.padEnd(18)}${String(k.records).padStart(10)}${String(k.valid).padStart(10)}${String(k.errors).padStart(10)}${String(k.warnings).padStart(10)}`);
  }
  lines.push(`Blocking errors: ${v.errors} (allowed: --max-rejects ${ctx.maxRejects})${v.errors > 0 ? ` — ${byCount(v.errorsByClass)}` : ''}`);
  for (const f of v.firstErrors) lines.push(findingLine(f));
  if (v.errors > v.firstErrors.length) lines.push(`  … ${v.errors - v.firstErrors.length} more in ${ctx.reportPath}`);
  lines.push(`Warnings: ${v.warnings} in ${v.warningFindings} findings${v.warnings > 0 ? ` — ${byCount(v.warningsByClass)}` : ''}`);
  for (const f of v.firstWarnings) lines.push(findingLine(f));
  if (v.warningFindings > v.firstWarnings.length) lines.push(`  … ${v.warningFindings - v.firstWarnings.length} more in ${ctx.reportPath}`);
  if (ctx.backup) {
    const state = ctx.backup.verified ? 're-read and matching the manifest' : 'DOES NOT MATCH the manifest';
    lines.push(`Backup: ${ctx.backup.dir} (${ctx.backup.files} files, ${ctx.backup.reused ? 'existing backup reused' : 'copied'}, ${state})`);
  } else {
    lines.push('Backup: none');
  }
  lines.push(`Report: ${ctx.reportPath}`);
  lines.push(ctx.passed ? 'Prepare PASSED: `taskfleet migrate` may start from this data.' : `Prepare FAILED: ${ctx.failure ?? 'see above'}`);
  return `${lines.join('\n')}\n`;
}
