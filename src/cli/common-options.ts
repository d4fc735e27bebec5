// Options every command shares (connections, queue prefix, config file), and their translation into
// validated Settings. Flags win over the environment, which wins over the config file.
import { type Command, Option, InvalidArgumentError } from 'commander';
import { DEFAULT_SETTINGS, loadSettings, type Settings, type SettingsInput } from '../config/settings.js';

export interface ConnectionFlags {
  newData?: string;
  redis?: string;
  queueBackend?: 'redis' | 'postgres';
  prefix?: string;
  config?: string;
  logLevel?: string;
}

/**
 * A preAction hook for options a command cannot do without. Commander's requiredOption is checked before
 * unknown options, so a misspelt `--legacy-dta` was reported as a missing `--legacy-data`; this check
 * runs after them, and the typo is named as the typo it is.
 */
export function requireOptions(...attributes: string[]): (self: Command, action: Command) => void {
  return (_self, action) => {
    for (const name of attributes) {
      if (action.getOptionValue(name) !== undefined) continue;
      const option = action.options.find((o) => o.attributeName() === name);
      action.error(`error: required option '${option?.flags ?? name}' not specified`, { code: 'commander.missingMandatoryOptionValue' });
    }
  };
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number');
  return n;
}

export function withConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--new-data <url>', `Postgres URL of the new system and the ledger (default: $DATABASE_URL, else ${DEFAULT_SETTINGS.databaseUrl})`)
    .option('--redis <url>', `Redis URL for the queues, may carry a db number: redis://host:6379/5 (default: $REDIS_URL, else ${DEFAULT_SETTINGS.redisUrl})`)
    .addOption(new Option('--queue-backend <kind>', 'where the queues live: redis, or BullMQ\'s Postgres backend in the --new-data database').choices(['redis', 'postgres']))
    .option('--prefix <prefix>', 'queue key prefix; keep the braces for Redis Cluster (default: {taskfleet})')
    .option('--config <file>', 'YAML file of settings (lower precedence than environment and flags)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default: info)');
}

// The flag that sets each setting, for errors that name what the operator typed.
const FLAG_NAMES: Partial<Record<keyof Settings, string>> = {
  databaseUrl: '--new-data', redisUrl: '--redis', queueBackend: '--queue-backend', prefix: '--prefix', logLevel: '--log-level',
  chunkSize: '--chunk-size', concurrency: '--concurrency', workflowConcurrency: '--workflow-concurrency', healthPort: '--health-port',
  lockDurationMs: '--lock-duration', stalledIntervalMs: '--stalled-interval',
};

export function settingsFrom(flags: ConnectionFlags, extra: SettingsInput = {}): Settings {
  return loadSettings(
    {
      databaseUrl: flags.newData,
      redisUrl: flags.redis,
      queueBackend: flags.queueBackend,
      prefix: flags.prefix,
      logLevel: flags.logLevel as Settings['logLevel'] | undefined,
      ...extra,
    },
    { flagNames: FLAG_NAMES, ...(flags.config ? { configFile: flags.config } : {}) },
  );
}
