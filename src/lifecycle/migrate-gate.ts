// Phases are gates: migrate starts only from a passed prepare of the very same legacy data (same
// manifest hash) under the same mapping, and never from data that has been decommissioned.
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Pool } from '../store/pool.js';
import { lastPassedPreparationOf } from '../ledger/preparations.js';
import { buildManifest, compareManifestFiles, describeMismatches, RETIRED_MARKER, type Manifest } from './manifest.js';
import { GateError } from './phase-events.js';

export interface MigrateGate {
  /** The passed preparation the run starts from; null when the operator skipped prepare. */
  preparationId: number | null;
  manifest: Manifest | null;
}

export async function assertNotRetired(legacyDir: string): Promise<void> {
  const marker = join(resolve(legacyDir), RETIRED_MARKER);
  const retired = await access(marker).then(() => true, () => false);
  if (retired) throw new GateError(`Legacy data in ${resolve(legacyDir)} was decommissioned (${RETIRED_MARKER}); it cannot be migrated again`);
}

/**
 * `mappingSha256`: the mapping migrate runs with. A prepare's findings (what verify checks the rejects
 * against) are what its mapping makes of the data, so it must be the same. `templatesSha256`: the
 * workflow templates migrate runs with; the prepare must have checked those against the data's task
 * types, since a run keeps its templates (a type they do not serve fails the run for good). Preparations
 * from before either was recorded have none, and pass.
 */
export async function checkMigrateGate(db: Pool, legacyDir: string, opts: { skipPrepare: boolean; mappingSha256: string; templatesSha256: string }): Promise<MigrateGate> {
  await assertNotRetired(legacyDir);
  if (opts.skipPrepare) return { preparationId: null, manifest: null };
  const manifest = await buildManifest(legacyDir);
  const { rows: [passed] } = await db.query<{ id: string }>(
    `SELECT id FROM ledger.preparations WHERE manifest_sha256 = $1 AND passed AND (mapping_sha256 = $2 OR mapping_sha256 IS NULL)
       AND (templates_sha256 = $3 OR templates_sha256 IS NULL)
     ORDER BY id DESC LIMIT 1`, [manifest.sha256, opts.mappingSha256, opts.templatesSha256]);
  if (passed) return { preparationId: Number(passed.id), manifest };
  const dir = resolve(legacyDir);
  const { rows: [other] } = await db.query<{ sameMapping: boolean }>(
    `SELECT mapping_sha256 IS NOT DISTINCT FROM $2 OR mapping_sha256 IS NULL AS "sameMapping"
       FROM ledger.preparations WHERE manifest_sha256 = $1 AND passed ORDER BY id DESC LIMIT 1`, [manifest.sha256, opts.mappingSha256]);
  if (other && !other.sameMapping) {
    throw new GateError(`The passed prepare of ${dir} ran with another mapping than this migrate (--mapping, or config/legacy-mapping.yaml changed since): what it predicts would not be what this run does; run \`taskfleet prepare\` again with the mapping you migrate with`);
  }
  if (other) {
    throw new GateError(`The passed prepare of ${dir} checked other workflow templates than this migrate runs with (--templates-dir, a template edited since, or --dagger-config's defaultTimeoutSeconds): a task type they do not serve would fail the run for good, since a run keeps its templates; run \`taskfleet prepare\` again with the --templates-dir and --dagger-config you migrate with`);
  }
  const { rows: [failed] } = await db.query<{ id: string; report_path: string | null }>(
    'SELECT id, report_path FROM ledger.preparations WHERE manifest_sha256 = $1 ORDER BY id DESC LIMIT 1', [manifest.sha256]);
  if (failed) {
    throw new GateError(`The last prepare of ${dir} did not pass${failed.report_path ? ` (see ${failed.report_path})` : ''}: fix the data or accept its rejects with \`taskfleet prepare --max-rejects N\`, or migrate with --skip-prepare`);
  }
  // Say what changed since the directory's last passed prepare (a file added, edited, restored).
  const earlier = await lastPassedPreparationOf(db, dir);
  const changed = earlier ? compareManifestFiles(earlier.manifest.files, manifest.files) : [];
  const since = earlier && changed.length > 0
    ? `: since its last passed prepare (#${earlier.id}, ${earlier.createdAt.toISOString()}), ${describeMismatches(changed)}`
    : ` (manifest ${manifest.sha256.slice(0, 16)}; the data may have changed since)`;
  throw new GateError(`No successful prepare of the legacy data in ${dir}${since}: run \`taskfleet prepare --legacy-data ${dir}\` first, or migrate with --skip-prepare`);
}
