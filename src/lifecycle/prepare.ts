// The prepare phase: hash the legacy data (manifest), validate it into a report (src/validation),
// back it up and prove the backup by re-reading it, and record all of it in the ledger — the
// preparation, every finding, and the phase's start and outcome. Migrate's gate looks for a passed
// preparation with the same manifest hash. The report and the backup are written whether or not
// prepare passes; it passes when the backup matches, every file is readable, the records a
// migration would reject are at most maxRejects, and the workflow templates serve every task type
// with allowed images (src/validation/template-checks.ts).
import { writeFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { mappingSha256, type LegacyMapping } from '../config/legacy-mapping.js';
import { ConfigError } from '../config/errors.js';
import { completePreparation, insertFindings, insertPreparation } from '../ledger/preparations.js';
import { LegacyDataError } from '../legacy/errors.js';
import { discoverLegacyFiles } from '../legacy/files.js';
import { ENTITY_KINDS } from '../legacy/kinds.js';
import type { Logger } from '../logger.js';
import type { Pool } from '../store/pool.js';
import { ValidationReportWriter } from '../validation/report-writer.js';
import { formatValidationSummary, summaryPathFor } from '../validation/report-summary.js';
import { validateLegacyData, type ValidationSummary } from '../validation/validate-legacy-data.js';
import { checkWorkflowTemplates, collectTaskTypes, formatTemplateCheck, type TemplateCheckResult } from '../validation/template-checks.js';
import type { DaggerConfig } from '../workflows/dagger-config.js';
import { readTemplateFiles, templatesSha256 } from '../workflows/templates.js';
import { backupDirFor, backupLegacyData, type BackupResult } from './backup.js';
import { buildManifest, describeMismatches, type Manifest } from './manifest.js';
import { recordPhase } from './phase-events.js';
import { assertNotRetired } from './migrate-gate.js';
import { counted } from '../counted.js';

export { validateLegacyData } from '../validation/validate-legacy-data.js';
export type { ValidationSummary } from '../validation/validate-legacy-data.js';

export interface PrepareInput {
  legacyDir: string;
  mapping: LegacyMapping;
  /** Backup root: the copy goes to BACKUP/<first 16 hex of the manifest hash>/. */
  backupDir: string;
  /** The JSON report; the readable summary goes beside it (.txt). */
  reportPath: string;
  /** Records a migration would reject that prepare still accepts (0: any fails prepare). */
  maxRejects: number;
  runId?: string | null;
  /** The workflow templates to check against the data and dagger.yaml's allowlist (absent: not checked). */
  workflows?: { templatesDir: string; daggerConfig: DaggerConfig; daggerConfigFile: string } | null;
  logger: Logger;
}

export interface PrepareResult {
  passed: boolean;
  preparationId: number;
  manifest: Manifest;
  report: ValidationSummary;
  backup: BackupResult | null;
  reportPath: string;
  summaryPath: string;
  /** The readable summary (also in summaryPath). */
  summaryText: string;
  /** Why prepare did not pass, in one sentence (null when it passed). */
  failure: string | null;
  /** What the phase event records. */
  summary: Record<string, unknown>;
  /** The workflow template check (null when not asked for). */
  workflows: TemplateCheckResult | null;
}

/** An output path inside the legacy directory would change the data (and its manifest hash) being prepared. */
function assertOutside(legacyDir: string, path: string, flag: string): void {
  const rel = relative(legacyDir, path);
  const inside = rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
  if (inside) throw new ConfigError(`${flag} ${path} is inside the legacy data directory ${legacyDir}: write it elsewhere, it would change the data being prepared`);
}

export async function runPrepare(db: Pool, input: PrepareInput): Promise<PrepareResult> {
  const legacyDir = resolve(input.legacyDir);
  const reportPath = resolve(input.reportPath);
  const summaryPath = summaryPathFor(reportPath);
  const backupRoot = resolve(input.backupDir);
  // Usage problems first, before anything is written.
  const legacyFiles = await discoverLegacyFiles(legacyDir);
  // A pass here would promise a migrate that its gate then refuses.
  await assertNotRetired(legacyDir);
  assertOutside(legacyDir, backupRoot, '--backup');
  assertOutside(legacyDir, reportPath, '--validation-report');
  const { logger } = input;
  const wf = input.workflows ?? null;
  // An unreadable templates directory is a usage error; a template that does not parse is a finding.
  const templateFiles = wf && readTemplateFiles(wf.templatesDir, { defaultTimeoutSeconds: wf.daggerConfig.defaultTimeoutSeconds });

  const hashing = performance.now();
  const manifest = await buildManifest(legacyDir);
  logger.info({ legacyDir, manifest: manifest.sha256, files: manifest.files.length, ms: Math.round(performance.now() - hashing) }, `Hashed the legacy data (manifest ${manifest.sha256.slice(0, 16)})`);
  // The manifest (and so the backup) holds regular files only; a legacy file reached through a link would be migrated but not backed up.
  const hashed = new Set(manifest.files.map((f) => f.name));
  const unhashed = legacyFiles.filter((f) => !hashed.has(f.fileName)).map((f) => f.fileName);
  if (unhashed.length > 0) {
    throw new LegacyDataError(`${unhashed.join(', ')} in ${legacyDir} ${unhashed.length === 1 ? 'is not a regular file' : 'are not regular files'} (a symbolic link?): prepare cannot back it up; put the file itself in the directory`);
  }
  // Templates that did not all parse fail the prepare: none is recorded as checked.
  const checkedTemplates = templateFiles && templateFiles.errors.length === 0 ? templatesSha256(templateFiles.templates) : null;
  const preparationId = await insertPreparation(db, {
    legacyDir, manifest, mappingSha256: mappingSha256(input.mapping), templatesSha256: checkedTemplates, backupDir: backupDirFor(backupRoot, manifest), reportPath,
  });

  return recordPhase(db, 'prepare', { runId: input.runId ?? null, preparationId }, async () => {
    const writer = await ValidationReportWriter.open(reportPath);
    let report: ValidationSummary;
    let workflows: TemplateCheckResult | null = null;
    try {
      report = await validateLegacyData(legacyDir, input.mapping, {
        onFindings: async (batch) => {
          await writer.add(batch);
          await insertFindings(db, preparationId, batch);
        },
      });
      if (wf && templateFiles) {
        const tasksFile = legacyFiles.find((f) => f.kind === 'tasks')!;
        workflows = checkWorkflowTemplates({
          templates: templateFiles, daggerConfig: wf.daggerConfig, daggerConfigFile: wf.daggerConfigFile, tasksFileName: tasksFile.fileName,
          taskTypes: await collectTaskTypes(tasksFile, input.mapping),
        });
        await writer.add(workflows.findings);
        await insertFindings(db, preparationId, workflows.findings);
        logger.info({ preparationId, templatesDir: workflows.templatesDir, taskTypes: workflows.taskTypes.length, errors: workflows.findings.length }, `Checked the workflow templates: ${workflows.findings.length} blocking errors`);
      }
    } catch (err) {
      await writer.discard();
      throw err;
    }
    logger.info({ preparationId, errors: report.errors, warnings: report.warnings, ms: report.durationMs }, `Validated the legacy data: ${report.errors} blocking errors, ${report.warnings} warnings`);

    const failures: string[] = [];
    let backup: BackupResult | null = null;
    try {
      backup = await backupLegacyData(legacyDir, backupRoot, manifest);
      logger.info({ preparationId, backupDir: backup.dir, reused: backup.reused, mismatches: backup.mismatches.length }, `Backed up the legacy data into ${backup.dir}`);
      if (backup.mismatches.length > 0) failures.push(`the backup in ${backup.dir} does not match the legacy data's manifest (${describeMismatches(backup.mismatches)})`);
    } catch (err) {
      failures.push(`the backup into ${backupDirFor(backupRoot, manifest)} failed: ${(err as Error).message}`);
    }
    if (report.unreadableFiles > 0) failures.push(`${report.unreadableFiles} legacy file(s) cannot be read at all, so no migration can start`);
    const rejected = report.errors - report.unreadableFiles;
    if (rejected > input.maxRejects) {
      // Every record of a file rejected for its own content (of more than a handful; not for a missing
      // parent) is a file taskfleet reads wrongly (names, delimiter, encoding), not bad records:
      // accepting the rejects would migrate nothing of it.
      const whole = ENTITY_KINDS.filter((k) => report.perKind[k].records >= 5 && report.perKind[k].contentErrors >= report.perKind[k].records);
      const advice = whole.length > 0
        ? `every record of ${whole.join(', ')} would be rejected: the file does not match what taskfleet reads (field names, delimiter, encoding?); read the first reasons and fix the file or the mapping (--mapping) before accepting rejects`
        : `fix ${rejected === 1 ? 'it' : 'them'}, or accept ${rejected === 1 ? 'it' : 'them'} with --max-rejects ${rejected}`;
      failures.push(`${counted(rejected, 'record')} would be rejected, more than --max-rejects ${input.maxRejects}: ${advice}`);
    }
    if (workflows && workflows.findings.length > 0) {
      failures.push(`${workflows.findings.length} workflow template problem(s), the first: ${workflows.findings[0]!.reason}`);
    }
    const passed = failures.length === 0;
    const failure = passed ? null : `${failures.join('; ')} (see ${summaryPath})`;

    const backupState = backup && { dir: backup.dir, files: backup.files, reused: backup.reused, verified: backup.mismatches.length === 0 };
    await writer.finish({
      legacyDir, manifestSha256: manifest.sha256, preparationId, createdAt: new Date().toISOString(), passed, failure,
      maxRejects: input.maxRejects, blockingErrors: report.errors, warnings: report.warnings, warningFindings: report.warningFindings,
      perKind: report.perKind, errorsByClass: report.errorsByClass, warningsByClass: report.warningsByClass, files: report.files,
      backup: backup && { ...backupState, manifest: backup.manifestPath, mismatches: backup.mismatches },
      workflowTemplates: workflows && {
        dir: workflows.templatesDir, daggerConfig: wf?.daggerConfigFile, errors: workflows.findings.length, templates: workflows.templates, taskTypes: workflows.taskTypes,
      },
    });
    let summaryText = formatValidationSummary(report, { manifestSha256: manifest.sha256, maxRejects: input.maxRejects, passed, failure, reportPath, backup: backupState });
    if (workflows) {
      // The template section goes before the report path and the verdict, which stay last.
      const lines = summaryText.trimEnd().split('\n');
      lines.splice(Math.max(0, lines.length - 2), 0, ...formatTemplateCheck(workflows));
      summaryText = `${lines.join('\n')}\n`;
    }
    await writeFile(summaryPath, summaryText);

    const counts = { errors: report.errors, warnings: report.warnings };
    await completePreparation(db, preparationId, { passed, ...counts, records: report.perKind, backupDir: backup?.dir ?? null });
    const summary = {
      preparationId, manifestSha256: manifest.sha256, ...counts, perKind: report.perKind, backupDir: backup?.dir ?? null, reportPath, failure,
      workflowTemplateErrors: workflows?.findings.length ?? null,
    };
    return { passed, preparationId, manifest, report, backup, reportPath, summaryPath, summaryText, failure, summary, workflows };
  });
}
