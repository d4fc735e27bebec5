// Per-process cache of what a run's chunks need: where the legacy files are, their headers, and the
// run's mapping (taken from the ledger, so every worker on every host maps records alike).
import { join } from 'node:path';
import type { LegacyMapping } from '../config/legacy-mapping.js';
import { findRun, getRunFiles, type RunFile } from '../ledger/runs.js';
import type { LegacyKind } from '../legacy/kinds.js';
import type { Pool } from '../store/pool.js';
import { PermanentJobError } from './errors.js';

export interface RunContext {
  runId: string;
  legacyDir: string;
  mapping: LegacyMapping;
  files: Map<LegacyKind, RunFile>;
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
    if (!run) throw new PermanentJobError(`Run ${runId} is not in the ledger`);
    const files = new Map((await getRunFiles(this.db, runId)).map((f) => [f.kind, f] as const));
    return {
      runId,
      legacyDir: run.legacyDir,
      mapping: run.options.mapping,
      files,
      pathOf: (fileName) => join(run.legacyDir, fileName),
    };
  }
}
