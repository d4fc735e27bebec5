// The migration ledger (schema `ledger`): runs, their files, chunks, rejects. Postgres is the source of
// truth for a run; the queue only carries chunk references, so a flushed Redis loses nothing.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE SCHEMA IF NOT EXISTS ledger;

    CREATE TABLE ledger.runs (
      id           text PRIMARY KEY,
      status       text NOT NULL CHECK (status IN ('planning', 'running', 'completed', 'failed')),
      legacy_dir   text NOT NULL,
      fingerprint  text NOT NULL,
      -- Part of every job id of the run: a ledger rebuilt from scratch against the same Redis gets
      -- new job ids, so finished jobs of an older ledger cannot shadow this one's.
      queue_token  text NOT NULL,
      options      jsonb NOT NULL,
      created_at   timestamptz NOT NULL DEFAULT now(),
      started_at   timestamptz,
      finished_at  timestamptz,
      stage        text,
      error        text
    );

    -- The legacy files of a run, with the hash taken while planning (workers re-check chunk hashes).
    CREATE TABLE ledger.run_files (
      run_id     text NOT NULL REFERENCES ledger.runs (id) ON DELETE CASCADE,
      kind       text NOT NULL,
      file_name  text NOT NULL,
      format     text NOT NULL,
      bytes      bigint NOT NULL,
      sha256     text NOT NULL,
      records    integer NOT NULL,
      header     jsonb,
      PRIMARY KEY (run_id, kind)
    );

    -- A chunk is a byte range of one legacy file. migrated/rejected are deltas whose sum per kind is
    -- the run's total (a later chunk may move a record of an earlier one to the rejects).
    CREATE TABLE ledger.chunks (
      run_id          text NOT NULL REFERENCES ledger.runs (id) ON DELETE CASCADE,
      stage           text NOT NULL,
      chunk_no        integer NOT NULL,
      kind            text NOT NULL,
      file_name       text,
      byte_start      bigint NOT NULL DEFAULT 0,
      byte_end        bigint NOT NULL DEFAULT 0,
      line_start      integer NOT NULL DEFAULT 0,
      line_end        integer NOT NULL DEFAULT 0,
      records         integer NOT NULL DEFAULT 0,
      first_legacy_id text,
      last_legacy_id  text,
      sha256          text,
      status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
      legacy_records  integer NOT NULL DEFAULT 0,
      migrated        integer NOT NULL DEFAULT 0,
      rejected        integer NOT NULL DEFAULT 0,
      -- tasks chunks: the depends_on edges their records declare, kept for the dependencies stage
      -- (so it reads neither the legacy file nor parses it again)
      declared_edges  json,
      attempts        integer NOT NULL DEFAULT 0,
      error           text,
      worker          text,
      duration_ms     integer,
      done_at         timestamptz,
      PRIMARY KEY (run_id, stage, chunk_no)
    );

    CREATE TABLE ledger.rejects (
      id          bigserial PRIMARY KEY,
      run_id      text NOT NULL REFERENCES ledger.runs (id) ON DELETE CASCADE,
      kind        text NOT NULL,
      ref         text NOT NULL,
      file_name   text NOT NULL,
      line        integer NOT NULL,
      legacy_id   text,
      field       text,
      reason      text NOT NULL,
      stage       text NOT NULL,
      chunk_no    integer NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now(),
      UNIQUE (run_id, kind, ref)
    );

    -- The legacy -> new id mapping. New ids are UUIDv5 of (kind, legacy id) and every row keeps its
    -- legacy id and run, so the mapping is read straight from the rows (no second copy to drift).
    CREATE VIEW ledger.id_map AS
      SELECT 'projects'::text AS kind, legacy_id, id AS new_id, run_id FROM tms.projects
      UNION ALL SELECT 'phases', legacy_id, id, run_id FROM tms.phases
      UNION ALL SELECT 'tasks', legacy_id, id, run_id FROM tms.tasks;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP SCHEMA IF EXISTS ledger CASCADE');
}
