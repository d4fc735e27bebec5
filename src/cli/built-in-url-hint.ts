// Said when the database a command cannot reach is the built-in default: `database "taskfleet" does not
// exist` alone left a newcomer who forgot DATABASE_URL guessing why that database.
import { DEFAULT_SETTINGS } from '../config/settings.js';

/** The hint to append to a "Cannot reach Postgres at URL: …" message, or ''. */
export function builtInUrlHint(message: string, env: NodeJS.ProcessEnv, argv: readonly string[]): string {
  const givenElsewhere = env.DATABASE_URL !== undefined || argv.some((a) => a === '--new-data' || a.startsWith('--new-data='));
  return givenElsewhere || !message.includes(`at ${DEFAULT_SETTINGS.databaseUrl}:`)
    ? ''
    : ' (the built-in default: neither --new-data nor DATABASE_URL is set)';
}
