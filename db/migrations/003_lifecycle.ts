// The operator lifecycle in the ledger: preparations (validated + backed-up legacy data, the gate for
// migrate), their findings, every phase's start/end/outcome, verification results, decommissions, and
// the run bookkeeping a rollback needs.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ledger.runs DROP CONSTRAINT IF EXISTS runs_status_check;
    ALTER TABLE ledger.runs ADD CONSTRAINT runs_status_check
      CHECK (status IN ('planning', 'running', 'completed', 'failed', 'rolled_back'));
    ALTER TABLE ledger.runs
      -- the successful prepare this run was started from (NULL: --skip-prepare)
      ADD COLUMN preparation_id    bigint,
      -- next transaction id when the run completed: a row of the run with a newer xmin was changed after it
      ADD COLUMN completed_xid     xid8,
      ADD COLUMN rolled_back_at    timestamptz,
      ADD COLUMN decommissioned_at timestamptz;

    -- A prepare: the legacy data validated and backed up. migrate looks for a passed one with the same
    -- manifest hash (the SHA-256 of the sorted list of file names, sizes and SHA-256s).
    CREATE TABLE ledger.preparations (
      id               bigserial PRIMARY KEY,
      legacy_dir       text NOT NULL,
      manifest_sha256  text NOT NULL,
      manifest         jsonb NOT NULL,
      passed           boolean NOT NULL,
      errors           integer NOT NULL DEFAULT 0,
      warnings         integer NOT NULL DEFAULT 0,
      records          jsonb,
      backup_dir       text,
      report_path      text,
      created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX preparations_manifest ON ledger.preparations (manifest_sha256, passed);

    -- What prepare found, one row per finding (file:line), so verify can check the migration's rejects
    -- against an independent classification.
    CREATE TABLE ledger.validation_findings (
      preparation_id  bigint NOT NULL REFERENCES ledger.preparations (id) ON DELETE CASCADE,
      severity        text NOT NULL CHECK (severity IN ('error', 'warning')),
      -- the reject class of docs/legacy-format.md (errors), or the warning rule (src/validation/findings.ts)
      class           text,
      kind            text NOT NULL,
      ref             text NOT NULL,
      file_name       text NOT NULL,
      line            integer NOT NULL,
      legacy_id       text,
      field           text,
      reason          text NOT NULL,
      -- aggregated warnings: how many records the finding stands for (ref is the first)
      count           integer
    );
    CREATE INDEX validation_findings_preparation ON ledger.validation_findings (preparation_id, kind, ref);

    -- Every lifecycle phase's start, end and outcome (a dry run writes nothing here: it changes nothing).
    CREATE TABLE ledger.phase_events (
      id              bigserial PRIMARY KEY,
      run_id          text,
      preparation_id  bigint,
      phase           text NOT NULL CHECK (phase IN ('prepare', 'migrate', 'verify', 'optimize', 'decommission', 'rollback')),
      started_at      timestamptz NOT NULL DEFAULT now(),
      finished_at     timestamptz,
      outcome         text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'passed', 'failed', 'refused')),
      summary         jsonb,
      error           text
    );
    CREATE INDEX phase_events_run ON ledger.phase_events (run_id, id);

    CREATE TABLE ledger.verifications (
      id           bigserial PRIMARY KEY,
      run_id       text NOT NULL,
      started_at   timestamptz NOT NULL,
      finished_at  timestamptz NOT NULL DEFAULT now(),
      passed       boolean NOT NULL,
      checks       jsonb NOT NULL,
      report_path  text
    );
    CREATE INDEX verifications_run ON ledger.verifications (run_id, id);

    CREATE TABLE ledger.decommissions (
      id               bigserial PRIMARY KEY,
      run_id           text NOT NULL,
      legacy_dir       text NOT NULL,
      archive_path     text NOT NULL,
      -- the archive file's own SHA-256 (the data set's is manifest_sha256): checks the archive later
      archive_sha256   text NOT NULL,
      manifest_sha256  text NOT NULL,
      created_at       timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS ledger.decommissions, ledger.verifications, ledger.phase_events,
      ledger.validation_findings, ledger.preparations;
    ALTER TABLE ledger.runs DROP COLUMN IF EXISTS preparation_id, DROP COLUMN IF EXISTS completed_xid,
      DROP COLUMN IF EXISTS rolled_back_at, DROP COLUMN IF EXISTS decommissioned_at;
    ALTER TABLE ledger.runs DROP CONSTRAINT IF EXISTS runs_status_check;
    ALTER TABLE ledger.runs ADD CONSTRAINT runs_status_check CHECK (status IN ('planning', 'running', 'completed', 'failed'));
  `);
}
