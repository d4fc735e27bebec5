// Check: the legacy files verify read are the files the run migrated — the same files, with the
// SHA-256 the run recorded when it planned them. Otherwise every other comparison would be against
// other data than the migration's, and its mismatches would say nothing about the migration.
import { getRunFiles } from '../../ledger/runs.js';
import type { PoolClient } from '../../store/pool.js';
import { runCheck, type CheckResult, type MismatchSample } from '../check-result.js';
import type { LoadedFile } from '../expected-rows.js';

export function checkLegacySource(client: PoolClient, runId: string, legacyDir: string, loaded: readonly LoadedFile[], maxSamples: number): Promise<CheckResult> {
  return runCheck('legacy_source', 'the legacy files read are the ones the run migrated (same names and SHA-256)', async () => {
    const planned = new Map((await getRunFiles(client, runId)).map((f) => [f.fileName, f]));
    const problems: MismatchSample[] = [];
    for (const file of loaded) {
      const plan = planned.get(file.fileName);
      planned.delete(file.fileName);
      if (!plan) problems.push({ problem: `${file.fileName} is in ${legacyDir} but the run did not migrate it`, file: file.fileName });
      else if (plan.sha256 !== file.sha256) {
        problems.push({ problem: `${file.fileName} changed since the run read it (SHA-256 differs)`, file: file.fileName, expected: plan.sha256, actual: file.sha256 });
      }
    }
    for (const name of planned.keys()) problems.push({ problem: `${name}, which the run migrated, is no longer in ${legacyDir}`, file: name });
    return {
      checked: loaded.length,
      mismatches: problems.length,
      samples: problems.slice(0, maxSamples),
      details: { legacyDir, files: loaded.map((f) => ({ file: f.fileName, records: f.records, sha256: f.sha256 })) },
    };
  });
}
