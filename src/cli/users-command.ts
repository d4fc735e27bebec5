// `taskfleet users hash-password`: turns a password read from stdin into the scrypt hash the users file
// wants (passwordHash). Reading stdin keeps the password out of the shell history and `ps`.
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { hashPassword } from '../server/auth/passwords.js';

const MAX_PASSWORD_BYTES = 1024;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_PASSWORD_BYTES + 2) throw new ConfigError(`The password on stdin is longer than ${MAX_PASSWORD_BYTES} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function registerUsersCommand(program: Command): void {
  const users = program.command('users').description('Users of the operations server (the --users file)');
  users.command('hash-password')
    .description('Read a password from stdin (one line) and print its scrypt hash for passwordHash in the users file')
    .action(async () => {
      if (process.stdin.isTTY) process.stderr.write('Type the password and press Enter, then Ctrl-D (it is echoed; prefer: read -rs PW; printf %s "$PW" | taskfleet users hash-password)\n');
      // One trailing newline is the line's end, not part of the password.
      const password = (await readStdin()).replace(/\r?\n$/, '');
      if (password === '') throw new ConfigError('No password on stdin: pipe one in, e.g. printf %s "$PW" | taskfleet users hash-password');
      if (password.includes('\n')) throw new ConfigError('The password on stdin spans several lines: give one line');
      process.stdout.write(`${await hashPassword(password)}\n`);
    });
}
