// Issue 4, acceptance 1, end to end through the built CLI (real Redis and Postgres, local runner):
// 10k generated tasks of several types migrate with two workers and test templates
// (test/fixtures/workflow-templates: feature runs on migrate with two steps, chore runs on migrate and
// always exits 1, bug and default are created only). Checked with this file's own SQL and hashing:
// every task has exactly one workflow, from its type's template stored once, whose definition rendered
// from that template and the task hashes to the stored hash; every on-migrate workflow ran
// (feature: succeeded, chore: failed with exit code 1 and the tail of its output); workflow_runs holds
// one row per attempt; the migrate summary says so; Bull Board's job names carry the task's legacy id
// and title; the same migrate command again writes nothing.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { loadWorkflow } from '../src/store/workflow-definitions.js';
import { connectionArgs, runCli } from './helpers/cli.js';
import { writeCounters } from './helpers/ledger.js';
import { firstOf, runFleet, summaryOf } from './helpers/legacy-files.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';
import { attemptsByStatus, describeResult, FIXTURES, TEST_DAGGER_CONFIG, workflowsOf } from './helpers/workflows.js';

const TASKS = 10_000;
const TEMPLATES = `${FIXTURES}workflow-templates`;
const prefix = uniquePrefix('workflows');
let root: string;
let db: TestDatabase;
let args: string[];
let runId: string;

interface TemplateFile { version: string; run: string; steps: { name: string; command: string[] }[] }
const templates = new Map<string, TemplateFile>();

/** JSON with sorted keys (this file's own canonical form, for the definition hash). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'taskfleet-workflows-'));
  for (const name of ['default', 'bug', 'feature', 'chore']) {
    templates.set(name, parseYaml(await readFile(join(TEMPLATES, `${name}.yaml`), 'utf8')) as TemplateFile);
  }
  db = await createTestDatabase('workflows');
  const dir = join(root, 'legacy');
  await generateLegacyData({ out: dir, format: 'jsonl', projects: 100, phasesPerProject: 5, tasks: TASKS, seed: 41 });
  args = ['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', '--json',
    '--templates-dir', TEMPLATES, '--dagger-config', TEST_DAGGER_CONFIG];
});

afterAll(async () => {
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('workflows of 10k migrated tasks (local runner, 2 workers)', () => {
  it('migrates, creating one workflow per task and running every on-migrate one', async () => {
    const result = await runFleet(db.pool, args);
    expect(result.code, describeResult(result)).toBe(0);
    const summary = summaryOf(result);
    expect(summary.status).toBe('completed');
    runId = summary.runId;

    // Every task has exactly one workflow, of its own legacy id, from its type's template.
    const { rows: tasks } = await db.pool.query<{ legacy_id: string; title: string; type: string; workflows: number }>(
      `SELECT t.legacy_id, t.title, t.type, count(w.id)::int AS workflows FROM tms.tasks t LEFT JOIN tms.workflows w ON w.task_id = t.id
        GROUP BY t.id`);
    expect(tasks.length).toBe(TASKS);
    expect(firstOf(tasks.filter((t) => t.workflows !== 1).map((t) => `${t.legacy_id}: ${t.workflows} workflows`))).toEqual([]);
    const { rows: [orphans] } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM tms.workflows w WHERE NOT EXISTS (SELECT 1 FROM tms.tasks t WHERE t.id = w.task_id)');
    expect(orphans!.n).toBe(0);
    const types = new Map<string, number>();
    for (const t of tasks) types.set(t.type, (types.get(t.type) ?? 0) + 1);
    expect([...types.keys()].sort()).toEqual(['bug', 'chore', 'default', 'feature']);

    // Each template is stored once (tms.workflow_templates), its steps as the template file has them.
    const { rows: stored } = await db.pool.query<{ id: string; name: string; version: string; run_mode: string; steps: { command: string[] }[]; run_id: string }>(
      'SELECT id::text, name, version, run_mode, steps, run_id FROM tms.workflow_templates');
    expect(stored.map((t) => t.name).sort()).toEqual(['bug', 'chore', 'default', 'feature']);
    for (const t of stored) {
      const file = templates.get(t.name)!;
      expect({ version: t.version, run: t.run_mode, commands: t.steps.map((st) => st.command), runId: t.run_id })
        .toEqual({ version: String(file.version), run: file.run, commands: file.steps.map((st) => st.command), runId });
    }

    const { rows: workflows } = await db.pool.query<{
      id: string; legacy_id: string; task_legacy_id: string; title: string; type: string; template: string; template_version: string;
      stored_template: string | null; run_mode: string; definition_hash: string; run_id: string; last_run_id: string;
    }>(`SELECT w.id::text, w.legacy_id, t.legacy_id AS task_legacy_id, t.title, t.type, w.template, w.template_version, tpl.name AS stored_template,
               w.run_mode, w.definition_hash, w.run_id, w.last_run_id
          FROM tms.workflows w JOIN tms.tasks t ON t.id = w.task_id LEFT JOIN tms.workflow_templates tpl ON tpl.id = w.template_id`);
    const problems: string[] = [];
    const client = await db.pool.connect();
    try {
      for (const w of workflows) {
        const template = templates.get(w.type)!;
        const where = `task ${w.task_legacy_id}`;
        if (w.legacy_id !== w.task_legacy_id) problems.push(`${where}: workflow legacy_id ${w.legacy_id}`);
        if (w.template !== w.type || w.stored_template !== w.type || w.template_version !== String(template.version) || w.run_mode !== template.run) {
          problems.push(`${where}: template ${w.template} (stored: ${w.stored_template}) v${w.template_version} ${w.run_mode}, expected ${w.type} v${template.version} ${template.run}`);
        }
        // The definition as it runs, rendered from the stored template and the task: the task reaches it
        // as data, the commands are the template's untouched, and its hash (this file's own) is the stored one.
        const loaded = await loadWorkflow(client, w.id);
        const definition = loaded!.definition;
        if (definition.inputs.env.TASK_LEGACY_ID !== w.task_legacy_id || definition.inputs.env.TASK_TITLE !== w.title
          || (JSON.parse(definition.inputs.file) as { title: string }).title !== w.title) problems.push(`${where}: inputs`);
        if (canonical(definition.steps.map((st) => st.command)) !== canonical(template.steps.map((st) => st.command))) problems.push(`${where}: commands differ from the template`);
        if (createHash('sha256').update(canonical(definition)).digest('hex') !== w.definition_hash) problems.push(`${where}: definition_hash is not the definition's hash`);
        if (w.run_id !== runId || w.last_run_id !== runId) problems.push(`${where}: run ${w.run_id}/${w.last_run_id}`);
      }
    } finally {
      client.release();
    }
    expect(firstOf(problems)).toEqual([]);

    // Every on-migrate workflow ran once: features succeeded, chores failed with exit 1; manual ones never ran.
    const onMigrate = (types.get('feature') ?? 0) + (types.get('chore') ?? 0);
    expect(onMigrate).toBeGreaterThan(TASKS / 5);
    const { rows: runs } = await db.pool.query<{
      type: string; legacy_id: string; title: string; project_id: string; status: string; attempt: number; exit_code: number | null;
      output_tail: string | null; output_digest: string | null; duration_ms: number | null; run_id: string; job_id: string | null;
      runner: string | null; cache_hit: boolean; finished_at: Date | null;
    }>(`SELECT t.type, t.legacy_id, t.title, t.project_id::text, r.status, r.attempt, r.exit_code, r.output_tail, r.output_digest,
               r.duration_ms, r.run_id, r.job_id, r.runner, r.cache_hit, r.finished_at
          FROM tms.workflow_runs r JOIN tms.workflows w ON w.id = r.workflow_id JOIN tms.tasks t ON t.id = w.task_id`);
    expect(runs.length).toBe(onMigrate);
    const wrong: string[] = [];
    const seen = new Set<string>();
    for (const r of runs) {
      const where = `task ${r.legacy_id} (${r.type})`;
      if (seen.has(r.legacy_id)) wrong.push(`${where}: ran twice`);
      seen.add(r.legacy_id);
      if (r.attempt !== 1 || r.run_id !== runId || r.cache_hit || r.runner !== 'local' || r.finished_at === null) wrong.push(`${where}: attempt ${r.attempt} run ${r.run_id} runner ${r.runner}`);
      if (!r.job_id?.startsWith(`${runId}.`) || r.duration_ms === null || !/^[0-9a-f]{64}$/.test(r.output_digest ?? '')) wrong.push(`${where}: job ${r.job_id} duration ${r.duration_ms} digest ${r.output_digest}`);
      if (r.type === 'feature') {
        if (r.status !== 'succeeded' || r.exit_code !== 0) wrong.push(`${where}: ${r.status} exit ${r.exit_code}`);
        else if (r.output_tail !== `${r.title}\ndone ${r.project_id}\n`) wrong.push(`${where}: output ${JSON.stringify(r.output_tail)}`);
      } else if (r.type === 'chore') {
        if (r.status !== 'failed' || r.exit_code !== 1) wrong.push(`${where}: ${r.status} exit ${r.exit_code}`);
        else if (!r.output_tail?.includes(`chores are refused: ${r.legacy_id}`)) wrong.push(`${where}: output ${JSON.stringify(r.output_tail)}`);
      } else {
        wrong.push(`${where}: a manual workflow ran`);
      }
    }
    expect(firstOf(wrong)).toEqual([]);
    expect(await attemptsByStatus(db.pool, runId)).toEqual({ failed: types.get('chore'), succeeded: types.get('feature') });

    // The summary reports the same.
    expect(workflowsOf(result)).toEqual({
      workflows: TASKS, created: TASKS, onMigrate, total: onMigrate, done: onMigrate,
      succeeded: types.get('feature'), failed: types.get('chore'), cached: 0, abandoned: 0,
    });

    // Bull Board: the workflows queue's jobs are named after the run, the task's legacy id and its title.
    const queue = new Queue('workflows', { connection: { url: REDIS_URL }, prefix });
    try {
      const jobs = await queue.getJobs(['completed'], 0, 200);
      expect(jobs.length).toBeGreaterThan(0);
      const titles = new Map(tasks.map((t) => [t.legacy_id, t.title]));
      const typeOf = new Map(tasks.map((t) => [t.legacy_id, t.type]));
      // A failed workflow's job completes (a failed step is a result): its return value says why.
      const reasons: string[] = [];
      for (const job of jobs) {
        const legacyId = /· workflow (\S+) ·/.exec(job.name)?.[1] ?? '?';
        const value = job.returnvalue as { outcome: string; error?: string };
        const ok = typeOf.get(legacyId) === 'chore'
          ? value.outcome === 'failed' && value.error === `step refuse exited 1; last output: chores are refused: ${legacyId}`
          : value.outcome === 'succeeded' && value.error === undefined;
        if (!ok) reasons.push(`${job.name}: ${JSON.stringify(value)}`);
      }
      expect(firstOf(reasons)).toEqual([]);
      expect(jobs.some((j) => (j.returnvalue as { outcome: string }).outcome === 'failed'), 'a chore among the jobs read').toBe(true);
      for (const job of jobs) {
        const match = /^(\S+) · workflow (\S+) · (.*)$/s.exec(job.name);
        expect(match, job.name).not.toBeNull();
        const [, jobRun, legacyId, title] = match!;
        expect(jobRun).toBe(runId);
        const full = titles.get(legacyId!);
        expect(full, job.name).toBeDefined();
        expect(title === full || (title!.endsWith('…') && full!.startsWith(title!.slice(0, -1))), job.name).toBe(true);
      }
    } finally {
      await queue.close();
    }
  });

  // Found by the workflows probe: no command listed a run's failed workflows (Bull Board keeps a tail only).
  it('taskfleet workflows RUN lists the failed ones (by default) with exit code and reason, the rest on request', async () => {
    expect(runId, 'the migration above did not complete').toBeDefined();
    const failed = await runCli(['workflows', runId!, '--limit', '100000', ...connectionArgs(db, prefix, REDIS_URL)]);
    expect(failed.code, failed.stderr).toBe(0);
    const { rows: [count] } = await db.pool.query<{ chores: number; features: number; chore: string }>(
      `SELECT count(*) FILTER (WHERE type = 'chore')::int AS chores, count(*) FILTER (WHERE type = 'feature')::int AS features,
              min(legacy_id) FILTER (WHERE type = 'chore') AS chore FROM tms.tasks`);
    const lines = failed.stdout.trim().split('\n');
    expect(lines).toHaveLength(count!.chores);
    expect(lines.find((l) => l.startsWith(`${count!.chore}\t`))).toBe(`${count!.chore}\tchore\tfailed\t1\tstep refuse exited 1; last output: chores are refused: ${count!.chore}`);
    const page = await runCli(['workflows', runId!, '--status', 'succeeded', '--limit', '2', '--json', ...connectionArgs(db, prefix, REDIS_URL)]);
    expect(page.code, page.stderr).toBe(0);
    const shown = page.stdout.trim().split('\n').map((l) => JSON.parse(l) as { status: string; template: string; exitCode: number | null });
    expect(shown).toEqual([expect.objectContaining({ status: 'succeeded', template: 'feature', exitCode: 0 }), expect.objectContaining({ status: 'succeeded' })]);
    expect(page.stderr).toContain(`… ${count!.features - 2} more (of ${count!.features}): --offset 2 lists the next ones`);
    const wrong = await runCli(['workflows', runId!, '--status', 'done', ...connectionArgs(db, prefix, REDIS_URL)]);
    expect([wrong.code, wrong.stderr.trim()]).toEqual([2, 'taskfleet: --status must be one of succeeded, failed, cached, all']);
  });

  it('the same migrate command again writes nothing (workflows and their runs included)', async () => {
    expect(runId, 'the migration above did not complete').toBeDefined();
    const before = await writeCounters(db.pool);
    expect(before.workflows).toBeGreaterThanOrEqual(TASKS);
    expect(before.workflow_runs).toBeGreaterThan(0);
    const again = await runFleet(db.pool, args);
    expect(again.code, describeResult(again)).toBe(0);
    expect(summaryOf(again)).toMatchObject({ runId, status: 'completed' });
    expect(await writeCounters(db.pool)).toEqual(before);
  });
});
