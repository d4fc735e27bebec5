// `npm run bench`: migrates a generated dataset end to end with a real fleet (2 worker processes by
// default, per-chunk verification on) and prints, from the same run: fleet rows/s; a COPY of the very
// same rows into scratch tables (the baseline) and the ratio; producer peak RSS; Redis peak
// used_memory; worker CPU µs per entity; per entity, the WAL Postgres wrote and the commands, bytes
// and CPU Redis spent (the inputs of README's "Throughput at scale"); then `taskfleet verify` of the run (seconds, legacy records/s,
// peak RSS) next to the migration's figures. Several sizes (--tasks 1000000,3000000) show whether memory
// stays flat as the input grows.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { PACKAGE_ROOT } from '../src/config/package-root.js';
import { generateLegacyData } from '../src/generator/generate.js';
import { naiveLoader, parallelNaiveLoader } from './naive-loader.js';
import { createScratchDatabase } from './scratch-database.js';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000000' },
    'tasks-per-project': { type: 'string', default: '1000' },
    'phases-per-project': { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '4' },
    'chunk-size': { type: 'string' },
    format: { type: 'string', default: 'jsonl' },
    dependencies: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'data-dir': { type: 'string', default: join(PACKAGE_ROOT, '.bench-data') },
    'pg-url': { type: 'string', default: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`npm run bench -- [--tasks 1000000[,3000000]] [--workers 2] [--concurrency 4] [--chunk-size N]
  [--format jsonl|json|csv] [--dependencies] [--data-dir DIR] [--pg-url URL] [--redis-url URL] [--cpu-prof DIR]
--cpu-prof DIR writes a V8 CPU profile of each worker process into DIR (open it in Chrome DevTools).
Generated data is cached in --data-dir (default .bench-data/). Each size gets a fresh database, dropped after.\n`);
  process.exit(0);
}

const BIN = join(PACKAGE_ROOT, 'bin', 'taskfleet.js');
const ENTITY_TABLES = ['projects', 'phases', 'tasks', 'task_dependencies'];

interface Figures {
  tasks: number;
  rows: number;
  fleetSeconds: number;
  fleetRowsPerSecond: number;
  copySeconds: number;
  copyRowsPerSecond: number;
  ratio: number;
  naiveRowsPerSecond: number | null;
  naiveRatio: number | null;
  /** The naive loader in --workers processes at once (an Nth of the lines each): the ceiling of any loader that parses in Node here. */
  naiveParallelRowsPerSecond: number | null;
  naiveParallelCopyRatio: number | null;
  producerPeakRssMb: number;
  redisPeakUsedMemoryMb: number;
  redisBaselineUsedMemoryMb: number;
  workerCpuMicrosPerEntity: number;
  /** The producer's CPU (planning: reading and hashing every file; enqueueing; following), µs per entity. */
  producerCpuMicrosPerEntity: number;
  postgresAndRedisCpuMicrosPerEntity: number;
  /** Redis's own CPU (INFO cpu), µs per entity: the rest of the above is Postgres and the OS. */
  redisCpuMicrosPerEntity: number;
  /** WAL Postgres wrote during the run (pg_current_wal_lsn before and after), bytes per entity. */
  walBytesPerEntity: number;
  /** Commands Redis processed during the run (INFO stats, less the bench's own sampling), per entity. */
  redisCommandsPerEntity: number;
  /** Bytes in and out of Redis during the run, per entity. */
  redisNetBytesPerEntity: number;
  chunkSize: number;
  chunks: number;
  verify: VerifyFigures;
}

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

async function dataset(tasks: number): Promise<string> {
  const perProject = Number(args['tasks-per-project']);
  const projects = Math.max(1, Math.round(tasks / perProject));
  const dir = join(args['data-dir'], `tasks-${tasks}-${args.format}${args.dependencies ? '-deps' : ''}`);
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return dir;
  mkdirSync(dir, { recursive: true });
  log(`generating ${tasks} tasks (${projects} projects × ${args['phases-per-project']} phases) into ${dir}`);
  const started = performance.now();
  await generateLegacyData({
    out: dir, projects, phasesPerProject: Number(args['phases-per-project']), tasks, format: args.format as 'jsonl',
    seed: 42, badRatio: 0, dependencies: args.dependencies,
  });
  writeFileSync(marker, new Date().toISOString());
  log(`generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return dir;
}

function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
  } catch {
    return 0;
  }
}

function systemBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  return (user + nice + system + irq + softirq + steal) / 100;
}

function rssMbOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return hwm ? Number(hwm[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${seen.slice(-500)}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) { clearTimeout(timer); resolve(); }
    });
  });
}

interface VerifyFigures {
  seconds: number;
  recordsPerSecond: number;
  peakRssMb: number;
  passed: boolean;
}

/**
 * `taskfleet verify RUN` as an operator runs it, after the migration: wall time, legacy records read
 * and compared per second, and its peak RSS (VmHWM, sampled until it exits).
 */
async function timeVerify(env: NodeJS.ProcessEnv, runId: string): Promise<VerifyFigures> {
  const reportPath = join(args['data-dir'], `verify-${randomBytes(4).toString('hex')}.json`);
  log(`verifying run ${runId}`);
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, 'verify', runId, '--verification-report', reportPath, '--json'], { env: { ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
  let peak = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, rssMbOf(child.pid!)); }, 50);
  const code = await runToEnd(child);
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0 && code !== 1) throw new Error(`verify exited ${code}`);
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { passed: boolean; legacyRecords: number };
  await import('node:fs/promises').then((fs) => fs.rm(reportPath, { force: true }));
  return { seconds, recordsPerSecond: report.legacyRecords / seconds, peakRssMb: peak, passed: report.passed };
}

async function copyBaseline(url: string): Promise<{ rows: number; seconds: number }> {
  // The same rows the fleet wrote, exported once, then COPYed (one stream, table after table) into
  // scratch tables shaped exactly like the targets (same columns, constraints and indexes).
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const tmp = join(args['data-dir'], `copy-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp, { recursive: true });
  let rows = 0;
  try {
    await client.query('DROP SCHEMA IF EXISTS scratch CASCADE; CREATE SCHEMA scratch');
    for (const table of ENTITY_TABLES) {
      await client.query(`CREATE TABLE scratch.${table} (LIKE tms.${table} INCLUDING ALL)`);
      await pipeline(client.query(copyTo(`COPY tms.${table} TO STDOUT`)), createWriteStream(join(tmp, table)));
      rows += Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM tms.${table}`)).rows[0]!.n);
    }
    await client.query('CHECKPOINT');
    const started = performance.now();
    for (const table of ENTITY_TABLES) {
      await pipeline(createReadStream(join(tmp, table), { highWaterMark: 1024 * 1024 }), client.query(copyFrom(`COPY scratch.${table} FROM STDIN`)));
    }
    const seconds = (performance.now() - started) / 1000;
    await client.query('DROP SCHEMA scratch CASCADE');
    return { rows, seconds };
  } finally {
    await client.end();
    await import('node:fs/promises').then((fs) => fs.rm(tmp, { recursive: true, force: true }));
  }
}

async function runSize(tasks: number): Promise<Figures> {
  const dir = await dataset(tasks);
  const scratch = await createScratchDatabase(args['pg-url'], 'bench');
  const url = scratch.url;
  const prefix = `{bench_${randomBytes(3).toString('hex')}}`;
  const redis = new Redis(args['redis-url']);
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
  const env = { ...process.env, DATABASE_URL: url, REDIS_URL: args['redis-url'], TASKFLEET_PREFIX: prefix, LOG_LEVEL: 'info', ...(args['chunk-size'] ? { TASKFLEET_CHUNK_SIZE: args['chunk-size'] } : {}) };
  const workers: ChildProcess[] = [];
  try {
    await runToEnd(spawn(process.execPath, [BIN, 'db', 'migrate'], { env, stdio: 'ignore' }));
    // Workers are a standing fleet: started (and warmed) before the run is timed.
    for (let i = 0; i < Number(args.workers); i++) {
      // As `npx taskfleet worker` runs them (bin/taskfleet.js's shebang flags).
      const profile = args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof']] : [];
      const w = spawn(process.execPath, ['--max-semi-space-size=64', ...profile, BIN, 'worker', '--concurrency', args.concurrency], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      workers.push(w);
      await waitForLine(w, /Worker started/, 30_000);
    }
    const workerCpuBefore = workers.reduce((s, w) => s + cpuSecondsOf(w.pid!), 0);
    const busyBefore = systemBusySeconds();
    const walBefore = await currentWalLsn(url);
    const redisBefore = await redisCounters(redis);
    let samples = 0;
    const redisBaseline = await usedMemory();
    let redisPeak = redisBaseline;
    let producerPeak = 0;
    log(`migrating ${tasks} tasks with ${workers.length} workers × ${args.concurrency}`);
    const producer = spawn(process.execPath, [BIN, 'migrate', '--skip-prepare', '--legacy-data', dir, '--json', '--no-progress'], { env: { ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let producerOut = '';
    producer.stdout?.on('data', (d: Buffer) => { producerOut += d.toString(); });
    let producerCpu = 0;
    const sampler = setInterval(() => {
      producerPeak = Math.max(producerPeak, rssMbOf(producer.pid!));
      producerCpu = Math.max(producerCpu, cpuSecondsOf(producer.pid!));
      samples++;
      usedMemory().then((m) => { redisPeak = Math.max(redisPeak, m); }, () => undefined);
    }, 50);
    const code = await runToEnd(producer);
    clearInterval(sampler);
    if (code !== 0) throw new Error(`migrate exited ${code}: ${producerOut.slice(-1000)}`);
    const workerCpu = workers.reduce((s, w) => s + cpuSecondsOf(w.pid!), 0) - workerCpuBefore;
    const busy = systemBusySeconds() - busyBefore;
    const redisAfter = await redisCounters(redis);
    const walBytes = await walBytesSince(url, walBefore);

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const run = (await db.query<{ seconds: number }>(`SELECT extract(epoch FROM finished_at - created_at)::float8 AS seconds FROM ledger.runs`)).rows[0]!;
    const migrated = Number((await db.query<{ n: string }>(`SELECT sum(migrated) AS n FROM ledger.chunks`)).rows[0]!.n);
    const chunkInfo = (await db.query<{ chunks: number; size: number }>(`SELECT count(*)::int AS chunks, max(records)::int AS size FROM ledger.chunks WHERE stage = 'tasks'`)).rows[0]!;
    await db.end();
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map(runToEnd));
    workers.length = 0;

    const runId = (JSON.parse(producerOut.trim().split('\n').filter((l) => l.includes('"summary"')).at(-1) ?? '{}') as { runId?: string }).runId;
    if (!runId) throw new Error(`migrate printed no summary: ${producerOut.slice(-1000)}`);
    const verify = await timeVerify(env, runId);

    log('COPY baseline');
    const copy = await copyBaseline(url);
    if (copy.rows !== migrated) throw new Error(`COPY baseline saw ${copy.rows} rows, the fleet migrated ${migrated}`);
    const simple = args.format === 'jsonl' && !args.dependencies;
    log('naive loader: one stream, then one process per core');
    const naive = simple ? await naiveLoader(url, dir) : null;
    const naiveParallel = simple ? await parallelNaiveLoader(url, dir, Number(args.workers)) : null;
    if (naive && naiveParallel && naiveParallel.rows !== naive.rows) throw new Error(`the naive loader's shares loaded ${naiveParallel.rows} rows, one stream ${naive.rows}`);
    const otherCpu = Math.max(0, busy - workerCpu - producerCpu);
    return {
      tasks,
      rows: migrated,
      fleetSeconds: run.seconds,
      fleetRowsPerSecond: migrated / run.seconds,
      copySeconds: copy.seconds,
      copyRowsPerSecond: copy.rows / copy.seconds,
      ratio: (migrated / run.seconds) / (copy.rows / copy.seconds),
      naiveRowsPerSecond: naive ? naive.rows / naive.seconds : null,
      naiveRatio: naive ? (migrated / run.seconds) / (naive.rows / naive.seconds) : null,
      naiveParallelRowsPerSecond: naiveParallel ? naiveParallel.rows / naiveParallel.seconds : null,
      naiveParallelCopyRatio: naiveParallel ? (naiveParallel.rows / naiveParallel.seconds) / (copy.rows / copy.seconds) : null,
      producerPeakRssMb: producerPeak,
      redisPeakUsedMemoryMb: redisPeak / 1024 / 1024,
      redisBaselineUsedMemoryMb: redisBaseline / 1024 / 1024,
      workerCpuMicrosPerEntity: (workerCpu * 1e6) / migrated,
      producerCpuMicrosPerEntity: (producerCpu * 1e6) / migrated,
      postgresAndRedisCpuMicrosPerEntity: (otherCpu * 1e6) / migrated,
      redisCpuMicrosPerEntity: ((redisAfter.cpuSeconds - redisBefore.cpuSeconds) * 1e6) / migrated,
      walBytesPerEntity: walBytes / migrated,
      // Each sample is one INFO; the two counter reads are two more.
      redisCommandsPerEntity: (redisAfter.commands - redisBefore.commands - samples - 1) / migrated,
      redisNetBytesPerEntity: (redisAfter.netBytes - redisBefore.netBytes) / migrated,
      chunkSize: chunkInfo.size,
      chunks: chunkInfo.chunks,
      verify,
    };
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    // The run's queue keys (a bounded tail of finished jobs) go with its database.
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    await scratch.drop();
  }
}

async function currentWalLsn(url: string): Promise<string> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    return (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
  } finally {
    await db.end();
  }
}

async function walBytesSince(url: string, lsn: string): Promise<number> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    return Number((await db.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) AS bytes', [lsn])).rows[0]!.bytes);
  } finally {
    await db.end();
  }
}

async function redisCounters(redis: Redis): Promise<{ commands: number; netBytes: number; cpuSeconds: number }> {
  const info = await redis.info();
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return {
    commands: field('total_commands_processed'),
    netBytes: field('total_net_input_bytes') + field('total_net_output_bytes'),
    cpuSeconds: field('used_cpu_sys') + field('used_cpu_user'),
  };
}

function runToEnd(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
}

function report(all: Figures[]): void {
  const row = (label: string, f: (x: Figures) => string) => `${label.padEnd(44)}${all.map((x) => f(x).padStart(14)).join('')}`;
  const lines = [
    '',
    row('tasks', (x) => String(x.tasks)),
    row('rows migrated (projects+phases+tasks+edges)', (x) => String(x.rows)),
    row('chunk size / task chunks', (x) => `${x.chunkSize}/${x.chunks}`),
    row('fleet: seconds (plan + all stages)', (x) => x.fleetSeconds.toFixed(1)),
    row('fleet: rows/s', (x) => x.fleetRowsPerSecond.toFixed(0)),
    row('baseline COPY of the same rows: rows/s', (x) => x.copyRowsPerSecond.toFixed(0)),
    row('ratio fleet / COPY (target >= 0.6)', (x) => x.ratio.toFixed(2)),
    row('naive 1-stream loader (parse+map+COPY): rows/s', (x) => x.naiveRowsPerSecond?.toFixed(0) ?? '-'),
    row('ratio fleet / naive loader', (x) => x.naiveRatio?.toFixed(2) ?? '-'),
    row('naive loader, one process per worker: rows/s', (x) => x.naiveParallelRowsPerSecond?.toFixed(0) ?? '-'),
    row('  its ratio to COPY (the fleet\'s ceiling here)', (x) => x.naiveParallelCopyRatio?.toFixed(2) ?? '-'),
    row('producer peak RSS, MB (target <= 150)', (x) => x.producerPeakRssMb.toFixed(1)),
    row('Redis peak used_memory, MB (target <= 256)', (x) => x.redisPeakUsedMemoryMb.toFixed(1)),
    row('Redis used_memory before the run, MB', (x) => x.redisBaselineUsedMemoryMb.toFixed(1)),
    row('worker CPU, µs per entity', (x) => x.workerCpuMicrosPerEntity.toFixed(1)),
    row('producer CPU, µs per entity', (x) => x.producerCpuMicrosPerEntity.toFixed(1)),
    row('Postgres+Redis+OS CPU, µs per entity', (x) => x.postgresAndRedisCpuMicrosPerEntity.toFixed(1)),
    row('  of which Redis, µs per entity', (x) => x.redisCpuMicrosPerEntity.toFixed(2)),
    row('Postgres WAL written, bytes per entity', (x) => x.walBytesPerEntity.toFixed(0)),
    row('Redis commands per entity', (x) => x.redisCommandsPerEntity.toFixed(4)),
    row('Redis network in+out, bytes per entity', (x) => x.redisNetBytesPerEntity.toFixed(1)),
    row('verify: seconds (read + compare + queries)', (x) => x.verify.seconds.toFixed(1)),
    row('verify: legacy records/s', (x) => x.verify.recordsPerSecond.toFixed(0)),
    row('verify: peak RSS, MB', (x) => x.verify.peakRssMb.toFixed(1)),
    row('verify: report passed', (x) => (x.verify.passed ? 'yes' : 'NO')),
  ];
  if (all.length > 1) {
    const [a, b] = [all[0]!, all[all.length - 1]!];
    const change = (x: number, y: number) => `${(((y - x) / x) * 100).toFixed(1)}%`;
    lines.push('', `growth ${a.tasks} -> ${b.tasks} tasks: producer peak RSS ${change(a.producerPeakRssMb, b.producerPeakRssMb)}, Redis peak ${change(a.redisPeakUsedMemoryMb, b.redisPeakUsedMemoryMb)}, verify peak RSS ${change(a.verify.peakRssMb, b.verify.peakRssMb)} (target: within 10%)`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  const outDir = join(PACKAGE_ROOT, 'bench-results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `migration-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), `${JSON.stringify(all, null, 2)}\n`);
}

const sizes = args.tasks.split(',').map(Number);
const results: Figures[] = [];
for (const size of sizes) results.push(await runSize(size));
report(results);
