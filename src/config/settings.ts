// Runtime settings: read once at the edge (defaults < config file < environment < flags), validated, frozen.
// Nothing below src/config reads process.env; every command receives a Settings object.
import { readFileSync } from 'node:fs';
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { redisUrlProblem } from '../queue/redis-url.js';
import { describeYamlError } from './yaml-error.js';

const settingsSchema = z.object({
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').superRefine((url, ctx) => {
    // pg would say only "Invalid URL", at first use, as a failure (exit 1) rather than a setting to fix.
    // Credentials with no host (a Unix socket: postgres://u:pw@/db?host=/run/postgresql) parse as pg parses them.
    if (!URL.canParse(url.replace(/@\//, '@localhost/'))) ctx.addIssue({ code: 'custom', message: 'is not a valid URL: check the host, the port (a number from 1 to 65535) and that the user and password are percent-encoded' });
  }),
  // One Redis, or a Redis Cluster's nodes (redis://h1:p1,h2:p2): src/queue/redis-url.ts reads both.
  redisUrl: z.string().superRefine((url, ctx) => {
    const problem = redisUrlProblem(url);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  }),
  queueBackend: z.enum(['redis', 'postgres']),
  prefix: z.string().min(1).max(64).regex(/^[A-Za-z0-9_{}.-]+$/, 'may only hold letters, digits and _ { } . -'),
  chunkSize: z.number().int().min(1).max(100_000),
  chunkMaxBytes: z.number().int().min(1024).max(256 * 1024 * 1024),
  maxWaitingJobs: z.number().int().min(1).max(100_000),
  concurrency: z.number().int().min(1).max(256),
  /** Workflow jobs a worker process takes at once (the run's dagger.yaml concurrency caps executions further). */
  workflowConcurrency: z.number().int().min(1).max(256),
  lockDurationMs: z.number().int().min(1000),
  stalledIntervalMs: z.number().int().min(1000),
  attempts: z.number().int().min(1).max(100),
  backoffMs: z.number().int().min(10),
  healthPort: z.number().int().min(0).max(65535),
  /** Worker sessions: how soon Postgres drops a client that went silent (a lost host), rolling back its transaction. 0: the server's defaults. */
  pgDeadClientMs: z.number().int().min(0),
  /** Worker sessions: idle_in_transaction_session_timeout (a frozen worker holding locks). 0: off. */
  pgIdleInTransactionMs: z.number().int().min(0),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});

export type Settings = Readonly<z.infer<typeof settingsSchema>>;
export type SettingsInput = Partial<{ [K in keyof Settings]: Settings[K] | undefined }>;

export const DEFAULT_SETTINGS: Settings = Object.freeze({
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/taskfleet',
  redisUrl: 'redis://127.0.0.1:6379/0',
  queueBackend: 'redis',
  // A hash tag, so every queue key lands in one Redis Cluster slot.
  prefix: '{taskfleet}',
  // Chosen from `npm run bench` measurements: see README "Chunk size".
  chunkSize: 5000,
  chunkMaxBytes: 16 * 1024 * 1024,
  maxWaitingJobs: 64,
  concurrency: 4,
  workflowConcurrency: 8,
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  attempts: 8,
  backoffMs: 1000,
  healthPort: 0,
  // A host that drops off the network keeps its chunk's row locks until Postgres notices (TCP's own
  // defaults: hours): one minute, then the stalled job's next worker proceeds. See src/store/pool.ts.
  pgDeadClientMs: 60_000,
  // Far above any chunk transaction's pause between statements (the longest, the cycle job's SCC pass,
  // takes seconds per million edges), yet it frees the locks of a frozen (SIGSTOPped, paused VM) worker.
  pgIdleInTransactionMs: 300_000,
  logLevel: 'info',
});

// Environment variables and the setting each one feeds.
const ENV_NAMES: Record<string, keyof Settings> = {
  DATABASE_URL: 'databaseUrl',
  REDIS_URL: 'redisUrl',
  TASKFLEET_QUEUE_BACKEND: 'queueBackend',
  TASKFLEET_PREFIX: 'prefix',
  TASKFLEET_CHUNK_SIZE: 'chunkSize',
  TASKFLEET_CHUNK_MAX_BYTES: 'chunkMaxBytes',
  TASKFLEET_MAX_WAITING_JOBS: 'maxWaitingJobs',
  TASKFLEET_CONCURRENCY: 'concurrency',
  TASKFLEET_WORKFLOW_CONCURRENCY: 'workflowConcurrency',
  TASKFLEET_LOCK_DURATION_MS: 'lockDurationMs',
  TASKFLEET_STALLED_INTERVAL_MS: 'stalledIntervalMs',
  TASKFLEET_ATTEMPTS: 'attempts',
  TASKFLEET_BACKOFF_MS: 'backoffMs',
  TASKFLEET_HEALTH_PORT: 'healthPort',
  TASKFLEET_PG_DEAD_CLIENT_MS: 'pgDeadClientMs',
  TASKFLEET_PG_IDLE_IN_TRANSACTION_MS: 'pgIdleInTransactionMs',
  LOG_LEVEL: 'logLevel',
};

const NUMERIC = new Set<keyof Settings>([
  'chunkSize', 'chunkMaxBytes', 'maxWaitingJobs', 'concurrency', 'workflowConcurrency', 'lockDurationMs',
  'stalledIntervalMs', 'attempts', 'backoffMs', 'healthPort', 'pgDeadClientMs', 'pgIdleInTransactionMs',
]);

function coerce(key: keyof Settings, raw: unknown, source: string): unknown {
  if (typeof raw === 'string' && NUMERIC.has(key)) {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) {
      throw new ConfigError(`${source}: ${key} must be a number, got "${raw}"`);
    }
    return n;
  }
  return raw;
}

/** A config file's settings, each with the line it is on (errors name file:line). */
function readConfigFile(file: string): Map<string, { value: unknown; line: number }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  const syntax = doc.errors[0];
  if (syntax) {
    throw new ConfigError(`Config file ${describeYamlError(file, syntax)}`, { cause: syntax });
  }
  const settings = new Map<string, { value: unknown; line: number }>();
  // Empty, or only `---` or `~`: no settings.
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return settings;
  if (!isMap(doc.contents)) throw new ConfigError(`Config file ${file} must hold a mapping of settings`);
  const known = new Set<string>(Object.keys(DEFAULT_SETTINGS));
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const line = isNode(pair.key) && pair.key.range ? lines.linePos(pair.key.range[0]).line : 0;
    const at = `${file}${line > 0 ? `:${line}` : ''}`;
    if (!known.has(key)) throw new ConfigError(`Config file ${at}: unknown setting "${key}" (known: ${[...known].join(', ')})`);
    settings.set(key, { value: isNode(pair.value) ? pair.value.toJS(doc) : pair.value, line });
  }
  return settings;
}

/**
 * Builds the settings for one process. `flags` come from the command line and win over the environment,
 * which wins over the config file (`--config FILE` or TASKFLEET_CONFIG), which wins over the defaults.
 */
export function loadSettings(
  flags: SettingsInput,
  opts: { env?: NodeJS.ProcessEnv; configFile?: string; flagNames?: Partial<Record<keyof Settings, string>> } = {},
): Settings {
  const env = opts.env ?? process.env;
  const merged: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  // Where each value came from, so an invalid one is blamed on the flag, variable or file that gave it.
  const sources = new Map<string, string>();
  const configFile = opts.configFile ?? env.TASKFLEET_CONFIG;
  if (configFile) {
    for (const [key, { value, line }] of readConfigFile(configFile)) {
      const source = `config file ${configFile}${line > 0 ? `:${line}` : ''}`;
      sources.set(key, source);
      merged[key] = coerce(key as keyof Settings, value, source);
    }
  }
  for (const [name, key] of Object.entries(ENV_NAMES)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    sources.set(key, name);
    merged[key] = coerce(key, value, `environment variable ${name}`);
  }
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    const flag = opts.flagNames?.[key as keyof Settings] ?? `the flag for ${key}`;
    sources.set(key, flag);
    merged[key] = coerce(key as keyof Settings, value, flag);
  }
  const parsed = settingsSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path.join('.') ?? '?';
    // A default that fails names the variable that would change it.
    const source = sources.get(key) ?? Object.entries(ENV_NAMES).find(([, k]) => k === key)?.[0];
    // zod says "expected int, received number" of 2.5: say it as a person would.
    const message = issue?.code === 'invalid_type' && issue.expected === 'int' ? `must be a whole number, got ${String(merged[key])}` : issue?.message ?? 'invalid';
    throw new ConfigError(`Invalid setting ${key}${source ? ` (${source})` : ''}: ${message}`);
  }
  return Object.freeze(parsed.data);
}

/**
 * Every setting as the environment variable that feeds it: a child process given these resolves the same
 * settings as this one (the environment wins over any config file), and no URL, with its password, has to
 * go on its command line, where any local user could read it (ps, /proc/PID/cmdline).
 */
export function settingsEnvironment(settings: Settings): Record<string, string> {
  // No config file to read again: these are its settings already, and one named only in this process's
  // environment may not be the one it used (--config).
  const env: Record<string, string> = { TASKFLEET_CONFIG: '' };
  for (const [name, key] of Object.entries(ENV_NAMES)) env[name] = String(settings[key]);
  return env;
}

/** The environment child processes (local workers) inherit: PATH and the like, plus the settings they get explicitly. */
export function inheritedEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env };
}

/** Only the named variables of this process's environment (for a child that must inherit no secret). */
export function environmentSubset(names: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of names) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}
