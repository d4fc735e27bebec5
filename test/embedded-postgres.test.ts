// The embedded default database: a real Postgres from npm, initialised once in a data dir, reused on the
// next start, stopped without leaving a process behind. Runs as root here (Postgres then runs as the
// `postgres` OS user) and as an ordinary user elsewhere; the code path follows whoever runs the test.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/embedded/postgres.js';
import type { EmbeddedPostgres } from '../src/embedded/postgres.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'taskfleet-embedded-pg-'));
  // mkdtemp makes the dir 0700; as root, Postgres runs as another OS user who must be able to enter it.
  await chmod(root, 0o755);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Processes whose command line mentions the data dir (the postmaster and its children). */
async function processesUsing(dataDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(dataDir)) pids.push(Number(entry));
  }
  return pids;
}

describe('startEmbeddedPostgres', () => {
  it('initialises a data dir once, keeps its data across restarts and leaves no process behind', async () => {
    const dataDir = path.join(root, 'state', 'pgdata'); // the parent does not exist yet
    const log: string[] = [];
    const onLog = (line: string): void => {
      log.push(line);
    };

    let started = performance.now();
    const first: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir, onLog });
    const firstStartMs = performance.now() - started;
    try {
      expect(first.url).toMatch(/^postgres:\/\/postgres:[0-9a-f]+@127\.0\.0\.1:\d+\/taskfleet$/);
      expect(await query<{ one: number }>(first.url, 'select 1 as one')).toEqual([{ one: 1 }]);
      await query(first.url, 'create table kept (id int primary key, note text)');
      await query(first.url, "insert into kept values (1, 'survives a restart')");
      expect(await processesUsing(dataDir)).not.toEqual([]);
    } finally {
      await first.stop();
    }
    await first.stop(); // a second stop is harmless
    expect(await processesUsing(dataDir)).toEqual([]);
    expect(log.some((line) => line.startsWith('Initialising a new Postgres data directory'))).toBe(true);
    const initialisedAt = (await stat(path.join(dataDir, 'PG_VERSION'))).mtimeMs;

    log.length = 0;
    started = performance.now();
    const second = await startEmbeddedPostgres({ dataDir, onLog });
    const secondStartMs = performance.now() - started;
    try {
      expect(await query<{ note: string }>(second.url, 'select note from kept where id = 1')).toEqual([{ note: 'survives a restart' }]);
      expect(log.some((line) => line.startsWith('Initialising'))).toBe(false);
      expect((await stat(path.join(dataDir, 'PG_VERSION'))).mtimeMs).toBe(initialisedAt);

      // The data dir is in use: a second start on it fails with a message naming the running server.
      await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(/already running on .*pgdata/);
    } finally {
      await second.stop();
    }
    expect(await processesUsing(dataDir)).toEqual([]);
    console.info(`embedded Postgres: first start (initdb) ${firstStartMs.toFixed(0)} ms, restart ${secondStartMs.toFixed(0)} ms`);
  });

  it('starts on the port it is given and refuses a data dir that holds something else', async () => {
    const busy = path.join(root, 'not-pgdata');
    await mkdir(busy);
    await writeFile(path.join(busy, 'notes.txt'), 'mine');
    await expect(startEmbeddedPostgres({ dataDir: busy })).rejects.toThrow(/neither empty nor a Postgres data directory/);

    const dataDir = path.join(root, 'fixed-port');
    const probe = await startEmbeddedPostgres({ dataDir });
    const port = probe.port;
    await probe.stop();
    const server = await startEmbeddedPostgres({ dataDir, port });
    try {
      expect(server.port).toBe(port);
      expect(server.url).toContain(`@127.0.0.1:${port}/taskfleet`);
      expect(await query<{ db: string }>(server.url, 'select current_database() as db')).toEqual([{ db: 'taskfleet' }]);
    } finally {
      await server.stop();
    }
    expect(await processesUsing(dataDir)).toEqual([]);
  });
});

describe('a killed owner', () => {
  it('takes its embedded Postgres down with it', async () => {
    // The owner must be a separate Node process, which cannot load TypeScript: transpile src/embedded into
    // node_modules/.cache (inside the project, so its imports of pg resolve).
    const projectDir = fileURLToPath(new URL('..', import.meta.url));
    const cacheDir = path.join(projectDir, 'node_modules', '.cache');
    await mkdir(cacheDir, { recursive: true });
    const outDir = await mkdtemp(path.join(cacheDir, 'embedded-pg-test-'));
    const srcDir = path.join(projectDir, 'src', 'embedded');
    try {
      await writeFile(path.join(outDir, 'package.json'), '{"type":"module"}');
      for (const file of await readdir(srcDir)) {
        const source = await readFile(path.join(srcDir, file), 'utf8');
        const { outputText } = ts.transpileModule(source, {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        });
        await writeFile(path.join(outDir, file.replace(/\.ts$/, '.js')), outputText);
      }
      const dataDir = path.join(root, 'owned');
      const owner = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const { startEmbeddedPostgres } = await import(${JSON.stringify(path.join(outDir, 'postgres.js'))});
           const db = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)} });
           console.log('ready ' + db.port);
           setInterval(() => {}, 1000);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = new Promise((resolve) => owner.once('exit', resolve));
      await new Promise<void>((resolve, reject) => {
        owner.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready')) resolve();
        });
        owner.once('exit', (code) => reject(new Error(`the owner exited early (code ${code})`)));
      });
      expect(await processesUsing(dataDir)).not.toEqual([]);

      owner.kill('SIGKILL'); // no handler runs: only the parent-death signal can stop Postgres now
      await exited;
      for (let i = 0; i < 100 && (await processesUsing(dataDir)).length > 0; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await processesUsing(dataDir)).toEqual([]);
      // …and the data dir starts again cleanly.
      const again = await startEmbeddedPostgres({ dataDir });
      await again.stop();
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  });
});
