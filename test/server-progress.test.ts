// Issue 5, acceptance 1: the progress API and its live stream, on the routers alone (test/helpers/ops-app.ts)
// against real Postgres and Redis. A real 50k-task migration runs through the built CLI with two workers
// while a client follows the run's Server-Sent Events: progress arrives during the run with growing
// counts, and the final event's counts are the ledger's (runSummary and this file's own SQL). Then the
// REST answers (runs, one run's stages and phases, rejects page by page), their 400/404s, a restarted
// app reporting the same progress, and `taskfleet follow` exiting 0 for a completed run, 1 for a failed one, 3 for one over its --max-rejects.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverEvents } from '../src/cli/follow-command.js';
import { generateLegacyData } from '../src/generator/generate.js';
import { phaseReports, stageRate } from '../src/ledger/progress-report.js';
import { listRejects } from '../src/ledger/rejects.js';
import { insertRun, updateRun } from '../src/ledger/runs.js';
import { runSummary } from '../src/ledger/summary.js';
import { prepareDatabase } from '../src/store/database.js';
import { connectionArgs, runCli, startCli } from './helpers/cli.js';
import { jsonLines, summaryOf } from './helpers/legacy-files.js';
import { openEventStream, startOpsApp, type OpsApp } from './helpers/ops-app.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const RUN = 'live-50k';
const BAD_RUN = 'bad-small';
const prefix = uniquePrefix('server_progress');
let root: string;
let db: TestDatabase;
let badDb: TestDatabase;
let app: OpsApp;
/** Polls the ledger only every 10 minutes: whatever it streams during the run came through LISTEN/NOTIFY. */
let listenOnlyApp: OpsApp;
let badApp: OpsApp;
let bigDir: string;
let badDir: string;

interface StageBody { stage: string; unit: string; total: number; done: number; rejected: number; failed: number; rate: number; etaSeconds: number | null }
interface ReportBody {
  runId: string;
  status: string;
  stages: StageBody[];
  summary: { kind: string; legacy: number; migrated: number; rejected: number }[];
  phases: { phase: string; status: string }[];
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const STREAM = { pollMs: 500, heartbeatMs: 1000, minIntervalMs: 100 };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-server-progress-'));
  bigDir = join(root, 'big');
  badDir = join(root, 'bad');
  [db, badDb] = await Promise.all([createTestDatabase('server_progress'), createTestDatabase('server_progress_bad')]);
  await Promise.all([
    generateLegacyData({ out: bigDir, format: 'jsonl', projects: 500, phasesPerProject: 5, tasks: 50_000, seed: 5005 }),
    generateLegacyData({ out: badDir, format: 'jsonl', projects: 12, phasesPerProject: 3, tasks: 2000, badRatio: 0.05, seed: 5006 }),
    prepareDatabase(db.url),
    prepareDatabase(badDb.url),
  ]);
  app = await startOpsApp(db.url, prefix, { stream: STREAM });
  badApp = await startOpsApp(badDb.url, prefix, { stream: STREAM });
  listenOnlyApp = await startOpsApp(db.url, prefix, { stream: { ...STREAM, pollMs: 600_000 } });
});

afterAll(async () => {
  await app?.close().catch(() => undefined);
  await badApp?.close().catch(() => undefined);
  await listenOnlyApp?.close().catch(() => undefined);
  await db?.drop().catch(() => undefined);
  await badDb?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('progress API and live stream', () => {
  it('streams progress events during a 50k-task migration, ending with the ledger\'s counts', async () => {
    const cli = startCli(['migrate', '--skip-prepare', '--legacy-data', bigDir, '--run-id', RUN, ...connectionArgs(db, prefix, REDIS_URL),
      '--workers', '2', '--json'], { timeoutMs: 240_000 });
    // The run appears in the ledger when the producer plans it: follow it from then on.
    let exitedAt: number | null = null;
    const exited = cli.result.then((r) => { exitedAt = Date.now(); return r; });
    for (;;) {
      const res = await fetch(`${app.url}/api/runs/${RUN}`);
      if (res.status === 200) break;
      expect(res.status, await res.text()).toBe(404);
      expect(exitedAt, `migrate ended before its run appeared: ${cli.output().stderr}`).toBeNull();
      await new Promise((r) => setTimeout(r, 100));
    }
    const openedAt = Date.now();
    const stream = openEventStream(`${app.url}/api/runs/${RUN}/events`);
    const notified = openEventStream(`${listenOnlyApp.url}/api/runs/${RUN}/events`);
    await stream.done;
    const result = await exited;
    // Without polling, the workers' notifications alone moved the second stream through the run.
    notified.stop();
    await notified.done;
    const notifiedDone = notified.events.map((e) => (e.data as ReportBody).stages.reduce((n, st) => n + st.done, 0));
    expect(new Set(notifiedDone).size, `done counts via NOTIFY: ${notifiedDone.join(', ')}`).toBeGreaterThanOrEqual(4);
    expect(result.code, result.stderr).toBe(0);
    expect(summaryOf(result).status).toBe('completed');

    const events = stream.events;
    expect(events.at(-1)?.event).toBe('end');
    const progress = events.filter((e) => e.event === 'progress').map((e) => ({ ...e, report: e.data as ReportBody }));
    const tasksDone = (r: ReportBody) => r.stages.find((s) => s.stage === 'tasks')?.done ?? 0;
    const allDone = (r: ReportBody) => r.stages.reduce((n, s) => n + s.done, 0);
    // Events while the migration was running (before the CLI's run completed), with growing counts.
    const during = progress.filter((e) => e.report.status !== 'completed' && openedAt + e.at < (exitedAt ?? Infinity));
    const growing = during.filter((e, i) => i === 0 || allDone(e.report) > allDone(during[i - 1]!.report));
    expect(growing.length, `progress events during the run: ${during.map((e) => allDone(e.report)).join(', ')}`).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < during.length; i++) expect(allDone(during[i]!.report)).toBeGreaterThanOrEqual(allDone(during[i - 1]!.report));
    // Several distinct task counts strictly between none and all: the stream followed the tasks stage.
    const partialTasks = new Set(during.map((e) => tasksDone(e.report)).filter((n) => n > 0 && n < 50_000));
    expect(partialTasks.size, `tasks done seen: ${[...partialTasks].join(', ')}`).toBeGreaterThanOrEqual(2);
    expect(stream.heartbeats()).toBeGreaterThan(0);

    const final = events.at(-1)!.data as ReportBody;
    expect(final.status).toBe('completed');
    expect(final.summary).toEqual(await runSummary(db.pool, RUN));
    // This file's own SQL: the new system's rows and the ledger's rejects, per kind.
    const { rows: [own] } = await db.pool.query<{ projects: number; phases: number; tasks: number; deps: number; rejects: number }>(
      `SELECT (SELECT count(*)::int FROM tms.projects) AS projects, (SELECT count(*)::int FROM tms.phases) AS phases,
              (SELECT count(*)::int FROM tms.tasks) AS tasks, (SELECT count(*)::int FROM tms.task_dependencies) AS deps,
              (SELECT count(*)::int FROM ledger.rejects WHERE run_id = $1) AS rejects`, [RUN]);
    const kind = (k: string) => final.summary.find((s) => s.kind === k)!;
    expect([kind('projects').migrated, kind('phases').migrated, kind('tasks').migrated, kind('task_dependencies').migrated])
      .toEqual([own!.projects, own!.phases, own!.tasks, own!.deps]);
    expect(kind('tasks').migrated).toBe(50_000);
    expect(final.summary.reduce((n, s) => n + s.rejected, 0)).toBe(own!.rejects);
    for (const s of final.stages) expect(s.done, s.stage).toBe(s.total);
  }, 240_000);

  it('lists runs and reports one run per stage and per lifecycle phase', async () => {
    const list = await getJson(`${app.url}/api/runs`);
    expect(list.status).toBe(200);
    expect((list.body.runs as { id: string; status: string }[]).map((r) => [r.id, r.status])).toEqual([[RUN, 'completed']]);

    const one = await getJson(`${app.url}/api/runs/${RUN}`);
    expect(one.status).toBe(200);
    const report = one.body as unknown as ReportBody;
    expect(report.stages.map((s) => s.stage)).toEqual(['projects', 'phases', 'tasks', 'dependencies', 'dependency_cycles', 'workflows']);
    const tasks = report.stages.find((s) => s.stage === 'tasks')!;
    expect(tasks).toMatchObject({ unit: 'records', total: 50_000, done: 50_000, rejected: 0, failed: 0, etaSeconds: 0 });
    expect(tasks.rate).toBeGreaterThan(0);
    expect(report.phases.map((p) => [p.phase, p.status])).toEqual([
      ['prepare', 'not started'], ['migrate', 'passed'], ['verify', 'not started'], ['optimize', 'not started'], ['decommission', 'not started']]);
  });

  it('a restarted server reports the same progress from the ledger', async () => {
    const before = (await getJson(`${app.url}/api/runs/${RUN}`)).body as unknown as ReportBody;
    await app.close();
    app = await startOpsApp(db.url, prefix, { stream: STREAM });
    const after = (await getJson(`${app.url}/api/runs/${RUN}`)).body as unknown as ReportBody;
    expect(after.stages).toEqual(before.stages);
    expect(after.summary).toEqual(before.summary);
    expect(after.phases).toEqual(before.phases);
    // The stream of a finished run: its report, then the end, then the server closes it.
    const stream = openEventStream(`${app.url}/api/runs/${RUN}/events`);
    await stream.done;
    expect(stream.events.map((e) => e.event)).toEqual(['progress', 'end']);
    expect((stream.events[1]!.data as ReportBody).summary).toEqual(before.summary);
  });

  it('pages through a run\'s rejects, optionally of one kind', async () => {
    const result = await runCli(['migrate', '--skip-prepare', '--legacy-data', badDir, '--run-id', BAD_RUN, ...connectionArgs(badDb, prefix, REDIS_URL),
      '--workers', '1', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const all = await listRejects(badDb.pool, BAD_RUN, { limit: 100_000, offset: 0 });
    expect(all.length).toBeGreaterThan(20);

    const pages: unknown[] = [];
    for (let offset = 0; ; offset += 7) {
      const page = await getJson(`${badApp.url}/api/runs/${BAD_RUN}/rejects?limit=7&offset=${offset}`);
      expect(page.status).toBe(200);
      expect(page.body).toMatchObject({ runId: BAD_RUN, limit: 7, offset, total: all.length });
      const rows = page.body.rejects as unknown[];
      pages.push(...rows);
      if (rows.length < 7) break;
    }
    expect(pages).toEqual(JSON.parse(JSON.stringify(all)));

    const tasks = await getJson(`${badApp.url}/api/runs/${BAD_RUN}/rejects?kind=tasks&limit=1000`);
    const taskRejects = all.filter((r) => r.kind === 'tasks');
    expect(tasks.body.total).toBe(taskRejects.length);
    expect((tasks.body.rejects as { kind: string }[]).length).toBe(taskRejects.length);
    expect(new Set((tasks.body.rejects as { kind: string }[]).map((r) => r.kind))).toEqual(new Set(['tasks']));
    const defaults = await getJson(`${badApp.url}/api/runs/${BAD_RUN}/rejects`);
    expect(defaults.body).toMatchObject({ limit: 100, offset: 0, kind: null });

    // The run's report counts the same rejects per stage.
    const report = (await getJson(`${badApp.url}/api/runs/${BAD_RUN}`)).body as unknown as ReportBody;
    expect(report.summary.reduce((n, s) => n + s.rejected, 0)).toBe(all.length);
  }, 120_000);

  it('answers 404 for an unknown run and 400 for malformed parameters, as JSON errors', async () => {
    for (const path of ['/api/runs/no-such-run', '/api/runs/no-such-run/rejects', '/api/runs/no-such-run/events']) {
      const res = await getJson(`${badApp.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.body).toEqual({ error: 'Run no-such-run is not in the ledger' });
    }
    const cases: [string, RegExp][] = [
      ['limit=0', /limit must be at least 1/],
      ['limit=1001', /limit must be at most 1000/],
      ['limit=ten', /limit must be a whole number/],
      ['offset=-5', /offset must be a whole number/],
      ['limit=1.5', /limit must be a whole number/],
      ['kind=widgets', /kind must be one of projects, phases, tasks, task_dependencies/],
      ['page=2', /unknown parameter page/],
      ['limit=5&limit=6', /limit must be given once/],
    ];
    for (const [query, message] of cases) {
      const res = await getJson(`${badApp.url}/api/runs/${BAD_RUN}/rejects?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error, query).toMatch(message);
    }
    const badId = await getJson(`${badApp.url}/api/runs/${encodeURIComponent('bad:id')}`);
    expect(badId.status).toBe(400);
    expect(badId.body.error).toMatch(/run id/);
  });

  it('taskfleet follow exits 0 for a completed run, 1 for a failed one, 3 for one over its reject limit', async () => {
    const done = await runCli(['follow', RUN, '--server', app.url, '--json'], { timeoutMs: 30_000 });
    expect(done.code, done.stderr).toBe(0);
    const lines = jsonLines(done.stdout);
    expect(lines[0]).toMatchObject({ event: 'progress', runId: RUN });
    expect(lines.at(-1)).toEqual({ event: 'summary', runId: RUN, status: 'completed', kinds: await runSummary(db.pool, RUN), overRejectLimit: null });

    await insertRun(badDb.pool, { id: 'broken', legacyDir: badDir, fingerprint: 'x', options: { mapping: {} as never, chunkSize: 1, chunkMaxBytes: 1024, maxRejects: null } });
    await updateRun(badDb.pool, 'broken', { status: 'failed', error: 'a chunk failed for good', finished: true });
    const failed = await runCli(['follow', 'broken', '--server', badApp.url], { timeoutMs: 30_000 });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/Run broken: failed/);
    expect(failed.stderr).toMatch(/a chunk failed for good/);

    // The run with rejects, judged against a limit of 0 (as if migrated with --max-rejects 0): completed,
    // but follow fails it as migrate would (exit 3), and the report says why.
    await badDb.pool.query(`UPDATE ledger.runs SET options = jsonb_set(options, '{maxRejects}', '0') WHERE id = $1`, [BAD_RUN]);
    const rejected = (await listRejects(badDb.pool, BAD_RUN, { limit: 100_000, offset: 0 })).length;
    const over = await runCli(['follow', BAD_RUN, '--server', badApp.url, '--no-progress'], { timeoutMs: 30_000 });
    expect(over.code, over.stderr).toBe(3);
    expect(over.stdout).toContain(`Run ${BAD_RUN}: completed`);
    expect(over.stderr).toContain(`${rejected} records were rejected, more than --max-rejects 0: see \`taskfleet rejects ${BAD_RUN}\``);
    expect((await getJson(`${badApp.url}/api/runs/${BAD_RUN}`)).body.overRejectLimit).toEqual({ rejected, limit: 0 });

    const unknown = await runCli(['follow', 'nope', '--server', badApp.url], { timeoutMs: 30_000 });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Run nope is not in the ledger/);
  }, 60_000);
});

describe('rate, ETA and phases (pure)', () => {
  const now = 10_000;
  it('a running stage\'s rate counts the recent window only; its ETA is what is left at that rate', () => {
    // 600 of 1000 done; 120 finished in the last 60 s of a stage that started 500 s ago.
    expect(stageRate({ total: 1000, done: 600 }, { stage: 'tasks', firstDoneAt: 9600, lastDoneAt: 9990, recent: 120 }, 9500, now, 60))
      .toEqual({ rate: 2, etaSeconds: 200 });
    // A stage that started 30 s ago: the window is those 30 s.
    expect(stageRate({ total: 100, done: 30 }, { stage: 'tasks', firstDoneAt: 9980, lastDoneAt: 9990, recent: 30 }, 9970, now, 60))
      .toEqual({ rate: 1, etaSeconds: 70 });
    // Nothing finished lately: no rate, no ETA.
    expect(stageRate({ total: 100, done: 30 }, { stage: 'tasks', firstDoneAt: 1, lastDoneAt: 2, recent: 0 }, 0, now, 60)).toEqual({ rate: 0, etaSeconds: null });
    expect(stageRate({ total: 100, done: 0 }, undefined, null, now, 60)).toEqual({ rate: 0, etaSeconds: null });
  });

  it('a finished stage\'s rate is its average from its start to its last unit; ETA 0', () => {
    expect(stageRate({ total: 500, done: 500 }, { stage: 'phases', firstDoneAt: 1010, lastDoneAt: 1050, recent: 0 }, 1000, now, 60))
      .toEqual({ rate: 10, etaSeconds: 0 });
  });

  it('reports each lifecycle phase by its latest event, rollback only once it happened', () => {
    const at = new Date(0);
    const event = (id: number, phase: 'prepare' | 'migrate' | 'rollback', outcome: 'passed' | 'failed' | 'running') => ({
      id, runId: 'r', preparationId: null, phase, startedAt: at, finishedAt: outcome === 'running' ? null : at, outcome, summary: null, error: null,
    });
    expect(phaseReports([event(1, 'migrate', 'failed'), event(2, 'migrate', 'running')]).map((p) => [p.phase, p.status])).toEqual([
      ['prepare', 'not started'], ['migrate', 'running'], ['verify', 'not started'], ['optimize', 'not started'], ['decommission', 'not started']]);
    expect(phaseReports([event(1, 'rollback', 'passed')]).at(-1)).toMatchObject({ phase: 'rollback', status: 'passed' });
  });

  it('follow splits a Server-Sent Events stream into events, across chunk boundaries and CRLFs', async () => {
    const text = 'retry: 3000\n\n: heartbeat\n\nid: 1\nevent: progress\ndata: {"a":1}\n\nevent: end\r\ndata: {"b":\r\ndata: 2}\r\n\r\n';
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
        controller.close();
      },
    });
    const events = [];
    for await (const e of serverEvents(body)) events.push(e);
    expect(events).toEqual([{ event: 'progress', data: '{"a":1}' }, { event: 'end', data: '{"b":\n2}' }]);
  });
});
