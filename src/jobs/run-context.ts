// Per-process cache of what a run's chunks need: where the legacy files are, their headers, and the
// run's mapping (taken from the ledger, so every worker on every host maps records alike).
import { join } from 'node:path';
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { findRun, getRunFiles, type RunFile } from '../ledger/runs.js';
import type { LegacyKind } from '../legacy/kinds.js';
import type { Pool } from '../store/pool.js';
import { parseDaggerConfig, type DaggerConfig } from '../workflows/dagger-config.js';
import { templateSetFromJson, type TemplateSet } from '../workflows/templates.js';
import { notInLedger, PermanentJobError } from './errors.js';

/** The run's task workflow settings, as stored at plan time. */
export interface RunWorkflows {
  templates: TemplateSet;
  config: DaggerConfig;
  noCache: boolean;
}

export interface RunContext {
  runId: string;
  legacyDir: string;
  mapping: LegacyMapping;
  files: Map<LegacyKind, RunFile>;
  /** null: the run creates no workflows (planned without templates). */
  workflows: RunWorkflows | null;
  pathOf(fileName: string): string;
}

export class RunContextCache {
  private readonly cache = new Map<string, Promise<RunContext>>();

  constructor(private readonly db: Pool) {}

  get(runId: string): Promise<RunContext> {
    let entry = this.cache.get(runId);
    if (!entry) {
      entry = this.load(runId);
      entry.catch(() => this.cache.delete(runId));
      this.cache.set(runId, entry);
    }
    return entry;
  }

  private async load(runId: string): Promise<RunContext> {
    const run = await findRun(this.db, runId);
    if (!run) throw new PermanentJobError(notInLedger(`Run ${runId}`));
    const files = new Map((await getRunFiles(this.db, runId)).map((f) => [f.kind, f] as const));
    const stored = run.options.workflows;
    let workflows: RunWorkflows | null = null;
    try {
      workflows = stored
        ? { templates: templateSetFromJson(stored.templates), config: parseDaggerConfig(stored.config, `run ${runId}`), noCache: stored.noCache === true }
        : null;
    } catch (err) {
      throw new PermanentJobError(`Run ${runId} holds invalid workflow settings: ${(err as Error).message}`);
    }
    return {
      runId,
      legacyDir: run.legacyDir,
      mapping: run.options.mapping,
      files,
      workflows,
      pathOf: (fileName) => join(run.legacyDir, fileName),
    };
  }
}
