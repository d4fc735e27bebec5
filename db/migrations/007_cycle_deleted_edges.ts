// Edges an earlier run created that a later run's cycle check deleted. The later run's dump decides
// which of its edges closes a cycle (declaration order, as its prepare predicts from the files alone),
// and that may be an edge it adopted from an earlier run. Its rollback must give that edge back, so
// the row is kept here, whole, as it was deleted.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE ledger.cycle_deleted_edges (
      -- the run whose cycle check deleted the edge (no foreign key: a rolled-back run planned again
      -- under its id replaces its ledger.runs row, and the put-back history must outlive that)
      run_id         text NOT NULL,
      task_id        uuid NOT NULL,
      depends_on_id  uuid NOT NULL,
      -- the run that created the edge (the row's run_id)
      created_by     text NOT NULL,
      -- the tms.task_dependencies row as it was deleted
      edge           jsonb NOT NULL,
      deleted_at     timestamptz NOT NULL DEFAULT now(),
      -- set when the deleting run's rollback put the edge back; the rollback's transaction id tells
      -- the put-back row (xmin) from a change made to it afterwards
      restored_at    timestamptz,
      restored_xid   xid8,
      PRIMARY KEY (run_id, task_id, depends_on_id)
    );
    CREATE INDEX cycle_deleted_edges_created_by ON ledger.cycle_deleted_edges (created_by);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS ledger.cycle_deleted_edges');
}
