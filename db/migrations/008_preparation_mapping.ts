// A prepare's findings are what its mapping makes of the data: the mapping it ran with is kept (its
// SHA-256), so migrate starts only from a prepare of the same data under the same mapping. Rows from
// before have none, and still open the gate (their mapping is unknown).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger.preparations ADD COLUMN mapping_sha256 text');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger.preparations DROP COLUMN mapping_sha256');
}
