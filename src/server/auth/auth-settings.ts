// What authentication runs on, resolved once at start-up from the users file, the environment (handed
// in by the CLI) and the flags: the users, the signing secret, token lifetimes and the login rate limit.
import { ConfigError } from '../../config/errors.js';
import type { UserRecord, UsersFile } from './users-file.js';

/** HS256 wants a key at least as long as its output: 32 bytes. */
export const MIN_SECRET_BYTES = 32;

export interface AuthSettings {
  users: ReadonlyMap<string, UserRecord>;
  /** The HS256 key of the access tokens. */
  jwtSecret: Uint8Array;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  /** Login attempts allowed per IP and username in a window. */
  loginRateLimit: { limit: number; windowMs: number };
}

export function resolveAuthSettings(input: {
  usersFile: UsersFile;
  usersPath: string;
  /** TASKFLEET_JWT_SECRET: wins over the users file's jwtSecret. */
  envSecret: string | undefined;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  loginRateLimit: { limit: number; windowMs: number };
}): AuthSettings {
  const secret = input.envSecret !== undefined && input.envSecret !== '' ? input.envSecret : input.usersFile.jwtSecret;
  const from = input.envSecret ? 'TASKFLEET_JWT_SECRET' : `jwtSecret in ${input.usersPath}`;
  if (secret === null) {
    throw new ConfigError(`No JWT secret: set TASKFLEET_JWT_SECRET (or jwtSecret in ${input.usersPath}) to at least ${MIN_SECRET_BYTES} random bytes, e.g. \`openssl rand -base64 48\``);
  }
  const bytes = new TextEncoder().encode(secret);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new ConfigError(`${from} is ${bytes.length} bytes; it must be at least ${MIN_SECRET_BYTES} (e.g. \`openssl rand -base64 48\`)`);
  }
  if (input.accessTtlSeconds > input.refreshTtlSeconds) {
    throw new ConfigError(`--access-ttl (${input.accessTtlSeconds}s) must not be longer than --refresh-ttl (${input.refreshTtlSeconds}s)`);
  }
  return {
    users: input.usersFile.users,
    jwtSecret: bytes,
    accessTtlSeconds: input.accessTtlSeconds,
    refreshTtlSeconds: input.refreshTtlSeconds,
    loginRateLimit: input.loginRateLimit,
  };
}
