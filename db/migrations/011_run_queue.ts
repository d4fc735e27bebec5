// Where a run's jobs are queued: its backend, key prefix and Redis (host:port/db, never a password). A
// resume from elsewhere reads them instead of guessing from its own defaults (it used to enqueue into
// `{taskfleet}` while the workers listened on the run's prefix). Runs from before have none.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger.runs ADD COLUMN queue_backend text, ADD COLUMN queue_prefix text, ADD COLUMN queue_redis text');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger.runs DROP COLUMN queue_backend, DROP COLUMN queue_prefix, DROP COLUMN queue_redis');
}
