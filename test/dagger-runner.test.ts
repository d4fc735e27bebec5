// The Dagger runner with the real @dagger.io/dagger SDK against a fake engine session on loopback (no
// engine is available where these tests run): the GraphQL it sends, its retries, exec errors, timeouts.
// Each test opens its own fake session and points DAGGER_SESSION_PORT/TOKEN at it before the runner
// connects — the SDK would otherwise try to download a CLI.
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { pino } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDaggerRunner } from '../src/workflows/dagger-runner.js';
import type { DaggerConfig } from '../src/workflows/dagger-config.js';
import { createRunner } from '../src/workflows/runner-factory.js';
import { TASK_FILE_PATH, TransientRunnerError, type WorkflowDefinition, type WorkflowRunner } from '../src/workflows/types.js';
import { ConfigError } from '../src/config/errors.js';
import { chainOf, startFakeDaggerSession, type FakeDaggerSession, type QueryField, type RecordedQuery } from './helpers/fake-dagger-session.js';

const HOSTILE_TITLE = '$(touch /tmp/pwned); "; rm -rf ~';
const silent = pino({ level: 'silent' });

function definition(title = 'Fix the login page'): WorkflowDefinition {
  const task = { id: 'task-1', legacyId: 'T-42', title, type: 'feature' };
  return {
    template: 'feature',
    templateVersion: '1',
    run: 'on-migrate',
    steps: [
      {
        name: 'install',
        image: 'node:20-bookworm-slim',
        command: ['npm', 'ci', '--prefer-offline'],
        env: { NODE_ENV: 'test' },
        cache: { key: 'npm-cache', path: '/root/.npm' },
        timeoutSeconds: 60,
      },
      {
        name: 'report',
        image: 'alpine:3.20',
        command: ['cat', TASK_FILE_PATH],
        env: {},
        cache: null,
        timeoutSeconds: 30,
      },
    ],
    inputs: {
      env: { TASK_ID: task.id, TASK_LEGACY_ID: task.legacyId, TASK_TITLE: task.title, TASK_TYPE: task.type, TASK_FILE: TASK_FILE_PATH },
      file: JSON.stringify(task),
    },
  };
}

/** A query's chain as [field, args] pairs, the way a reader would write the container it builds. */
function calls(q: RecordedQuery): Array<[string, Record<string, unknown>]> {
  return chainOf(q).map((f: QueryField) => [f.name, f.args]);
}

const isStepQuery = (q: RecordedQuery): boolean => chainOf(q)[0]?.name === 'container';
const execArgs = (q: RecordedQuery): unknown => chainOf(q).find((f) => f.name === 'withExec')?.args.args;

const signal = (): AbortSignal => new AbortController().signal;

let session: FakeDaggerSession | null = null;
let runner: WorkflowRunner | null = null;

async function useSession(): Promise<FakeDaggerSession> {
  session = await startFakeDaggerSession(`token-${Math.random().toString(36).slice(2)}`);
  process.env.DAGGER_SESSION_PORT = String(session.port);
  process.env.DAGGER_SESSION_TOKEN = session.token;
  return session;
}

function daggerRunner(attempts = 3): WorkflowRunner {
  runner = createDaggerRunner({ retry: { attempts, backoffMs: 10 }, logger: silent });
  return runner;
}

beforeAll(() => {
  process.env.OTEL_SDK_DISABLED = 'true';
});

afterEach(async () => {
  await runner?.close();
  runner = null;
  await session?.close();
  session = null;
  delete process.env.DAGGER_SESSION_PORT;
  delete process.env.DAGGER_SESSION_TOKEN;
});

describe('Dagger runner against a fake session', () => {
  it('builds exactly the container, env, task file, cache mount and exec of each step', async () => {
    const fake = await useSession();
    const result = await daggerRunner().run(definition(), { signal: signal() });

    expect(result).toMatchObject({ status: 'succeeded', exitCode: 0, runner: 'dagger', imageUsed: true, timedOut: false });
    expect(result.steps.map((s) => [s.name, s.exitCode, s.timedOut])).toEqual([['install', 0, false], ['report', 0, false]]);
    expect(fake.queries.every((q) => q.authorized)).toBe(true);

    // connect() checks the version first; then per step: the cache volume (resolved to an id by its own
    // query), and the chain asked for stdout, then stderr.
    const texts = fake.queries.map((q) => chainOf(q).map((f) => f.name).at(-1));
    expect(texts).toEqual(['version', 'id', 'stdout', 'stderr', 'stdout', 'stderr']);
    expect(calls(fake.queries[1]!)).toEqual([['cacheVolume', { key: 'npm-cache' }], ['id', {}]]);

    const taskFile = JSON.stringify({ id: 'task-1', legacyId: 'T-42', title: 'Fix the login page', type: 'feature' });
    const taskEnv = (title: string): Array<[string, Record<string, unknown>]> => [
      ['withEnvVariable', { name: 'TASK_ID', value: 'task-1' }],
      ['withEnvVariable', { name: 'TASK_LEGACY_ID', value: 'T-42' }],
      ['withEnvVariable', { name: 'TASK_TITLE', value: title }],
      ['withEnvVariable', { name: 'TASK_TYPE', value: 'feature' }],
      ['withEnvVariable', { name: 'TASK_FILE', value: TASK_FILE_PATH }],
    ];
    const install = [
      ['container', {}],
      ['from', { address: 'node:20-bookworm-slim' }],
      ['withEnvVariable', { name: 'NODE_ENV', value: 'test' }],
      ...taskEnv('Fix the login page'),
      ['withNewFile', { path: TASK_FILE_PATH, contents: taskFile, permissions: 0o444 }],
      ['withEnvVariable', { name: 'CACHE_DIR_NPM_CACHE', value: '/root/.npm' }],
      ['withMountedCache', { path: '/root/.npm', cache: 'CacheVolume:"npm-cache"' }],
      ['withExec', { args: ['npm', 'ci', '--prefer-offline'] }],
    ];
    const report = [
      ['container', {}],
      ['from', { address: 'alpine:3.20' }],
      ...taskEnv('Fix the login page'),
      ['withNewFile', { path: TASK_FILE_PATH, contents: taskFile, permissions: 0o444 }],
      ['withExec', { args: ['cat', TASK_FILE_PATH] }],
    ];
    expect(calls(fake.queries[2]!)).toEqual([...install, ['stdout', {}]]);
    expect(calls(fake.queries[3]!)).toEqual([...install, ['stderr', {}]]);
    expect(calls(fake.queries[4]!)).toEqual([...report, ['stdout', {}]]);
    expect(calls(fake.queries[5]!)).toEqual([...report, ['stderr', {}]]);

    // The digest covers every step's stdout then stderr; the tail shows the end of it.
    const output = 'ran npm ci --prefer-offline\n' + `ran cat ${TASK_FILE_PATH}\n`;
    expect(result.outputDigest).toBe(createHash('sha256').update(output).digest('hex'));
    expect(result.outputTail).toBe(output);
  });

  it('keeps task data out of the exec arguments: a hostile title is only an env value', async () => {
    const fake = await useSession();
    const result = await daggerRunner().run(definition(HOSTILE_TITLE), { signal: signal() });
    expect(result.status).toBe('succeeded');

    const stepQueries = fake.queries.filter(isStepQuery);
    expect(stepQueries).toHaveLength(4);
    for (const q of stepQueries) {
      const chain = chainOf(q);
      const carrying = chain.filter((f) => JSON.stringify(f.args).includes('touch /tmp/pwned'));
      // Exactly two fields carry it: the TASK_TITLE variable, and the task file's JSON contents.
      expect(carrying.map((f) => [f.name, f.name === 'withEnvVariable' ? f.args.name : f.args.path])).toEqual([
        ['withEnvVariable', 'TASK_TITLE'],
        ['withNewFile', TASK_FILE_PATH],
      ]);
      expect(chain.find((f) => f.args.name === 'TASK_TITLE')?.args.value).toBe(HOSTILE_TITLE);
      expect(JSON.stringify(execArgs(q))).not.toContain('pwned');
      expect(chain.find((f) => f.name === 'withExec')?.args).not.toHaveProperty('expand');
    }
  });

  it('retries an HTTP 500 from the engine and then succeeds', async () => {
    const fake = await useSession();
    fake.fail({ match: isStepQuery, failure: { kind: 'http-500' } });
    const result = await daggerRunner(3).run(definition(), { signal: signal() });

    expect(result.status).toBe('succeeded');
    const steps = fake.queries.filter(isStepQuery);
    expect(steps.map((q) => q.answer)).toEqual(['http-500', 'data', 'data', 'data', 'data']);
    // The retry sends the very same query again (after resolving the cache volume again).
    expect(fake.queries.filter((q) => chainOf(q)[0]?.name === 'cacheVolume')).toHaveLength(2);
    expect(steps[1]!.text).toBe(steps[0]!.text);
  });

  it('retries a connection reset and then succeeds', async () => {
    const fake = await useSession();
    fake.fail({ match: (q) => isStepQuery(q) && execArgs(q) !== undefined && JSON.stringify(execArgs(q)).includes('cat'), failure: { kind: 'reset' } });
    const result = await daggerRunner(3).run(definition(), { signal: signal() });

    expect(result.status).toBe('succeeded');
    expect(fake.queries.filter(isStepQuery).map((q) => q.answer)).toEqual(['data', 'data', 'reset', 'data', 'data']);
  });

  it('gives up after retry.attempts transient failures with a TransientRunnerError', async () => {
    const fake = await useSession();
    fake.fail({ match: isStepQuery, times: 100, failure: { kind: 'http-500' } });
    const run = daggerRunner(3).run(definition(), { signal: signal() });

    await expect(run).rejects.toBeInstanceOf(TransientRunnerError);
    await expect(run).rejects.toThrow(/step "install" 3 time\(s\) \(HTTP 500\)/);
    expect(fake.queries.filter(isStepQuery)).toHaveLength(3);
  });

  it('treats a refused connection as transient', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    process.env.DAGGER_SESSION_PORT = String(port);
    process.env.DAGGER_SESSION_TOKEN = 'nobody-listens';
    // The SDK's own version check at connect time reports the refusal on the console: keep it quiet here.
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const run = daggerRunner(2).run(definition(), { signal: signal() });
      await expect(run).rejects.toBeInstanceOf(TransientRunnerError);
      await expect(run).rejects.toThrow(/2 time\(s\) \(connection refused\)/);
    } finally {
      consoleError.mockRestore();
    }
  });

  it('names DAGGER_SESSION_TOKEN when the session refuses the token', async () => {
    const fake = await useSession();
    process.env.DAGGER_SESSION_TOKEN = 'not-the-token';
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const run = daggerRunner().run(definition(), { signal: signal() });
      await expect(run).rejects.toBeInstanceOf(ConfigError);
      await expect(run).rejects.toThrow(/HTTP 401.*DAGGER_SESSION_TOKEN/);
    } finally {
      consoleError.mockRestore();
    }
    expect(fake.queries.every((q) => q.answer === 'unauthorized')).toBe(true);
    // Not retried: after the version check, only the first query of the step (its cache volume) was sent.
    expect(fake.queries.map((q) => chainOf(q)[0]?.name)).toEqual(['version', 'cacheVolume']);
  });

  it('records an engine error that is not an exec error as a failed run, without retrying', async () => {
    const fake = await useSession();
    fake.fail({ match: isStepQuery, failure: { kind: 'graphql-error', message: 'failed to resolve source metadata for docker.io/library/node:20-bookworm-slim' } });
    const result = await daggerRunner(3).run(definition(), { signal: signal() });

    expect(result).toMatchObject({ status: 'failed', exitCode: null, timedOut: false });
    expect(result.steps.map((s) => [s.name, s.exitCode])).toEqual([['install', null]]);
    expect(result.outputTail).toContain('could not run step install: failed to resolve source metadata');
    expect(fake.queries.filter(isStepQuery).map((q) => q.answer)).toEqual(['graphql-error']);
  });

  it('stops waiting when the job is aborted', async () => {
    const fake = await useSession();
    fake.hold(isStepQuery);
    const controller = new AbortController();
    const run = daggerRunner().run(definition(), { signal: controller.signal });
    // Connect, version, cache volume, then the step: more than expect.poll's default 1 s on a busy machine.
    await expect.poll(() => fake.queries.filter(isStepQuery).length, { timeout: 10_000 }).toBe(1);
    controller.abort(new Error('job cancelled'));
    await expect(run).rejects.toThrow('job cancelled');
  });

  it('turns an exec error into a failed run with its exit code and output, without retrying', async () => {
    const fake = await useSession();
    fake.fail({ match: isStepQuery, failure: { kind: 'exec-error', exitCode: 3, stdout: 'installing…\n', stderr: 'npm ERR! missing lockfile\n' } });
    const result = await daggerRunner(3).run(definition(), { signal: signal() });

    expect(result).toMatchObject({ status: 'failed', exitCode: 3, timedOut: false, runner: 'dagger' });
    expect(result.steps).toEqual([{ name: 'install', exitCode: 3, durationMs: expect.any(Number) as number, timedOut: false }]);
    expect(result.outputTail).toContain('npm ERR! missing lockfile');
    expect(result.outputDigest).toBe(createHash('sha256').update('installing…\nnpm ERR! missing lockfile\n').digest('hex'));
    // One exec query, answered with the error; no retry, and the second step never ran.
    expect(fake.queries.filter(isStepQuery).map((q) => q.answer)).toEqual(['exec-error']);
  });

  it('separates stdout from stderr in the tail when stdout does not end its line (the digest stays stdout then stderr)', async () => {
    const fake = await useSession();
    fake.fail({ match: isStepQuery, failure: { kind: 'exec-error', exitCode: 1, stdout: 'some out', stderr: 'boom from fake engine' } });
    const result = await daggerRunner(3).run(definition(), { signal: signal() });
    expect(result.outputTail).toBe('some out\nboom from fake engine');
    expect(result.outputDigest).toBe(createHash('sha256').update('some outboom from fake engine').digest('hex'));
  });

  it('aborts a step past its timeout and reports timedOut', async () => {
    const fake = await useSession();
    const hold = fake.hold(isStepQuery);
    const def = definition();
    def.steps[0]!.timeoutSeconds = 1;
    const started = Date.now();
    const result = await daggerRunner().run(def, { signal: signal() });
    const elapsedMs = Date.now() - started;
    hold.release();

    expect(elapsedMs).toBeGreaterThanOrEqual(1000);
    // Without the timeout it would wait on the held query for good: 10 s leaves a busy machine room.
    expect(elapsedMs).toBeLessThan(10_000);
    expect(result).toMatchObject({ status: 'failed', exitCode: null, timedOut: true });
    expect(result.steps).toEqual([{ name: 'install', exitCode: null, durationMs: expect.any(Number) as number, timedOut: true }]);
    expect(result.outputTail).toContain('ran past its timeout of 1s');
    // The abandoned query's late answer starts nothing more (no stderr query, no next step).
    await expect.poll(() => fake.queries.filter(isStepQuery).map((q) => q.answer), { timeout: 5000 }).toEqual(['data']);
    await sleep(200);
    expect(fake.queries.filter(isStepQuery).map((q) => chainOf(q).at(-1)?.name)).toEqual(['stdout']);
  });

  it('reuses one engine connection across runs, and refuses to run after close()', async () => {
    const fake = await useSession();
    const r = daggerRunner();
    await r.run(definition(), { signal: signal() });
    await r.run(definition(), { signal: signal() });
    // One connection: the version check happened once.
    expect(fake.queries.filter((q) => chainOf(q)[0]?.name === 'version')).toHaveLength(1);

    await r.close();
    const before = fake.queries.length;
    await expect(r.run(definition(), { signal: signal() })).rejects.toThrow(/Dagger runner is closed/);
    expect(fake.queries).toHaveLength(before);
  });

  it('refuses to connect without a session or a CLI (the SDK would download one)', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const run = daggerRunner().run(definition(), { signal: signal() });
      await expect(run).rejects.toBeInstanceOf(ConfigError);
      await expect(run).rejects.toThrow(/runner: dagger needs a Dagger engine/);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('createRunner', () => {
  const config = (runner: DaggerConfig['runner']): DaggerConfig => ({
    runner, concurrency: 2, defaultTimeoutSeconds: 60, retry: { attempts: 3, backoffMs: 10 }, cache: { enabled: true }, allowedImages: ['*'],
  });

  it("'auto' picks the local runner when no session is set", async () => {
    runner = await createRunner(config('auto'), { logger: silent, env: {} });
    expect(runner.name).toBe('local');
  });

  it("'auto' picks the local runner when the session port does not answer", async () => {
    const fake = await startFakeDaggerSession();
    const port = fake.port;
    await fake.close();
    runner = await createRunner(config('auto'), { logger: silent, env: { sessionPort: String(port), sessionToken: 't' } });
    expect(runner.name).toBe('local');
  });

  it("'auto' picks Dagger when the session answers", async () => {
    const fake = await useSession();
    runner = await createRunner(config('auto'), { logger: silent, env: { sessionPort: String(fake.port), sessionToken: fake.token } });
    expect(runner.name).toBe('dagger');
    // Creating the runner sends nothing: the connection opens on the first run.
    expect(fake.queries).toHaveLength(0);
    const result = await runner.run(definition(), { signal: signal() });
    expect(result.runner).toBe('dagger');
  });

  it("'auto' picks Dagger when a dagger CLI can start a session", async () => {
    runner = await createRunner(config('auto'), { logger: silent, env: { cliPath: '/opt/dagger/bin/dagger' } });
    expect(runner.name).toBe('dagger');
  });

  it("'dagger' without an engine fails at start-up, naming the setting", async () => {
    const made = createRunner(config('dagger'), { logger: silent, env: {} });
    await expect(made).rejects.toBeInstanceOf(ConfigError);
    await expect(made).rejects.toThrow(/^runner: dagger, but no Dagger engine is available/);
  });

  it("'local' is the local runner whatever the environment", async () => {
    const fake = await useSession();
    runner = await createRunner(config('local'), { logger: silent, env: { sessionPort: String(fake.port), sessionToken: fake.token } });
    expect(runner.name).toBe('local');
  });
});
