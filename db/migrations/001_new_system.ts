// The new Task Management System's schema `tms`. Every entity row carries its legacy id, the run that
// created it (run_id: what a rollback removes), the run that last migrated it (last_run_id: within one
// run the earliest declaration of an id wins) and the legacy line it came from. There are no foreign
// keys (one doubles COPY time, measured), and secondary indexes are absent during the load: workers
// check parents per chunk, verify counts orphans, and the optimize phase builds the indexes afterwards.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE SCHEMA IF NOT EXISTS tms;

    CREATE TABLE tms.projects (
      id            uuid PRIMARY KEY,
      legacy_id     text NOT NULL,
      key           text,
      name          text NOT NULL,
      description   text,
      owner         text,
      status        text NOT NULL CHECK (status IN ('active', 'on_hold', 'archived')),
      created_at    timestamptz,
      updated_at    timestamptz,
      legacy_extra  jsonb,
      run_id        text NOT NULL,
      last_run_id   text NOT NULL,
      legacy_line   integer NOT NULL
    );

    CREATE TABLE tms.phases (
      id            uuid PRIMARY KEY,
      legacy_id     text NOT NULL,
      project_id    uuid NOT NULL,
      name          text NOT NULL,
      position      integer,
      status        text NOT NULL CHECK (status IN ('planned', 'active', 'completed')),
      starts_on     date,
      ends_on       date,
      created_at    timestamptz,
      updated_at    timestamptz,
      legacy_extra  jsonb,
      run_id        text NOT NULL,
      last_run_id   text NOT NULL,
      legacy_line   integer NOT NULL
    );

    CREATE TABLE tms.tasks (
      id             uuid PRIMARY KEY,
      legacy_id      text NOT NULL,
      project_id     uuid NOT NULL,
      phase_id       uuid,
      title          text NOT NULL,
      description    text,
      status         text NOT NULL CHECK (status IN ('todo', 'in_progress', 'blocked', 'review', 'done', 'cancelled')),
      priority       text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
      type           text NOT NULL,
      assignee       text,
      reporter       text,
      estimate_hours numeric,
      due_on         date,
      tags           text[],
      created_at     timestamptz,
      updated_at     timestamptz,
      legacy_extra   jsonb,
      run_id         text NOT NULL,
      last_run_id    text NOT NULL,
      legacy_line    integer NOT NULL
    );

    -- One row per dependency edge: task_id depends on depends_on_id.
    -- legacy_order orders declarations (tasks' depends_on, then task_dependencies) so the earliest wins.
    CREATE TABLE tms.task_dependencies (
      task_id        uuid NOT NULL,
      depends_on_id  uuid NOT NULL,
      legacy_id      text NOT NULL,
      legacy_ref     text NOT NULL,
      legacy_order   bigint NOT NULL,
      run_id         text NOT NULL,
      last_run_id    text NOT NULL,
      PRIMARY KEY (task_id, depends_on_id)
    );

    CREATE TABLE tms.workflows (
      id               uuid PRIMARY KEY,
      task_id          uuid NOT NULL UNIQUE,
      template         text NOT NULL,
      template_version text NOT NULL,
      definition       jsonb NOT NULL,
      definition_hash  text NOT NULL,
      run_mode         text NOT NULL CHECK (run_mode IN ('on-migrate', 'manual')),
      created_at       timestamptz NOT NULL DEFAULT now(),
      run_id           text NOT NULL
    );

    CREATE TABLE tms.workflow_runs (
      id             bigserial PRIMARY KEY,
      workflow_id    uuid NOT NULL,
      attempt        integer NOT NULL,
      status         text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned', 'cached')),
      exit_code      integer,
      duration_ms    integer,
      output_digest  text,
      output_tail    text,
      cache_hit      boolean NOT NULL DEFAULT false,
      runner         text,
      worker         text,
      error          text,
      started_at     timestamptz NOT NULL DEFAULT now(),
      finished_at    timestamptz
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP SCHEMA IF EXISTS tms CASCADE');
}
