// A newcomer who forgot DATABASE_URL saw only `database "taskfleet" does not exist` (found by the README probe).
import { describe, expect, it } from 'vitest';
import { builtInUrlHint } from '../../src/cli/built-in-url-hint.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';

const atDefault = `Cannot reach Postgres at ${DEFAULT_SETTINGS.databaseUrl}: database "taskfleet" does not exist`;
const HINT = ' (the built-in default: neither --new-data nor DATABASE_URL is set)';

describe('the built-in database URL hint', () => {
  it('says the URL is the built-in default when nothing gave one', () => {
    expect(builtInUrlHint(atDefault, {}, ['node', 'taskfleet', 'status'])).toBe(HINT);
  });

  it('says nothing when the URL was given, even the same one, or is another', () => {
    expect(builtInUrlHint(atDefault, { DATABASE_URL: DEFAULT_SETTINGS.databaseUrl }, ['node', 'taskfleet', 'status'])).toBe('');
    expect(builtInUrlHint(atDefault, {}, ['node', 'taskfleet', 'status', '--new-data', DEFAULT_SETTINGS.databaseUrl])).toBe('');
    expect(builtInUrlHint(atDefault, {}, ['node', 'taskfleet', 'status', `--new-data=${DEFAULT_SETTINGS.databaseUrl}`])).toBe('');
    expect(builtInUrlHint('Cannot reach Postgres at postgres://db.example/tms: timeout', {}, ['node', 'taskfleet', 'status'])).toBe('');
  });
});
