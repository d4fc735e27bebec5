// loadSettings (flags > env > config file > defaults), the legacy mapping's validation, and
// withoutPassword.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { DEFAULT_MAPPING_FILE, loadLegacyMapping, parseLegacyMapping } from '../../src/config/legacy-mapping.js';
import { DEFAULT_SETTINGS, loadSettings, settingsEnvironment } from '../../src/config/settings.js';
import { redactUrl as withoutPassword } from '../../src/redact-url.js';
import { tempDir, type TempDir } from './support.js';

let dir: TempDir;
beforeAll(() => {
  dir = tempDir('settings');
});
afterAll(() => dir.remove());

const yaml = (name: string, text: string) => dir.file(name, text);
/** The ConfigError message loadSettings throws (fails the test if it does not throw one). */
function configError(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadSettings: precedence', () => {
  it('defaults when nothing is set', () => {
    const s = loadSettings({}, { env: {} });
    expect(s).toEqual(DEFAULT_SETTINGS);
    expect(Object.isFrozen(s)).toBe(true);
  });

  it('config file > defaults', () => {
    const file = yaml('a.yaml', 'chunkSize: 100\nprefix: cfg\nconcurrency: 3\n');
    expect(loadSettings({}, { env: {}, configFile: file })).toMatchObject({ chunkSize: 100, prefix: 'cfg', concurrency: 3, attempts: DEFAULT_SETTINGS.attempts });
  });

  it('env > config file', () => {
    const file = yaml('b.yaml', 'chunkSize: 100\nprefix: cfg\n');
    expect(loadSettings({}, { env: { TASKFLEET_CHUNK_SIZE: '200' }, configFile: file })).toMatchObject({ chunkSize: 200, prefix: 'cfg' });
  });

  it('flags > env > config file', () => {
    const file = yaml('c.yaml', 'chunkSize: 100\nprefix: cfg\nconcurrency: 2\n');
    const s = loadSettings({ chunkSize: 300 }, { env: { TASKFLEET_CHUNK_SIZE: '200', TASKFLEET_PREFIX: 'env' }, configFile: file });
    expect(s).toMatchObject({ chunkSize: 300, prefix: 'env', concurrency: 2 });
  });

  it('an undefined flag and an empty env variable override nothing', () => {
    const file = yaml('d.yaml', 'prefix: cfg\n');
    expect(loadSettings({ prefix: undefined }, { env: { TASKFLEET_PREFIX: '' }, configFile: file }).prefix).toBe('cfg');
  });

  it('every documented env variable feeds its setting', () => {
    const s = loadSettings({}, {
      env: {
        DATABASE_URL: 'postgresql://u@h/db', REDIS_URL: 'rediss://h:6380/2', TASKFLEET_QUEUE_BACKEND: 'postgres', TASKFLEET_PREFIX: 'p',
        TASKFLEET_CHUNK_SIZE: '10', TASKFLEET_CHUNK_MAX_BYTES: '2048', TASKFLEET_MAX_WAITING_JOBS: '5', TASKFLEET_CONCURRENCY: '6', TASKFLEET_WORKFLOW_CONCURRENCY: '7',
        TASKFLEET_LOCK_DURATION_MS: '5000', TASKFLEET_STALLED_INTERVAL_MS: '6000', TASKFLEET_ATTEMPTS: '3', TASKFLEET_BACKOFF_MS: '20',
        TASKFLEET_HEALTH_PORT: '8080', TASKFLEET_PG_DEAD_CLIENT_MS: '9000', TASKFLEET_PG_IDLE_IN_TRANSACTION_MS: '0', LOG_LEVEL: 'debug',
      },
    });
    expect(s).toEqual({
      databaseUrl: 'postgresql://u@h/db', redisUrl: 'rediss://h:6380/2', queueBackend: 'postgres', prefix: 'p', chunkSize: 10, chunkMaxBytes: 2048,
      maxWaitingJobs: 5, concurrency: 6, workflowConcurrency: 7, lockDurationMs: 5000, stalledIntervalMs: 6000, attempts: 3, backoffMs: 20, healthPort: 8080,
      pgDeadClientMs: 9000, pgIdleInTransactionMs: 0, logLevel: 'debug',
    });
  });

  it('TASKFLEET_CONFIG names the config file; the configFile option wins over it', () => {
    const viaEnv = yaml('e.yaml', 'chunkSize: 11\n');
    const viaOpt = yaml('f.yaml', 'chunkSize: 22\n');
    expect(loadSettings({}, { env: { TASKFLEET_CONFIG: viaEnv } }).chunkSize).toBe(11);
    expect(loadSettings({}, { env: { TASKFLEET_CONFIG: viaEnv }, configFile: viaOpt }).chunkSize).toBe(22);
  });

  it('numbers may be quoted strings in the config file', () => {
    expect(loadSettings({}, { env: {}, configFile: yaml('g.yaml', 'chunkSize: "250"\n') }).chunkSize).toBe(250);
  });

  it('an empty config file means defaults', () => {
    expect(loadSettings({}, { env: {}, configFile: yaml('empty.yaml', '') })).toEqual(DEFAULT_SETTINGS);
  });
});

describe('loadSettings: errors name the setting', () => {
  it('a non-numeric TASKFLEET_CHUNK_SIZE names the variable and the setting', () => {
    const msg = configError(() => loadSettings({}, { env: { TASKFLEET_CHUNK_SIZE: 'abc' } }));
    expect(msg).toContain('TASKFLEET_CHUNK_SIZE');
    expect(msg).toContain('chunkSize');
    expect(msg).toContain('"abc"');
  });

  it.each([['0'], ['1.5'], ['100001'], ['-3']])('TASKFLEET_CHUNK_SIZE=%s is out of range: names chunkSize (TASKFLEET_CHUNK_SIZE)', (value) => {
    expect(configError(() => loadSettings({}, { env: { TASKFLEET_CHUNK_SIZE: value } }))).toMatch(/^Invalid setting chunkSize \(TASKFLEET_CHUNK_SIZE\): /);
  });

  it('a Unix-socket database URL with credentials and no host is valid, as pg reads it', () => {
    expect(loadSettings({}, { env: { DATABASE_URL: 'postgres://u:pw@/db?host=/var/run/postgresql' } }).databaseUrl).toBe('postgres://u:pw@/db?host=/var/run/postgresql');
  });

  it('settingsEnvironment gives a child process the same settings, whatever config file its environment names', () => {
    const settings = loadSettings({ chunkSize: 77, redisUrl: 'redis://127.0.0.1:6379/3' }, { env: {} });
    const env = { ...settingsEnvironment(settings) };
    expect(env.TASKFLEET_CONFIG).toBe('');
    expect(loadSettings({}, { env: { ...env, TASKFLEET_CONFIG: env.TASKFLEET_CONFIG } })).toEqual(settings);
  });

  it('a whitespace-only number is refused', () => {
    expect(configError(() => loadSettings({}, { env: { TASKFLEET_ATTEMPTS: '  ' } }))).toContain('attempts must be a number');
  });

  it.each([
    [{ DATABASE_URL: 'mysql://h/db' }, 'databaseUrl (DATABASE_URL)', 'must be a postgres:// URL'],
    // Found by the secrets probe: pg said only "Invalid URL", exit 1.
    [{ DATABASE_URL: 'postgres://u:pw@127.0.0.1:99999/db' }, 'databaseUrl (DATABASE_URL)', 'is not a valid URL: check the host, the port (a number from 1 to 65535)'],
    [{ DATABASE_URL: 'postgres://u:pw@127.0.0.1:5432x/db' }, 'databaseUrl (DATABASE_URL)', 'is not a valid URL'],
    [{ REDIS_URL: 'http://h' }, 'redisUrl (REDIS_URL)', 'must be a redis:// URL'],
    [{ TASKFLEET_QUEUE_BACKEND: 'kafka' }, 'queueBackend (TASKFLEET_QUEUE_BACKEND)', ''],
    [{ TASKFLEET_PREFIX: 'has space' }, 'prefix (TASKFLEET_PREFIX)', 'may only hold letters'],
    [{ TASKFLEET_CHUNK_MAX_BYTES: '100' }, 'chunkMaxBytes (TASKFLEET_CHUNK_MAX_BYTES)', ''],
    [{ TASKFLEET_CONCURRENCY: '1000' }, 'concurrency (TASKFLEET_CONCURRENCY)', ''],
    [{ TASKFLEET_HEALTH_PORT: '70000' }, 'healthPort (TASKFLEET_HEALTH_PORT)', ''],
    [{ LOG_LEVEL: 'loud' }, 'logLevel (LOG_LEVEL)', ''],
  ])('%j names %s', (env, names, detail) => {
    const msg = configError(() => loadSettings({}, { env }));
    expect(msg).toContain(`Invalid setting ${names}`);
    expect(msg).toContain(detail);
  });

  it('a bad value names where it came from: the flag, the variable or the config file', () => {
    expect(configError(() => loadSettings({ concurrency: 0 }, { env: {} }))).toMatch(/^Invalid setting concurrency \(the flag for concurrency\)/);
    expect(configError(() => loadSettings({ databaseUrl: 'garbage' }, { env: { DATABASE_URL: 'postgres://h/db' }, flagNames: { databaseUrl: '--new-data' } })))
      .toMatch(/^Invalid setting databaseUrl \(--new-data\): must be a postgres:\/\/ URL/);
    const file = yaml('bad-redis.yaml', '# the queues\nredisUrl: http://x\n');
    expect(configError(() => loadSettings({}, { env: {}, configFile: file }))).toMatch(new RegExp(`^Invalid setting redisUrl \\(config file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2\\): `));
    // The variable wins over the file, and is the one named.
    expect(configError(() => loadSettings({}, { env: { REDIS_URL: 'http://y' }, configFile: file }))).toMatch(/^Invalid setting redisUrl \(REDIS_URL\): /);
  });

  // Found by the README probe: the file was named, its line was not; and 2.5 read "expected int, received number".
  it('a config file\'s unknown key, bad value or YAML error names its line', () => {
    const unknown = yaml('unknown-key.yaml', 'chunkSize: 100\n\ncolour: blue\n');
    expect(configError(() => loadSettings({}, { env: {}, configFile: unknown }))).toMatch(new RegExp(`^Config file ${unknown.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3: unknown setting "colour"`));
    const fraction = yaml('fraction.yaml', 'chunkSize: 100\nconcurrency: 2.5\n');
    expect(configError(() => loadSettings({}, { env: {}, configFile: fraction }))).toBe(`Invalid setting concurrency (config file ${fraction}:2): must be a whole number, got 2.5`);
    const broken = yaml('broken.yaml', 'chunkSize: 100\nprefix: a: b\nconcurrency: 2\n');
    expect(configError(() => loadSettings({}, { env: {}, configFile: broken }))).toMatch(new RegExp(`^Config file ${broken.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2 is not valid YAML: `));
    for (const [name, empty] of [['dashes.yaml', '---\n# nothing yet\n'], ['tilde.yaml', '~\n'], ['blank.yaml', '\n']]) {
      expect(loadSettings({}, { env: {}, configFile: yaml(name!, empty!) }).chunkSize, name).toBe(5000);
    }
    const twice = yaml('twice.yaml', 'chunkSize: 100\nchunkSize: 200\n');
    expect(configError(() => loadSettings({}, { env: {}, configFile: twice }))).toMatch(/is not valid YAML: Map keys must be unique/);
    // Found by the secrets probe: the parser's code frame printed the line, and so the password on it.
    const unclosed = yaml('unclosed.yaml', 'prefix: p\ndatabaseUrl: "postgres://u:s3cr3t-Probe@127.0.0.1/db\n');
    const message = configError(() => loadSettings({}, { env: {}, configFile: unclosed }));
    expect(message).toMatch(/^Config file .*unclosed\.yaml:3 is not valid YAML: Missing closing "quote$/);
    expect(message).not.toContain('s3cr3t');
  });

  it('a bad config file value names the file and the setting', () => {
    const file = yaml('bad-number.yaml', 'chunkSize: lots\n');
    const msg = configError(() => loadSettings({}, { env: {}, configFile: file }));
    expect(msg).toContain(file);
    expect(msg).toContain('chunkSize must be a number');
    const file2 = yaml('bad-range.yaml', 'attempts: 0\n');
    expect(configError(() => loadSettings({}, { env: {}, configFile: file2 }))).toMatch(/Invalid setting attempts/);
  });

  it('unknown keys in the config file are refused, naming the key', () => {
    const file = yaml('unknown.yaml', 'chunkSize: 5\nchunk_size: 5\n');
    const msg = configError(() => loadSettings({}, { env: {}, configFile: file }));
    expect(msg).toContain('unknown setting "chunk_size"');
    expect(msg).toContain(file);
  });

  it('a config file that is not YAML, not a mapping, or missing', () => {
    expect(configError(() => loadSettings({}, { env: {}, configFile: yaml('broken.yaml', 'chunkSize: [1,\n') }))).toMatch(/is not valid YAML/);
    expect(configError(() => loadSettings({}, { env: {}, configFile: yaml('list.yaml', '- 1\n- 2\n') }))).toMatch(/must hold a mapping of settings/);
    expect(configError(() => loadSettings({}, { env: {}, configFile: yaml('scalar.yaml', '42\n') }))).toMatch(/must hold a mapping of settings/);
    expect(configError(() => loadSettings({}, { env: {}, configFile: `${dir.path}/nope.yaml` }))).toMatch(/Cannot read config file .*nope\.yaml/);
  });
});

describe('legacy mapping validation', () => {
  it('the shipped mapping loads, with priority 1-4 and the stated defaults', () => {
    const m = loadLegacyMapping(DEFAULT_MAPPING_FILE);
    expect(m.values.tasks?.priority).toEqual({ '1': 'low', '2': 'medium', '3': 'high', '4': 'critical' });
    expect(m.defaults).toMatchObject({ projects: { status: 'active' }, phases: { status: 'planned' }, tasks: { status: 'todo', priority: 'medium', type: 'default' } });
    expect(m.maxRecordBytes).toBe(1024 * 1024);
    expect(m.timezone).toBe('UTC');
  });

  it('nullText: absent unless given (a run\'s fingerprint holds the mapping), kept from a file laid over the shipped one', () => {
    expect('nullText' in loadLegacyMapping(DEFAULT_MAPPING_FILE)).toBe(false);
    expect(loadLegacyMapping(yaml('nulls.yaml', "nullText: ['\\N', 'NULL']\n")).nullText).toEqual(['\\N', 'NULL']);
    expect(() => parseLegacyMapping({ nullText: [''] }, 'x')).toThrow(/nullText\.0: an empty field already means no value/);
    // "\N" in YAML's double quotes is U+0085, not backslash-N: said, not taken.
    expect(() => loadLegacyMapping(yaml('nulls-dq.yaml', 'nullText: ["\\N"]\n'))).toThrow(/nullText\.0: this is U\+0085: in YAML's double quotes \\N is an escape; write '\\N' in single quotes/);
    // null removes it, as any entry of a file laid over another.
    expect('nullText' in parseLegacyMapping({ nullText: null }, 'x', parseLegacyMapping({ nullText: ['\\N'] }, 'base'))).toBe(false);
  });

  it('an empty mapping gets the defaults of the schema', () => {
    expect(parseLegacyMapping(null, 'x')).toEqual({ fields: {}, values: {}, defaults: {}, timezone: 'UTC', maxRecordBytes: 1024 * 1024 });
  });

  it.each([
    [{ fields: { tasks: { summary: 5 } } }, 'fields.tasks.summary'],
    [{ values: { tasks: { priority: { '1': ['low'] } } } }, 'values.tasks.priority.1'],
    [{ defaults: { phases: { status: true } } }, 'defaults.phases.status'],
    [{ timezone: 'Europe/Paris' }, 'timezone'],
    [{ maxRecordBytes: 10 }, 'maxRecordBytes'],
    [{ maxRecordBytes: 1.5e3 + 0.5 }, 'maxRecordBytes'],
    [{ fields: 'none' }, 'fields'],
  ])('%j is rejected naming %s', (doc, path) => {
    const msg = configError(() => parseLegacyMapping(doc, 'my-mapping.yaml'));
    expect(msg).toMatch(new RegExp(`^Mapping my-mapping\\.yaml: ${path.replace(/\./g, '\\.')}: `));
  });

  it('unknown kinds and unknown top-level keys are rejected, naming them', () => {
    expect(configError(() => parseLegacyMapping({ fields: { bugs: {} } }, 'm.yaml'))).toMatch(/^Mapping m\.yaml: fields: .*bugs/);
    expect(configError(() => parseLegacyMapping({ renames: {} }, 'm.yaml'))).toMatch(/^Mapping m\.yaml: \(top level\): .*renames/);
  });

  it('loadLegacyMapping: a bad file names the file and the path', () => {
    const file = yaml('mapping.yaml', 'fields:\n  tasks:\n    summary: [title]\n');
    const msg = configError(() => loadLegacyMapping(file));
    expect(msg).toContain(file);
    expect(msg).toContain('fields.tasks.summary');
    expect(configError(() => loadLegacyMapping(yaml('m2.yaml', 'fields: {')))).toMatch(/is not valid YAML/);
    expect(configError(() => loadLegacyMapping(`${dir.path}/absent.yaml`))).toMatch(/Cannot read mapping file/);
  });

  it('a custom mapping file is laid over the shipped one: it lists only what differs', () => {
    const m = loadLegacyMapping(yaml('ok.yaml', 'fields:\n  tasks:\n    summary: title\ndefaults:\n  tasks: { type: story }\nmaxRecordBytes: 4096\n'));
    expect(m.fields.tasks).toEqual({ summary: 'title' });
    expect(m.defaults.tasks).toEqual({ status: 'todo', priority: 'medium', type: 'story' });
    expect(m.defaults.projects).toEqual({ status: 'active' });
    expect(m.values.tasks?.priority).toEqual({ '1': 'low', '2': 'medium', '3': 'high', '4': 'critical' });
    expect(m.maxRecordBytes).toBe(4096);
    expect(loadLegacyMapping(yaml('empty.yaml', ''))).toEqual(loadLegacyMapping(DEFAULT_MAPPING_FILE));
  });

  it('the shipped file gives the mapping as it was stored before files were laid over it (runs\' fingerprints)', () => {
    const doc = parseYaml(readFileSync(DEFAULT_MAPPING_FILE, 'utf8')) as Record<string, unknown>;
    const asStoredBefore = { fields: doc.fields, values: doc.values, defaults: doc.defaults, timezone: doc.timezone, maxRecordBytes: doc.maxRecordBytes };
    expect(JSON.stringify(loadLegacyMapping())).toBe(JSON.stringify(asStoredBefore));
    expect(loadLegacyMapping().fields).toEqual({ projects: {}, phases: {}, tasks: {}, task_dependencies: {} });
  });

  it('null in a custom file removes a default or a translation', () => {
    const m = loadLegacyMapping(yaml('nulls.yaml', 'values:\n  tasks: { priority: null, status: { open: todo } }\ndefaults:\n  tasks: { status: null }\n'));
    expect(m.values.tasks).toEqual({ status: { open: 'todo' } });
    expect(m.defaults.tasks).toEqual({ priority: 'medium', type: 'default' });
    const bare = loadLegacyMapping(yaml('all-null.yaml', 'defaults:\n  projects: { status: null }\n'));
    expect(bare.defaults.projects).toEqual({});
  });

  it.each([
    ['fields:\n  tasks: { title: titel }\n', 'fields.tasks.title: titel is not a tasks field'],
    ['values:\n  tasks: { prio: { "1": low } }\n', 'values.tasks.prio: prio is not a tasks field'],
    ['defaults:\n  phases: { state: planned }\n', 'defaults.phases.state: state is not a phases field'],
  ])('a taskfleet field that does not exist is refused at load, naming file and path (%j)', (text, message) => {
    const file = yaml('unknown-field.yaml', text);
    const msg = configError(() => loadLegacyMapping(file));
    const expected = `Mapping ${file}: ${message} (one of: `;
    expect(msg.slice(0, expected.length)).toBe(expected);
    expect(msg).toMatch(/\(one of: .*\bid\b/);
  });
});

describe('withoutPassword', () => {
  it.each([
    ['postgres://user:secret@host:5432/db', 'postgres://user:***@host:5432/db'],
    ['postgresql://u:p%40ss%2Fw@h/db?sslmode=require', 'postgresql://u:***@h/db?sslmode=require'],
    ['redis://:secret@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'],
    ['rediss://default:s3cr3t@cache.example.com:6380', 'rediss://default:***@cache.example.com:6380'],
    ['postgres://u:a:b:c@h/db', 'postgres://u:***@h/db'],
    ['POSTGRES://U:X@H/D', 'POSTGRES://U:***@H/D'],
  ])('%s -> %s', (url, expected) => {
    expect(withoutPassword(url)).toBe(expected);
  });

  it.each(['postgres://user@host/db', 'postgres://host:5432/db', 'redis://127.0.0.1:6379', 'not a url', ''])('%j has no password: unchanged', (url) => {
    expect(withoutPassword(url)).toBe(url);
  });

  it('does not touch an @ in the path or query', () => {
    expect(withoutPassword('postgres://host/db?application_name=a@b')).toBe('postgres://host/db?application_name=a@b');
  });

  // node-postgres reads 'postgres://u:p@ss@host/db' with password 'p@ss' (the last '@' ends it).
  it('masks a password that contains an unencoded @', () => {
    expect(withoutPassword('postgres://u:p@ss@host/db')).toBe('postgres://u:***@host/db');
  });
});
