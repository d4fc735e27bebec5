// Task workflows in the migration: a workflow row carries its task's legacy id and the run that last
// migrated it (like every entity row); every attempt at running it is a workflow_runs row that names
// the migration run and the queue job behind it, and the definition hash it ran (the cache key: an
// earlier succeeded attempt with the same hash is reused instead of executing again).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE tms.workflows
      ADD COLUMN legacy_id    text,
      ADD COLUMN last_run_id  text;
    UPDATE tms.workflows w SET legacy_id = t.legacy_id FROM tms.tasks t WHERE t.id = w.task_id;
    UPDATE tms.workflows SET legacy_id = task_id::text WHERE legacy_id IS NULL;
    UPDATE tms.workflows SET last_run_id = run_id;
    ALTER TABLE tms.workflows ALTER COLUMN legacy_id SET NOT NULL, ALTER COLUMN last_run_id SET NOT NULL;
    -- The workflows stage reads the on-migrate workflows of a run in id order (keyset pagination);
    -- manual workflows, usually the bulk, are not in this index and cost the load nothing.
    CREATE INDEX workflows_on_migrate_run ON tms.workflows (last_run_id, id) WHERE run_mode = 'on-migrate';

    ALTER TABLE tms.workflow_runs
      -- the migration run whose workflows stage made the attempt, and the queue job
      ADD COLUMN run_id           text,
      ADD COLUMN job_id           text,
      -- the hash of the definition this attempt ran (the workflow's may change later)
      ADD COLUMN definition_hash  text,
      -- a cache hit: the succeeded attempt whose result it reuses
      ADD COLUMN cached_from      bigint;
    UPDATE tms.workflow_runs r SET run_id = w.run_id, definition_hash = w.definition_hash FROM tms.workflows w WHERE w.id = r.workflow_id;
    DELETE FROM tms.workflow_runs WHERE run_id IS NULL;
    ALTER TABLE tms.workflow_runs ALTER COLUMN run_id SET NOT NULL, ALTER COLUMN definition_hash SET NOT NULL;
    -- A workflow's attempts, and those of one run (the stage's progress, a job's earlier attempts).
    CREATE INDEX workflow_runs_workflow_run ON tms.workflow_runs (workflow_id, run_id);
    -- The cache: a succeeded attempt with this definition hash.
    CREATE INDEX workflow_runs_succeeded_hash ON tms.workflow_runs (definition_hash) WHERE status = 'succeeded';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX IF EXISTS tms.workflow_runs_succeeded_hash, tms.workflow_runs_workflow_run, tms.workflows_on_migrate_run;
    ALTER TABLE tms.workflow_runs DROP COLUMN IF EXISTS run_id, DROP COLUMN IF EXISTS job_id,
      DROP COLUMN IF EXISTS definition_hash, DROP COLUMN IF EXISTS cached_from;
    ALTER TABLE tms.workflows DROP COLUMN IF EXISTS legacy_id, DROP COLUMN IF EXISTS last_run_id;
  `);
}
