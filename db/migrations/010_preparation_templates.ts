// A prepare checks the workflow templates against the data's task types: the templates it checked are
// kept (their SHA-256), so migrate starts only from a prepare that checked the templates it runs with.
// Otherwise a run could fail on a task type its templates do not serve, and a run keeps its templates,
// so no resume could mend it. Rows from before have none, and still open the gate.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger.preparations ADD COLUMN templates_sha256 text');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger.preparations DROP COLUMN templates_sha256');
}
