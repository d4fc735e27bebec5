// The local WorkflowRunner with real child processes: success, a non-zero exit, a timeout (the whole
// process group killed), output capture, the minimal environment, cache directories, abort, and a
// hostile task title that reaches the step only as data. Every case runs twice: in process, and forked
// from the helper process as workers run it (the compiled helper: `npm test` builds first); then what
// only the forked runner has: its helper dying (with a run aborted or not), group signals, and closing it.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createForkedLocalRunner } from '../src/workflows/forked-local-runner.js';
import { cacheDirVariable, createLocalRunner } from '../src/workflows/local-runner.js';
import { renderWorkflow, type TaskForWorkflow } from '../src/workflows/render.js';
import { TransientRunnerError, type WorkflowRunner, type WorkflowStep, type WorkflowTemplate } from '../src/workflows/types.js';

const scratch = mkdtempSync(join(tmpdir(), 'tf-local-runner-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const task: TaskForWorkflow = {
  id: '0b6f7c8e-1d2a-5b3c-9d4e-5f6a7b8c9d0e', legacyId: 'T-1', projectId: '1c2d3e4f-5a6b-5c7d-8e9f-0a1b2c3d4e5f', phaseId: null,
  title: 'Fix the login page', description: null, status: 'todo', priority: 'high', type: 'bug', assignee: null, reporter: 'ana',
  estimateHours: 3, dueOn: null, tags: ['ui'],
};

/** A step running `node -e SCRIPT`. */
function nodeStep(name: string, script: string, extra: Partial<WorkflowStep> = {}): WorkflowStep {
  return { name, image: 'node:20-bookworm-slim', command: ['node', '-e', script], env: {}, cache: null, timeoutSeconds: 30, ...extra };
}

function workflow(steps: WorkflowStep[], forTask: TaskForWorkflow = task) {
  const template: WorkflowTemplate = { name: 'test', version: '1', run: 'on-migrate', steps };
  return renderWorkflow(template, forTask);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const RUNNERS: [string, (cacheRoot: string) => WorkflowRunner][] = [
  ['in process', (cacheRoot) => createLocalRunner({ cacheRoot })],
  ['forked from its helper process', (cacheRoot) => createForkedLocalRunner({ cacheRoot })],
];

describe.each(RUNNERS)('local runner, %s', (_how, create) => {
  const runner = create(join(scratch, 'cache'));
  afterAll(() => runner.close());
  const run = (steps: WorkflowStep[], forTask?: TaskForWorkflow, signal = new AbortController().signal) => runner.run(workflow(steps, forTask), { signal });

  it('runs every step as a process in its own fresh directory and captures its output', async () => {
    const result = await run([
      nodeStep('first', 'process.stdout.write("out-1 " + process.cwd() + "\\n"); process.stderr.write("err-1\\n")'),
      nodeStep('second', 'process.stdout.write("out-2 " + process.cwd() + "\\n")'),
    ]);
    expect(result).toMatchObject({ status: 'succeeded', exitCode: 0, runner: 'local', imageUsed: false, timedOut: false });
    expect(result.steps.map((s) => [s.name, s.exitCode, s.timedOut])).toEqual([['first', 0, false], ['second', 0, false]]);
    const [, cwd1] = /out-1 (\S+)/.exec(result.outputTail)!;
    const [, cwd2] = /out-2 (\S+)/.exec(result.outputTail)!;
    expect(cwd1).not.toBe(cwd2);
    expect(existsSync(cwd1!)).toBe(false);
    expect(existsSync(cwd2!)).toBe(false);
    expect(result.outputTail).toContain('err-1\n');
    // The digest covers each step's stdout, then its stderr, in step order.
    expect(result.outputDigest).toBe(sha256(`out-1 ${cwd1}\nerr-1\nout-2 ${cwd2}\n`));
    // Each is rounded on its own: the steps' sum may exceed the total by 1 ms.
    expect(result.durationMs).toBeGreaterThanOrEqual(result.steps[0]!.durationMs + result.steps[1]!.durationMs - 1);
  });

  it('keeps only the last 4 KB of a long output, and digests all of it', async () => {
    const result = await run([nodeStep('loud', 'for (let i = 0; i < 2000; i++) console.log("line " + String(i).padStart(5, "0"))')]);
    const all = Array.from({ length: 2000 }, (_, i) => `line ${String(i).padStart(5, '0')}\n`).join('');
    expect(result.outputDigest).toBe(sha256(all));
    expect(result.outputTail).toBe(all.slice(-4096));
  });

  it('digests a large stderr (spilled to disk) after its step\'s stdout', async () => {
    // 10 MB of stderr, more than the runner holds in memory, written before and after some stdout.
    const result = await run([nodeStep('noisy', [
      'const block = "e".repeat(1024 * 1024);',
      'for (let i = 0; i < 5; i++) process.stderr.write(block);',
      'process.stdout.write("out\\n");',
      'for (let i = 0; i < 5; i++) process.stderr.write(block);',
    ].join('\n'))]);
    expect(result.status).toBe('succeeded');
    expect(result.outputDigest).toBe(sha256(`out\n${'e'.repeat(10 * 1024 * 1024)}`));
    expect(result.outputTail).toBe('e'.repeat(4096));
  });

  it('stops at a step that exits non-zero and reports its exit code', async () => {
    const marker = join(scratch, `not-run-${randomBytes(4).toString('hex')}`);
    const result = await run([
      nodeStep('ok', 'console.log("fine")'),
      nodeStep('broken', 'console.error("cannot lint"); process.exit(3)'),
      nodeStep('after', `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran")`),
    ]);
    expect(result).toMatchObject({ status: 'failed', exitCode: 3, timedOut: false, imageUsed: false });
    expect(result.steps.map((s) => [s.name, s.exitCode])).toEqual([['ok', 0], ['broken', 3]]);
    expect(result.outputTail).toContain('cannot lint');
    expect(existsSync(marker)).toBe(false);
  });

  it('kills a step past its timeout, with everything it started', async () => {
    const started = performance.now();
    const result = await run([nodeStep('hangs', [
      'const child = require("node:child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });',
      'console.log("grandchild " + child.pid);',
      'setInterval(() => {}, 1000);',
    ].join('\n'), { timeoutSeconds: 1 })]);
    const elapsed = performance.now() - started;
    expect(result).toMatchObject({ status: 'failed', exitCode: null, timedOut: true });
    expect(result.steps).toEqual([expect.objectContaining({ name: 'hangs', exitCode: null, timedOut: true })]);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(10_000);
    expect(result.outputTail).toContain('ran past its timeout of 1s and was killed');
    const grandchild = Number(/grandchild (\d+)/.exec(result.outputTail)![1]);
    // Gone, or a zombie waiting for its reaper: either way, no longer running. SIGKILL was sent to the whole
    // group, but the kernel ends a process only once it is scheduled: on a busy machine it can still read
    // 'R' for a moment (seen in CI), so poll; a grandchild that was never signalled stays 'S' and fails.
    const state = (): string => {
      try {
        return readFileSync(`/proc/${grandchild}/stat`, 'utf8').split(') ')[1]?.[0] ?? 'gone';
      } catch {
        return 'gone';
      }
    };
    await expect.poll(state, { timeout: 5000, interval: 50 }).toMatch(/^(gone|Z|X)$/);
  });

  it('reports a program that cannot be started as a failed step', async () => {
    const result = await run([{ ...nodeStep('missing', ''), command: ['taskfleet-no-such-program', '--flag'] }]);
    expect(result).toMatchObject({ status: 'failed', exitCode: 127, timedOut: false });
    expect(result.outputTail).toContain('cannot start taskfleet-no-such-program');
  });

  // Found by the input probe: a 200 KB description failed its workflow on every attempt (spawn E2BIG:
  // Linux takes at most 128 KiB a variable), and spawn throws E2BIG rather than emitting it, so the run
  // threw and its job was retried 8 times over about 100 s.
  it('runs a task whose description is too long for a variable: the variable is cut, the task file is whole', async () => {
    const description = `${'d'.repeat(200 * 1024)}END`;
    const result = await run([nodeStep('reads-both', [
      'const fs = require("node:fs");',
      'const whole = JSON.parse(fs.readFileSync(process.env.TASK_FILE, "utf8")).description;',
      'console.log(process.env.TASK_DESCRIPTION.length, whole.length, whole.endsWith("END"), process.env.TASK_DESCRIPTION.split("\\n").pop());',
    ].join('\n'))], { ...task, description });
    expect(result).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(result.outputTail).toContain(`${64 * 1024 + '\n[taskfleet: cut at 65536 of 204803 bytes; $TASK_FILE holds the whole text]'.length} ${description.length} true [taskfleet: cut at 65536 of 204803 bytes; $TASK_FILE holds the whole text]`);
  });

  it('fails a step whose own env is too large for a process once, naming the variable', async () => {
    const result = await run([nodeStep('huge-env', 'console.log("never")', { env: { HUGE: 'h'.repeat(200 * 1024) } })]);
    expect(result).toMatchObject({ status: 'failed', exitCode: 127, timedOut: false });
    expect(result.steps).toEqual([expect.objectContaining({ name: 'huge-env', exitCode: 127 })]);
    expect(result.outputTail).toContain(`cannot start node: spawn E2BIG: HUGE (${'HUGE='.length + 200 * 1024 + 1} bytes) exceed what Linux lets one process receive`);
  });

  it('gives a step a minimal environment: PATH, HOME, the template env, TASK_* and TASK_FILE, nothing of the worker', async () => {
    process.env.TASKFLEET_TEST_SECRET = 'hunter2';
    try {
      const result = await run([nodeStep('env', [
        'const fs = require("node:fs");',
        'const env = { ...process.env };',
        'console.log(JSON.stringify({ env, cwd: process.cwd(), file: fs.readFileSync(env.TASK_FILE, "utf8") }));',
      ].join('\n'), { env: { NOTIFY_CHANNEL: 'bugs' } })]);
      expect(result.status).toBe('succeeded');
      const seen = JSON.parse(result.outputTail) as { env: Record<string, string>; cwd: string; file: string };
      expect(seen.env.TASKFLEET_TEST_SECRET).toBeUndefined();
      expect(Object.keys(seen.env).filter((k) => !k.startsWith('TASK_')).sort()).toEqual(['HOME', 'LANG', 'NOTIFY_CHANNEL', 'PATH']);
      expect(seen.env.HOME).toBe(seen.cwd);
      expect(seen.env).toMatchObject({ TASK_TITLE: 'Fix the login page', TASK_LEGACY_ID: 'T-1', TASK_ESTIMATE_HOURS: '3', TASK_DESCRIPTION: '', TASK_TAGS: '["ui"]' });
      expect(seen.env.TASK_FILE).not.toBe('/workflow/task.json');
      expect(seen.file).toBe(workflow([]).inputs.file);
      expect(existsSync(seen.env.TASK_FILE!)).toBe(false);
    } finally {
      delete process.env.TASKFLEET_TEST_SECRET;
    }
  });

  it('keeps a cache directory per key across runs', async () => {
    const key = `c-${randomBytes(4).toString('hex')}`;
    const variable = cacheDirVariable(key);
    const step = nodeStep('count', [
      'const fs = require("node:fs");',
      `const file = process.env.${variable} + "/runs";`,
      'const n = fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8")) + 1 : 1;',
      'fs.writeFileSync(file, String(n)); console.log("run " + n);',
    ].join('\n'), { cache: { key, path: '/cache/count' } });
    expect((await run([step])).outputTail).toBe('run 1\n');
    expect((await run([step])).outputTail).toBe('run 2\n');
    expect(readFileSync(join(scratch, 'cache', key, 'runs'), 'utf8')).toBe('2');
  });

  it('aborts the running step when the signal fires', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const running = run([nodeStep('slow', 'console.log("started " + process.cwd()); setTimeout(() => {}, 30_000)')], task, controller.signal);
    setTimeout(() => controller.abort(new Error('worker shutting down')), 300);
    await expect(running).rejects.toThrow('worker shutting down');
    expect(performance.now() - started).toBeLessThan(10_000);
    await expect(run([nodeStep('never', 'console.log(1)')], task, controller.signal)).rejects.toThrow('worker shutting down');
  });

  it('passes a hostile title to the step only as data', async () => {
    const pwned = `/tmp/pwned-${randomBytes(6).toString('hex')}`;
    const title = `$(touch ${pwned}); "; rm -rf ~`;
    const hostile = { ...task, title, description: `\`touch ${pwned}\` && echo $HOME` };
    const def = workflow([nodeStep('echo', 'process.stdout.write(process.env.TASK_TITLE)')], hostile);
    expect(JSON.stringify(def.steps)).not.toContain(pwned);
    const echoed = await runner.run(def, { signal: new AbortController().signal });
    expect(echoed.status).toBe('succeeded');
    expect(Buffer.from(echoed.outputTail)).toEqual(Buffer.from(title));
    // The task file carries the same bytes.
    const fromFile = await run([nodeStep('read', 'const t = JSON.parse(require("node:fs").readFileSync(process.env.TASK_FILE, "utf8")); process.stdout.write(t.title + "\\n" + t.description)')], hostile);
    expect(fromFile.outputTail).toBe(`${title}\n${hostile.description}`);
    expect(existsSync(pwned)).toBe(false);
  });

  it('runs the shipped templates for every task type', async () => {
    const { loadTemplates } = await import('../src/workflows/templates.js');
    const set = loadTemplates(undefined, {});
    for (const type of ['bug', 'feature', 'chore', 'default', 'epic']) {
      const result = await runner.run(renderWorkflow(set.templateFor(type), { ...task, type }), { signal: new AbortController().signal });
      expect(result.status, `${type}: ${result.outputTail}`).toBe('succeeded');
      expect(result.steps.length).toBe(set.templateFor(type).steps.length);
    }
  });
});

describe('the forked local runner\'s helper process', () => {
  /** Pids of the helper processes forked for LOCAL_RUNNER_HOST (this test's own children). */
  function helperPids(): number[] {
    const out = execFileSync('pgrep', ['-P', String(process.pid), '-f', 'local-runner-host.js'], { encoding: 'utf8' }).trim();
    return out ? out.split('\n').map(Number) : [];
  }
  const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
  const waitUntil = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(check(), what).toBe(true);
  };

  /** A forked runner for `body`, closed afterwards whatever happens. */
  const withForkedRunner = async (body: (runner: WorkflowRunner) => Promise<void>) => {
    const runner = createForkedLocalRunner({ cacheRoot: join(scratch, 'cache-forked') });
    try {
      await body(runner);
    } finally {
      await runner.close();
    }
  };
  const stepFile = (ext: string) => join(scratch, `step-${randomBytes(4).toString('hex')}.${ext}`);

  /** A step that writes its pid to a file, then waits 30 s. */
  const pidStep = (pidFile: string) => nodeStep('slow', `require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setTimeout(() => {}, 30_000)`);
  const stepPidOf = async (pidFile: string) => {
    await waitUntil('the step started', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '');
    return Number(readFileSync(pidFile, 'utf8'));
  };

  it('fails the runs of a helper that dies as transient (their jobs retry), kills its steps, and forks a new one for the next run', async () => {
    await withForkedRunner(async (runner) => {
      const pidFile = stepFile('pid');
      const slow = runner.run(workflow([pidStep(pidFile)]), { signal: new AbortController().signal });
      const stepPid = await stepPidOf(pidFile);
      const pids = helperPids();
      expect(pids.length).toBe(1);
      process.kill(pids[0]!, 'SIGKILL');
      const err = await slow.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(TransientRunnerError);
      expect((err as Error).message).toMatch(/helper process exited \(SIGKILL\)/);
      await waitUntil('the dead helper\'s step was killed', () => !alive(stepPid));
      const next = await runner.run(workflow([nodeStep('echo', 'console.log("after")')]), { signal: new AbortController().signal });
      expect(next.outputTail).toBe('after\n');
      expect(helperPids()).not.toContain(pids[0]);
    });
  });

  it('ends a run that was aborted as aborted, not as transient, when its helper dies before answering', async () => {
    await withForkedRunner(async (runner) => {
      const pidFile = stepFile('pid');
      const controller = new AbortController();
      const slow = runner.run(workflow([pidStep(pidFile)]), { signal: controller.signal });
      await stepPidOf(pidFile);
      const [helper] = helperPids();
      controller.abort(new Error('worker shutting down'));
      process.kill(helper!, 'SIGKILL');
      const err = await slow.then(() => null, (e: unknown) => e);
      expect(err).not.toBeInstanceOf(TransientRunnerError);
      expect((err as Error).message).toBe('worker shutting down');
    });
  });

  it('outlives SIGINT and SIGTERM sent to the worker\'s process group: the worker drains, its runs finish', async () => {
    await withForkedRunner(async (runner) => {
      const started = stepFile('started');
      const running = runner.run(workflow([nodeStep('wait', `require("node:fs").writeFileSync(${JSON.stringify(started)}, "1"); setTimeout(() => console.log("finished"), 500)`)]),
        { signal: new AbortController().signal });
      await waitUntil('the step started', () => existsSync(started));
      const pids = helperPids();
      expect(pids.length).toBe(1);
      process.kill(pids[0]!, 'SIGINT');
      process.kill(pids[0]!, 'SIGTERM');
      const result = await running;
      expect(result.outputTail).toBe('finished\n');
      expect(alive(pids[0]!)).toBe(true);
    });
  });

  it('is out of reach of a signal to the worker\'s process group, even while it starts', async () => {
    // A "worker" in a process group of its own that drains on SIGINT/SIGTERM: the group is signalled as soon
    // as the helper is forked, before the helper could install handlers of its own.
    const script = `
      import { createForkedLocalRunner } from ${JSON.stringify(new URL('../dist/src/workflows/forked-local-runner.js', import.meta.url).href)};
      process.on('SIGINT', () => undefined);
      process.on('SIGTERM', () => undefined);
      const runner = createForkedLocalRunner({ cacheRoot: ${JSON.stringify(join(scratch, 'cache-group'))} });
      const running = runner.run(JSON.parse(process.argv[1]), { signal: new AbortController().signal });
      process.stdout.write('forked\\n');
      const outcome = await running.then((r) => r.outputTail, (e) => 'failed: ' + e.message);
      await runner.close();
      process.stdout.write(JSON.stringify(outcome) + '\\n');`;
    const definition = workflow([nodeStep('wait', 'setTimeout(() => console.log("finished"), 300)')]);
    const worker = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(definition)], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise<number | null>((res) => worker.on('exit', (code) => res(code)));
    worker.stdout.on('data', (chunk: Buffer) => {
      const first = !out.includes('forked');
      out += chunk.toString();
      if (first && out.includes('forked')) {
        process.kill(-worker.pid!, 'SIGINT');
        process.kill(-worker.pid!, 'SIGTERM');
      }
    });
    expect(await exited).toBe(0);
    expect(out.trim().split('\n')).toEqual(['forked', JSON.stringify('finished\n')]);
  });

  it('close() ends the helper, and a step still running in it with its process group; a closed runner runs nothing', async () => {
    const runner = createForkedLocalRunner({ cacheRoot: join(scratch, 'cache-forked') });
    const pidFile = stepFile('pid');
    const running = runner.run(workflow([pidStep(pidFile)]), { signal: new AbortController().signal });
    const outcome = running.then(() => 'resolved', () => 'rejected');
    const stepPid = await stepPidOf(pidFile);
    const [helper] = helperPids();
    await runner.close();
    expect(alive(helper!)).toBe(false);
    await waitUntil('the step was killed', () => !alive(stepPid));
    expect(await outcome).toBe('rejected');
    await expect(runner.run(workflow([nodeStep('echo', 'console.log(1)')]), { signal: new AbortController().signal })).rejects.toThrow('closed');
  });
});
