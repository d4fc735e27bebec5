// A run's workflow counts as they stood when it completed. They are read from the new system's tables
// by last_run_id, which a later run over the same tasks moves to itself: without this record, an
// earlier run's status would show 0 workflows once a later one ran. Runs from before have none (live
// counts, as before).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger.runs ADD COLUMN workflow_summary jsonb');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger.runs DROP COLUMN workflow_summary');
}
