// Applies the schema migrations in db/migrations with knex. The list is static (imported modules, not
// a directory scan) so the compiled package and the TypeScript sources migrate identically.
import type { Knex } from 'knex';
import pg from 'pg';
import * as newSystem from './migrations/001_new_system.js';
import * as ledger from './migrations/002_ledger.js';
import * as lifecycle from './migrations/003_lifecycle.js';
import * as workflows from './migrations/004_workflows.js';
import * as operations from './migrations/005_operations.js';
import * as workflowTemplates from './migrations/006_workflow_templates.js';
import * as cycleDeletedEdges from './migrations/007_cycle_deleted_edges.js';
import * as preparationMapping from './migrations/008_preparation_mapping.js';
import * as runWorkflowSummary from './migrations/009_run_workflow_summary.js';
import * as preparationTemplates from './migrations/010_preparation_templates.js';
import * as runQueue from './migrations/011_run_queue.js';

interface Migration { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> }

const MIGRATIONS: Record<string, Migration> = {
  '001_new_system': newSystem,
  '002_ledger': ledger,
  '003_lifecycle': lifecycle,
  '004_workflows': workflows,
  '005_operations': operations,
  '006_workflow_templates': workflowTemplates,
  '007_cycle_deleted_edges': cycleDeletedEdges,
  '008_preparation_mapping': preparationMapping,
  '009_run_workflow_summary': runWorkflowSummary,
  '010_preparation_templates': preparationTemplates,
  '011_run_queue': runQueue,
};

/** The migrations up to `last` (all by default): a test can build an older schema and upgrade it. */
function sourceUpTo(last?: string): Knex.MigrationSource<string> {
  const names = Object.keys(MIGRATIONS);
  if (last !== undefined && !names.includes(last)) throw new Error(`Unknown migration ${last}`);
  return { ...migrationSource, getMigrations: () => Promise.resolve(last === undefined ? names : names.slice(0, names.indexOf(last) + 1)) };
}

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: () => Promise.resolve(Object.keys(MIGRATIONS)),
  getMigrationName: (name) => name,
  getMigration: (name) => {
    const migration = MIGRATIONS[name];
    if (!migration) throw new Error(`Unknown migration ${name}`);
    return Promise.resolve(migration);
  },
};

/** knex is loaded only when a schema change is due: the common path (already migrated) never needs it. */
async function createKnex(databaseUrl: string): Promise<Knex> {
  const { default: knexFactory } = await import('knex');
  return knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 2 } });
}

/** Whether every migration is already applied (a plain query: no knex needed). */
async function upToDate(client: pg.Client): Promise<boolean> {
  const { rows: [table] } = await client.query<{ t: string | null }>(`SELECT to_regclass('public.taskfleet_schema_migrations')::text AS t`);
  if (!table?.t) return false;
  const { rows } = await client.query<{ name: string }>('SELECT name FROM public.taskfleet_schema_migrations');
  const applied = new Set(rows.map((r) => r.name));
  return Object.keys(MIGRATIONS).every((name) => applied.has(name));
}

/** Brings the database to the latest schema (or only up to `upTo`: tests build an older one); returns the names of the migrations it applied. */
// Any number of workers and producers may start at once on a fresh database; knex's own lock table
// is created without a lock, so the whole step is serialised on a Postgres advisory lock first.
const MIGRATION_LOCK = 7_346_012_019;

export async function migrateToLatest(databaseUrl: string, upTo?: string): Promise<string[]> {
  const lock = new pg.Client({ connectionString: databaseUrl });
  lock.on('error', () => undefined);
  await lock.connect();
  let knex: Knex | null = null;
  try {
    if (upTo === undefined && await upToDate(lock)) return [];
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    knex = await createKnex(databaseUrl);
    const [, applied] = (await knex.migrate.latest({ migrationSource: sourceUpTo(upTo), tableName: 'taskfleet_schema_migrations' })) as [number, string[]];
    return applied;
  } finally {
    await knex?.destroy();
    await lock.end(); // ends the session, which releases the lock
  }
}
