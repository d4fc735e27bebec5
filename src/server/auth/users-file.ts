// The users file (`--users`, default config/users.yaml): who may log in, with which role, and
// optionally the JWT signing secret. Read and validated once at start-up; errors name the file and entry.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../../config/errors.js';
import type { Role } from '../server-deps.js';
import { parsePasswordHash, type ScryptHash } from './passwords.js';
import { describeYamlError } from '../../config/yaml-error.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const satisfies readonly Role[];

export const USERNAME_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;

const usersFileSchema = z.object({
  jwtSecret: z.string().optional(),
  users: z.array(z.object({
    username: z.string().regex(USERNAME_PATTERN, 'must be 1-64 letters, digits or . _ @ -'),
    role: z.enum(ROLES),
    passwordHash: z.string(),
  }).strict()).min(1, 'must list at least one user'),
}).strict();

export interface UserRecord {
  username: string;
  role: Role;
  passwordHash: ScryptHash;
}

export interface UsersFile {
  users: ReadonlyMap<string, UserRecord>;
  jwtSecret: string | null;
}

export function parseUsersFile(text: string, source: string): UsersFile {
  let raw: unknown;
  try {
    raw = parseYaml(text, { logLevel: 'error' }); // no warnings on stderr: they quote the line (a secret)
  } catch (err) {
    throw new ConfigError(describeYamlError(source, err), { cause: err });
  }
  const parsed = usersFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${source}: ${issue.path.join('.') || '(top level)'} ${issue.message}`);
  }
  const users = new Map<string, UserRecord>();
  parsed.data.users.forEach((u, i) => {
    if (users.has(u.username)) throw new ConfigError(`${source}: users.${i}.username "${u.username}" is listed twice`);
    let passwordHash: ScryptHash;
    try {
      passwordHash = parsePasswordHash(u.passwordHash);
    } catch (err) {
      throw new ConfigError(`${source}: users.${i}.passwordHash (user ${u.username}) ${(err as Error).message}`);
    }
    users.set(u.username, { username: u.username, role: u.role, passwordHash });
  });
  return { users, jwtSecret: parsed.data.jwtSecret ?? null };
}

export function loadUsersFile(path: string): UsersFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read the users file ${path}: ${(err as Error).message} (copy config/users.example.yaml, or pass --users FILE; --no-auth serves loopback only, without logins)`, { cause: err });
  }
  return parseUsersFile(text, path);
}
