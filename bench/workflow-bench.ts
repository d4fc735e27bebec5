// `npm run bench` (after the migration bench, which this file starts first): task workflows through a
// real fleet with the local runner. For each concurrency level C (default 1, 8, 32): a fresh database and
// queue prefix, one `taskfleet worker --workflow-concurrency C` process with a dagger.yaml whose
// `concurrency` is C, and `taskfleet migrate --no-cache` of N generated tasks whose every workflow runs on
// migrate (bench/fixtures/workflow-templates: one cheap `sh -c` step). Prints, from the same run:
// workflow runs/s (succeeded runs over the workflows stage's span in tms.workflow_runs), the migrate wall
// time, the process-spawn floor (the very same step command, env and task file spawned directly from Node
// N times, C at a time) and the fleet/floor ratio; then, after one level, the same migration again under a
// new run id with the cache on: every workflow a cache hit, its cost per hit next to an executed run's.
//
// Arguments: this file owns --only, --workflow-*, --help, and reads --pg-url / --redis-url too; every
// other argument is passed on to bench/migration-bench.ts, so `npm run bench -- --tasks 200000` still
// sizes the migration bench.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { PACKAGE_ROOT } from '../src/config/package-root.js';
import { generateLegacyData } from '../src/generator/generate.js';
import { loadWorkflow } from '../src/store/workflow-definitions.js';
import type { WorkflowDefinition } from '../src/workflows/types.js';
import { createScratchDatabase } from './scratch-database.js';

// ---- arguments: ours, and the migration bench's --------------------------------------------------

/** Flags of this bench taking a value; `shared` ones are also passed on to the migration bench. */
const OWN_VALUE_FLAGS = new Set(['--only', '--workflow-tasks', '--workflow-concurrency-levels', '--workflow-cache-level', '--workflow-data-dir']);
const OWN_BOOLEAN_FLAGS = new Set(['--help', '-h']);
const SHARED_VALUE_FLAGS = new Set(['--pg-url', '--redis-url']);

function splitArgs(argv: readonly string[]): { own: string[]; forwarded: string[]; migrationOnly: string[] } {
  const own: string[] = [];
  const forwarded: string[] = [];
  const migrationOnly: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const name = token.split('=')[0]!;
    const hasValue = token.includes('=');
    if (OWN_BOOLEAN_FLAGS.has(name)) {
      own.push(token);
    } else if (OWN_VALUE_FLAGS.has(name) || SHARED_VALUE_FLAGS.has(name)) {
      const pair = hasValue ? [token] : [token, ...(i + 1 < argv.length ? [argv[++i]!] : [])];
      own.push(...pair);
      if (SHARED_VALUE_FLAGS.has(name)) forwarded.push(...pair);
    } else {
      forwarded.push(token);
      migrationOnly.push(token);
    }
  }
  return { own, forwarded, migrationOnly };
}

const { own, forwarded, migrationOnly } = splitArgs(process.argv.slice(2));
const { values: args } = parseArgs({
  args: own,
  options: {
    only: { type: 'string', default: process.env.BENCH_ONLY ?? 'all' },
    'workflow-tasks': { type: 'string', default: process.env.BENCH_WORKFLOW_TASKS ?? '2000' },
    'workflow-concurrency-levels': { type: 'string', default: process.env.BENCH_WORKFLOW_CONCURRENCY_LEVELS ?? '1,8,32' },
    'workflow-cache-level': { type: 'string', default: process.env.BENCH_WORKFLOW_CACHE_LEVEL },
    'workflow-data-dir': { type: 'string', default: join(PACKAGE_ROOT, '.bench-data') },
    'pg-url': { type: 'string', default: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const MIGRATION_BENCH = join(dirname(fileURLToPath(import.meta.url)), 'migration-bench.js');

function runToEnd(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
}

if (args.help) {
  process.stdout.write(`npm run bench -- [--only all|migration|workflows] [workflow bench flags] [migration bench flags]

Workflow bench (bench/workflow-bench.ts; runs after the migration bench unless --only says otherwise):
  --workflow-tasks N                   tasks, each with one on-migrate workflow (default 2000; $BENCH_WORKFLOW_TASKS)
  --workflow-concurrency-levels LIST   one worker process per level, --workflow-concurrency C and dagger.yaml
                                       concurrency C (default 1,8,32; $BENCH_WORKFLOW_CONCURRENCY_LEVELS)
  --workflow-cache-level C             after this level, the cache-hit run (default 8 when listed, else the
                                       last level; $BENCH_WORKFLOW_CACHE_LEVEL)
  --workflow-data-dir DIR              generated data is cached here (default .bench-data/)
  --only all|migration|workflows       which benches to run (default all; $BENCH_ONLY)
  --pg-url URL, --redis-url URL        used by both benches ($BENCH_PG_URL, $BENCH_REDIS_URL)
Each level gets a fresh database (dropped after) and queue prefix. Every other argument goes to the
migration bench:

`);
  if (existsSync(MIGRATION_BENCH)) await runToEnd(spawn(process.execPath, [MIGRATION_BENCH, '--help'], { stdio: 'inherit' }));
  process.exit(0);
}

if (!['all', 'migration', 'workflows'].includes(args.only)) {
  process.stderr.write(`--only must be all, migration or workflows, not "${args.only}"\n`);
  process.exit(2);
}
if (args.only === 'workflows' && migrationOnly.length > 0) {
  process.stderr.write(`[workflow-bench] --only workflows: ignoring the migration bench's arguments ${migrationOnly.join(' ')}\n`);
}
// Checked before the (long) migration bench runs.
function positiveInts(text: string, flag: string): number[] {
  const list = text.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${flag} must be whole numbers >= 1, got "${text}"`);
  return list;
}

const TASKS = positiveInts(args['workflow-tasks'], '--workflow-tasks')[0]!;
const LEVELS = positiveInts(args['workflow-concurrency-levels'], '--workflow-concurrency-levels');
const CACHE_LEVEL = args['workflow-cache-level'] !== undefined
  ? positiveInts(args['workflow-cache-level'], '--workflow-cache-level')[0]!
  : LEVELS.includes(8) ? 8 : LEVELS[LEVELS.length - 1]!;
if (!LEVELS.includes(CACHE_LEVEL)) throw new Error(`--workflow-cache-level ${CACHE_LEVEL} is not one of the levels ${LEVELS.join(',')}`);

if (args.only !== 'workflows') {
  const code = await runToEnd(spawn(process.execPath, [MIGRATION_BENCH, ...forwarded], { stdio: 'inherit' }));
  if (code !== 0) {
    process.stderr.write(`[workflow-bench] the migration bench exited ${code}: the workflow bench does not run\n`);
    process.exit(code ?? 1);
  }
  if (args.only === 'migration') process.exit(0);
}

// ---- the workflow bench ------------------------------------------------------------------------------

const BIN = join(PACKAGE_ROOT, 'bin', 'taskfleet.js');
const TEMPLATES_DIR = join(PACKAGE_ROOT, 'bench', 'fixtures', 'workflow-templates');
const BASE_DAGGER_CONFIG = join(PACKAGE_ROOT, 'bench', 'fixtures', 'workflow-dagger.yaml');
/** The local runner's PATH for steps (src/workflows/local-runner.ts). */
const STEP_PATH = `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

function log(message: string): void {
  process.stderr.write(`[workflow-bench] ${message}\n`);
}

async function dataset(tasks: number): Promise<string> {
  const dir = join(args['workflow-data-dir'], `workflow-tasks-${tasks}-jsonl`);
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return dir;
  mkdirSync(dir, { recursive: true });
  const projects = Math.max(1, Math.round(tasks / 100));
  log(`generating ${tasks} tasks (${projects} projects × 3 phases) into ${dir}`);
  await generateLegacyData({ out: dir, format: 'jsonl', projects, phasesPerProject: 3, tasks, seed: 42, badRatio: 0, dependencies: false });
  writeFileSync(marker, new Date().toISOString());
  return dir;
}

/** Resolves once `pattern` shows on the child's stderr; keeps draining it (last 4 KB kept) so it never blocks. */
function watchStderr(child: ChildProcess): { tail: () => string; waitFor: (pattern: RegExp, timeoutMs: number) => Promise<void> } {
  let seen = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stderr?.on('data', (d: Buffer) => {
    seen = (seen + d.toString()).slice(-4096);
    for (const w of [...waiters]) if (w.pattern.test(seen)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  return {
    tail: () => seen,
    waitFor: (pattern, timeoutMs) => new Promise((resolve, reject) => {
      if (pattern.test(seen)) return resolve();
      const timer = setTimeout(() => reject(new Error(`worker did not start: ${seen.slice(-500)}`)), timeoutMs);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`worker exited ${code} before starting: ${seen.slice(-500)}`)); });
      waiters.push({ pattern, resolve: () => { clearTimeout(timer); resolve(); } });
    }),
  };
}

interface MigrateOutcome {
  wallSeconds: number;
  summary: { runId: string; status: string; workflows: { onMigrate: number; succeeded: number; failed: number; cached: number; abandoned: number } | null };
}

async function migrate(env: NodeJS.ProcessEnv, dir: string, daggerConfig: string, runId: string, noCache: boolean): Promise<MigrateOutcome> {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, 'migrate', '--skip-prepare', '--legacy-data', dir, '--templates-dir', TEMPLATES_DIR, '--dagger-config', daggerConfig,
    '--run-id', runId, ...(noCache ? ['--no-cache'] : []), '--json', '--no-progress'], { env: { ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  const code = await runToEnd(child);
  const wallSeconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`migrate ${runId} exited ${code}: ${out.slice(-1000)}`);
  const line = out.trim().split('\n').filter((l) => l.includes('"summary"')).at(-1);
  if (!line) throw new Error(`migrate ${runId} printed no summary: ${out.slice(-1000)}`);
  const summary = JSON.parse(line) as MigrateOutcome['summary'];
  if (summary.status !== 'completed') throw new Error(`migrate ${runId} ended ${summary.status}: ${line}`);
  return { wallSeconds, summary };
}

interface StageFigures {
  /** Rows of the run in tms.workflow_runs, by status. */
  byStatus: Record<string, number>;
  /** Distinct workflows with a row of the expected status. */
  workflows: number;
  /** min(started_at) → max(finished_at) of the run's rows. */
  spanSeconds: number;
  /** Mean duration_ms of the run's rows of the expected status. */
  meanDurationMs: number;
}

async function stageFigures(db: pg.Client, runId: string, status: 'succeeded' | 'cached'): Promise<StageFigures> {
  const { rows } = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM tms.workflow_runs WHERE run_id = $1 GROUP BY status', [runId]);
  const { rows: [row] } = await db.query<{ workflows: number; span: number | null; mean: number | null }>(
    `SELECT count(DISTINCT workflow_id) FILTER (WHERE status = $2)::int AS workflows,
            extract(epoch FROM max(finished_at) - min(started_at))::float8 AS span,
            (avg(duration_ms) FILTER (WHERE status = $2))::float8 AS mean
       FROM tms.workflow_runs WHERE run_id = $1`, [runId, status]);
  return { byStatus: Object.fromEntries(rows.map((r) => [r.status, r.n])), workflows: row?.workflows ?? 0, spanSeconds: row?.span ?? 0, meanDurationMs: row?.mean ?? 0 };
}

/** Every on-migrate workflow of the run has exactly one row, of `status`, and there is no other row: else throws. */
function checkStage(label: string, f: StageFigures, expected: number, status: 'succeeded' | 'cached', summary: MigrateOutcome['summary']): void {
  const total = Object.values(f.byStatus).reduce((s, n) => s + n, 0);
  const w = summary.workflows;
  const problems: string[] = [];
  if (expected !== TASKS) problems.push(`${expected} on-migrate workflows for ${TASKS} tasks`);
  if ((f.byStatus[status] ?? 0) !== expected || total !== expected || f.workflows !== expected) problems.push(`workflow_runs rows ${JSON.stringify(f.byStatus)} over ${f.workflows} workflows, expected ${expected} ${status} rows, one per workflow`);
  if (!w || w.onMigrate !== expected || w[status] !== expected || w.failed !== 0 || w.abandoned !== 0) problems.push(`migrate summary ${JSON.stringify(w)}`);
  if (problems.length > 0) throw new Error(`${label}: not every on-migrate workflow ${status} exactly once: ${problems.join('; ')}`);
}

interface BaselineFigures {
  runs: number;
  seconds: number;
  meanMs: number;
}

/**
 * The process-spawn floor: each workflow's step command spawned directly (argument array, no shell
 * option), with the environment the local runner gives it (PATH, HOME, LANG, the step's env, the TASK_*
 * variables, TASK_FILE naming the task's JSON file, written beforehand) and stdout/stderr piped, C at a
 * time. Nothing else: no queue, no ledger rows, no temp directory per run.
 */
async function spawnBaseline(db: pg.Client, runId: string, concurrency: number): Promise<BaselineFigures> {
  const { rows: ids } = await db.query<{ id: string }>(
    // The workflows the run executed (a later run may have re-marked them as its own: last_run_id moves).
    `SELECT w.id::text FROM tms.workflows w JOIN tms.workflow_runs r ON r.workflow_id = w.id
      WHERE r.run_id = $1 AND r.status = 'succeeded' ORDER BY w.id`, [runId]);
  // Rendered as a worker renders them (templates are stored once, not copied into each row).
  const rows: { definition: WorkflowDefinition }[] = [];
  for (const { id } of ids) {
    const stored = await loadWorkflow(db, id);
    if (!stored) throw new Error(`workflow ${id} vanished`);
    rows.push({ definition: stored.definition });
  }
  const root = await mkdtemp(join(tmpdir(), 'taskfleet-wfbench-'));
  try {
    const home = join(root, 'home');
    mkdirSync(home);
    const jobs = await Promise.all(rows.map(async ({ definition }, i) => {
      const step = definition.steps[0]!;
      if (definition.steps.length !== 1) throw new Error(`the bench template has one step, workflow ${i} has ${definition.steps.length}`);
      const taskFile = join(root, `task-${i}.json`);
      await writeFile(taskFile, definition.inputs.file, { mode: 0o444 });
      const env: Record<string, string> = { PATH: STEP_PATH, HOME: home, LANG: 'C.UTF-8', ...step.env, ...definition.inputs.env, TASK_FILE: taskFile };
      return { command: step.command, env, expected: definition.inputs.env.TASK_LEGACY_ID ?? '' };
    }));
    let next = 0;
    const durations: number[] = [];
    const one = (job: (typeof jobs)[number]): Promise<void> => new Promise((resolve, reject) => {
      const started = performance.now();
      const child = spawn(job.command[0]!, job.command.slice(1), { cwd: home, env: job.env, shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', () => undefined);
      child.once('error', reject);
      child.once('close', (code) => {
        durations.push(performance.now() - started);
        if (code !== 0 || out !== job.expected) reject(new Error(`baseline step exited ${code} printing "${out.slice(0, 100)}", expected "${job.expected}"`));
        else resolve();
      });
    });
    const started = performance.now();
    await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, async () => {
      while (next < jobs.length) await one(jobs[next++]!);
    }));
    const seconds = (performance.now() - started) / 1000;
    return { runs: jobs.length, seconds, meanMs: durations.reduce((s, d) => s + d, 0) / Math.max(1, durations.length) };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

interface CacheFigures {
  hits: number;
  spanSeconds: number;
  hitsPerSecond: number;
  /** Mean duration_ms of a 'cached' row (job start → the cached row written). */
  meanDurationMs: number;
  migrateWallSeconds: number;
}

interface LevelFigures {
  concurrency: number;
  runs: number;
  spanSeconds: number;
  runsPerSecond: number;
  /** Mean duration_ms of an executed run (the runner's own time: temp dir, task file, the step). */
  meanRunMs: number;
  migrateWallSeconds: number;
  baseline: BaselineFigures;
  baselineRunsPerSecond: number;
  ratio: number;
  cache: CacheFigures | null;
}

async function runLevel(dir: string, concurrency: number, withCache: boolean): Promise<LevelFigures> {
  const scratch = await createScratchDatabase(args['pg-url'], 'wfbench');
  const url = scratch.url;
  const prefix = `{wfbench_${randomBytes(3).toString('hex')}}`;
  const work = await mkdtemp(join(tmpdir(), 'taskfleet-wfbench-config-'));
  const daggerConfig = join(work, 'dagger.yaml');
  const base = parseYaml(await readFile(BASE_DAGGER_CONFIG, 'utf8')) as Record<string, unknown>;
  await writeFile(daggerConfig, stringifyYaml({ ...base, concurrency }));
  const env = { ...process.env, DATABASE_URL: url, REDIS_URL: args['redis-url'], TASKFLEET_PREFIX: prefix, LOG_LEVEL: 'info' };
  const db = new pg.Client({ connectionString: url });
  let worker: ChildProcess | null = null;
  try {
    const migrated = await runToEnd(spawn(process.execPath, [BIN, 'db', 'migrate'], { env, stdio: 'ignore' }));
    if (migrated !== 0) throw new Error(`taskfleet db migrate exited ${migrated}`);
    await db.connect();
    // One standing worker process, started (and warmed) before the run is timed.
    worker = spawn(process.execPath, ['--max-semi-space-size=64', BIN, 'worker', '--workflow-concurrency', String(concurrency)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr = watchStderr(worker);
    await stderr.waitFor(/Worker started/, 30_000);

    const runId = `wfbench-c${concurrency}`;
    log(`C=${concurrency}: migrating ${TASKS} tasks, every workflow executed (--no-cache), 1 worker process`);
    const executed = await migrate(env, dir, daggerConfig, runId, true);
    const { rows: [count] } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tms.workflows WHERE last_run_id = $1 AND run_mode = 'on-migrate'`, [runId]);
    const expected = count?.n ?? 0;
    const stage = await stageFigures(db, runId, 'succeeded');
    checkStage(`C=${concurrency}`, stage, expected, 'succeeded', executed.summary);

    let cache: CacheFigures | null = null;
    if (withCache) {
      const cacheRunId = `wfbench-c${concurrency}-cached`;
      log(`C=${concurrency}: the same migration again under run ${cacheRunId}, cache on: every workflow should be a cache hit`);
      const again = await migrate(env, dir, daggerConfig, cacheRunId, false);
      const hits = await stageFigures(db, cacheRunId, 'cached');
      checkStage(`cache run after C=${concurrency}`, hits, expected, 'cached', again.summary);
      const { rows: [reused] } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tms.workflow_runs c JOIN tms.workflow_runs src ON src.id = c.cached_from
          WHERE c.run_id = $1 AND c.cache_hit AND src.run_id = $2 AND src.status = 'succeeded' AND src.workflow_id = c.workflow_id`, [cacheRunId, runId]);
      if (reused?.n !== expected) throw new Error(`cache run: ${reused?.n ?? 0} of ${expected} hits reuse the executed run's own result`);
      cache = { hits: expected, spanSeconds: hits.spanSeconds, hitsPerSecond: expected / hits.spanSeconds, meanDurationMs: hits.meanDurationMs, migrateWallSeconds: again.wallSeconds };
    }

    worker.kill('SIGTERM');
    const code = await runToEnd(worker);
    if (code !== 0) log(`C=${concurrency}: worker exited ${code}: ${stderr.tail().slice(-500)}`);
    worker = null;

    log(`C=${concurrency}: spawn baseline (${expected} direct spawns, ${concurrency} at a time)`);
    const baseline = await spawnBaseline(db, runId, concurrency);
    if (baseline.runs !== expected) throw new Error(`C=${concurrency}: the spawn baseline ran ${baseline.runs} workflows' steps, expected ${expected}`);
    const runsPerSecond = expected / stage.spanSeconds;
    const baselineRunsPerSecond = baseline.runs / baseline.seconds;
    return {
      concurrency, runs: expected, spanSeconds: stage.spanSeconds, runsPerSecond, meanRunMs: stage.meanDurationMs, migrateWallSeconds: executed.wallSeconds,
      baseline, baselineRunsPerSecond, ratio: runsPerSecond / baselineRunsPerSecond, cache,
    };
  } finally {
    worker?.kill('SIGKILL');
    await db.end().catch(() => undefined);
    const redis = new Redis(args['redis-url']);
    try {
      let cursor = '0';
      do {
        const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = nextCursor;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
    await scratch.drop();
    await rm(work, { recursive: true, force: true });
  }
}

function report(all: LevelFigures[]): void {
  const row = (label: string, f: (x: LevelFigures) => string) => `${label.padEnd(52)}${all.map((x) => f(x).padStart(12)).join('')}`;
  const cached = all.find((x) => x.cache)!;
  const c = cached.cache!;
  const lines = [
    '',
    `workflows: local runner, 1 worker process, ${TASKS} tasks, 1 on-migrate workflow each (1 step: sh -c 'cat "$TASK_FILE"; printf …')`,
    row('concurrency C (--workflow-concurrency = dagger.yaml)', (x) => `C=${x.concurrency}`),
    row('workflow runs succeeded (each exactly once)', (x) => String(x.runs)),
    row('workflows stage: seconds (first start → last end)', (x) => x.spanSeconds.toFixed(2)),
    row('fleet: workflow runs/s', (x) => x.runsPerSecond.toFixed(1)),
    row('fleet: mean ms per executed run (duration_ms)', (x) => x.meanRunMs.toFixed(1)),
    row('migrate wall seconds (entities + workflows)', (x) => x.migrateWallSeconds.toFixed(2)),
    row('baseline: direct spawns/s (same command, env, C)', (x) => x.baselineRunsPerSecond.toFixed(1)),
    row('baseline: mean ms per spawn', (x) => x.baseline.meanMs.toFixed(1)),
    row('ratio fleet / spawn baseline', (x) => x.ratio.toFixed(2)),
    '',
    `cache hit (same data, new --run-id, cache on, after C=${cached.concurrency}): ${c.hits} hits, every workflow 'cached'`,
    `  ${(c.spanSeconds * 1000 / c.hits).toFixed(2)} ms/hit of stage span (${c.hitsPerSecond.toFixed(1)} hits/s), ${c.meanDurationMs.toFixed(2)} ms mean duration_ms per hit`,
    `  vs executed at C=${cached.concurrency}: ${(cached.spanSeconds * 1000 / cached.runs).toFixed(2)} ms/run of stage span (${cached.runsPerSecond.toFixed(1)} runs/s), ${cached.meanRunMs.toFixed(2)} ms mean duration_ms per run`,
    `  migrate wall seconds: ${c.migrateWallSeconds.toFixed(2)} cached vs ${cached.migrateWallSeconds.toFixed(2)} executed`,
    '',
    `summary: workflow runs/s (local runner, 1 worker process, ${TASKS} tasks): ${all.map((x) => `C=${x.concurrency} ${x.runsPerSecond.toFixed(1)}`).join(', ')}; `
      + `spawn baseline ${all.map((x) => `C=${x.concurrency} ${x.baselineRunsPerSecond.toFixed(1)}`).join(', ')}; `
      + `ratio ${all.map((x) => `C=${x.concurrency} ${x.ratio.toFixed(2)}`).join(', ')}; `
      + `cache hit: ${(c.spanSeconds * 1000 / c.hits).toFixed(2)} ms/hit (${c.hitsPerSecond.toFixed(1)} hits/s) vs executed ${(cached.spanSeconds * 1000 / cached.runs).toFixed(2)} ms/run`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const outDir = join(PACKAGE_ROOT, 'bench-results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `workflows-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), `${JSON.stringify({ tasks: TASKS, levels: all }, null, 2)}\n`);
}

const dir = await dataset(TASKS);
const results: LevelFigures[] = [];
for (const level of LEVELS) results.push(await runLevel(dir, level, level === CACHE_LEVEL));
report(results);
