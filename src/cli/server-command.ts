// `taskfleet server`: the operations server — Bull Board, the progress API, /metrics and the probes,
// behind logins and roles, with an audit log. `taskfleet board` is an alias kept for old scripts.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config/errors.js';
import { createLogger } from '../logger.js';
import { parseDuration } from '../server/auth/durations.js';
import { positiveInt, settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';
import { exitWhenDone } from './exit-when-done.js';

/** The environment variables the server reads (handed in by src/cli.ts: nothing below reads process.env). */
export interface ServerEnv {
  TASKFLEET_JWT_SECRET?: string | undefined;
  TASKFLEET_METRICS_TOKEN?: string | undefined;
}

export interface ServerFlags extends ConnectionFlags {
  port: number;
  host: string;
  users: string;
  auth: boolean;
  accessTtl: number;
  refreshTtl: number;
  loginLimit: number;
  loginWindow: number;
  trustProxy?: string;
}

export const DEFAULT_USERS_FILE = 'config/users.yaml';

function duration(min: number, max: number) {
  return (value: string): number => {
    const seconds = parseDuration(value);
    if (seconds === null) throw new InvalidArgumentError('must be a duration like 90s, 15m, 12h or 7d');
    if (seconds < min || seconds > max) throw new InvalidArgumentError(`must be between ${min}s and ${max}s`);
    return seconds;
  };
}

function trustProxyValue(value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  return /^\d+$/.test(value) ? Number(value) : value;
}

export function withServerOptions(cmd: Command): Command {
  return withConnectionOptions(cmd)
    .option('--port <port>', 'port to listen on (0: any free port)', positiveInt, 3000)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--users <file>', 'YAML file of users, roles and password hashes (see config/users.example.yaml of the taskfleet package); relative to the current directory', DEFAULT_USERS_FILE)
    .option('--no-auth', 'serve without logins, everyone as admin: loopback only, for a laptop')
    .addOption(new Option('--access-ttl <duration>', 'lifetime of an access token (90s, 15m, 1h ...)').argParser(duration(1, 86_400)).default(15 * 60, '15m'))
    .addOption(new Option('--refresh-ttl <duration>', 'lifetime of a refresh token (each refresh issues a new one)').argParser(duration(60, 90 * 86_400)).default(7 * 86_400, '7d'))
    .option('--login-limit <n>', 'failed login attempts allowed per client address and username in --login-window', positiveInt, 10)
    .addOption(new Option('--login-window <duration>', 'the login rate limit window').argParser(duration(1, 86_400)).default(15 * 60, '15m'))
    .option('--trust-proxy <value>', 'behind a reverse proxy: Express "trust proxy" (true, a hop count, or addresses), so client addresses come from X-Forwarded-For');
}

export async function runServer(flags: ServerFlags, env: ServerEnv, out: { alias?: string } = {}): Promise<void> {
  const settings = settingsFrom(flags);
  const logger = createLogger(settings.logLevel, { role: 'server' });
  if (out.alias) process.stderr.write(`taskfleet: \`taskfleet ${out.alias}\` is now \`taskfleet server\` (same flags); starting the operations server\n`);
  // Loaded on use: Express and Bull Board are heavy, and other commands (the producer) stay lean.
  const { loadUsersFile } = await import('../server/auth/users-file.js');
  const { resolveAuthSettings } = await import('../server/auth/auth-settings.js');
  const { startOperationsServer, isLoopback } = await import('../server/operations-server.js');
  if (flags.loginLimit < 1) throw new ConfigError('--login-limit must be at least 1');
  if (!flags.auth && !isLoopback(flags.host)) {
    throw new ConfigError(`--no-auth serves everything to anyone who can connect, so it binds to loopback only: --host ${flags.host} is refused (use 127.0.0.1, or set up users and drop --no-auth)`);
  }
  if (!flags.auth) process.stderr.write(`taskfleet: WARNING: --no-auth: nothing asks for a login and every request acts as admin (local-admin); serving on ${flags.host} only\n`);
  // Read once the port is bound and the services answer (see startOperationsServer).
  const auth = flags.auth
    ? () => resolveAuthSettings({
      usersFile: loadUsersFile(flags.users), usersPath: flags.users, envSecret: env.TASKFLEET_JWT_SECRET,
      accessTtlSeconds: flags.accessTtl, refreshTtlSeconds: flags.refreshTtl,
      loginRateLimit: { limit: flags.loginLimit, windowMs: flags.loginWindow * 1000 },
    })
    : null;
  const server = await startOperationsServer({
    settings, logger, port: flags.port, host: flags.host, auth,
    metricsToken: env.TASKFLEET_METRICS_TOKEN || null, trustProxy: trustProxyValue(flags.trustProxy),
  });
  process.stdout.write(`taskfleet server: ${server.url} (Bull Board ${server.url}/board, progress API ${server.url}/api/runs, metrics ${server.url}/metrics${flags.auth ? `, log in at ${server.url}/login` : ''})\n`);
  logger.info({ url: server.url, auth: flags.auth }, 'The operations server is up');
  await new Promise<void>((resolve) => {
    const stop = () => { server.close().then(resolve, resolve); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  // With the queues' Redis gone, their clients would keep reconnecting, and the process with them.
  exitWhenDone();
}

export function registerServerCommand(program: Command, env: ServerEnv): void {
  withServerOptions(program.command('server'))
    .description('Serve the operations server: Bull Board, the progress API, /metrics and health probes, behind logins and roles (viewer, operator, admin), with an audit log')
    .action((flags: ServerFlags) => runServer(flags, env));
}
