// Checks: one workflow per task of the run, and a sample of the run's workflows ran successfully.
// Workflows are created with their tasks; a run from before workflows existed has none, and gets both
// checks reported as skipped, with that reason, rather than failed or silently passed.
import type { PoolClient } from '../../store/pool.js';
import { collectMismatches, countOf, runCheck, type CheckResult, type MismatchSample } from '../check-result.js';
import { migratedByRun } from '../scope.js';

const SUCCESS = ['succeeded', 'cached'];

interface TaskRow { legacy_id: string | null; task_id: string; workflows: number }
interface RunRow { workflow_id: string; legacy_id: string | null; status: string | null; error: string | null }

const PER_TASK_SQL = `
  SELECT t.legacy_id, t.id::text AS task_id, count(w.id)::int AS workflows
  FROM tms.tasks t LEFT JOIN tms.workflows w ON w.task_id = t.id
  WHERE ${migratedByRun('t')} GROUP BY t.id, t.legacy_id HAVING count(w.id) <> 1
  UNION ALL
  SELECT NULL, w.task_id::text, 1 FROM tms.workflows w
  WHERE ${migratedByRun('w')} AND NOT EXISTS (SELECT 1 FROM tms.tasks t WHERE t.id = w.task_id)`;

// The latest run of each sampled workflow ($2: sample size), in one pass over workflow_runs (by id:
// attempt numbers restart with every run).
const SAMPLE_SQL = `
  WITH sample AS (SELECT id, task_id FROM tms.workflows w WHERE ${migratedByRun('w')} AND run_mode = 'on-migrate' ORDER BY random() LIMIT $2),
  latest AS (SELECT DISTINCT ON (r.workflow_id) r.workflow_id, r.status, r.error FROM tms.workflow_runs r
             WHERE r.workflow_id IN (SELECT id FROM sample) ORDER BY r.workflow_id, r.id DESC)
  SELECT s.id::text AS workflow_id, t.legacy_id, l.status, l.error
  FROM sample s LEFT JOIN latest l ON l.workflow_id = s.id LEFT JOIN tms.tasks t ON t.id = s.task_id`;

export async function checkWorkflows(client: PoolClient, runId: string, sampleSize: number, maxSamples: number): Promise<CheckResult[]> {
  const workflows = await countOf(client, `SELECT count(*) AS n FROM tms.workflows w WHERE ${migratedByRun('w')}`, [runId]);
  const tasks = workflows === 0 ? await countOf(client, `SELECT count(*) AS n FROM tms.tasks t WHERE ${migratedByRun('t')}`, [runId]) : null;
  const none = workflows > 0 ? undefined : tasks === 0 ? `run ${runId} migrated no task, so it has no workflows`
    : `run ${runId} has no workflows (it was migrated by a version of taskfleet without task workflows)`;

  const perTask = await runCheck('one_workflow_per_task', 'every task of the run has exactly one workflow', async () => {
    if (none) return { skipped: none, checked: 0, mismatches: 0, samples: [] };
    const tasks = await countOf(client, `SELECT count(*) AS n FROM tms.tasks t WHERE ${migratedByRun('t')}`, [runId]);
    const { count, rows } = await collectMismatches<TaskRow>(client, PER_TASK_SQL, [runId], maxSamples);
    const samples: MismatchSample[] = rows.map((r) => ({
      problem: r.legacy_id === null ? `a workflow of the run names task ${r.task_id}, which has no row` : `task ${r.legacy_id} has ${r.workflows} workflows`,
      legacyId: r.legacy_id, taskId: r.task_id, workflows: r.workflows,
    }));
    return { checked: tasks, mismatches: count, samples, details: { workflows } };
  });

  const sampled = await runCheck('workflow_runs', 'a sample of the run\'s workflows ran successfully (latest run succeeded or was cached)', async () => {
    if (none) return { skipped: none, checked: 0, mismatches: 0, samples: [] };
    const { rows } = await client.query<RunRow>(SAMPLE_SQL, [runId, sampleSize]);
    if (rows.length === 0) return { skipped: `no workflow of run ${runId} runs on migrate (all are manual)`, checked: 0, mismatches: 0, samples: [] };
    const failed = rows.filter((r) => r.status === null || !SUCCESS.includes(r.status));
    const samples: MismatchSample[] = failed.slice(0, maxSamples).map((r) => ({
      problem: `the workflow of task ${r.legacy_id ?? '?'} ${r.status === null ? 'never ran' : `ended ${r.status}`}${r.error ? `: ${r.error}` : ''}`,
      workflowId: r.workflow_id, legacyId: r.legacy_id, status: r.status,
    }));
    return { checked: rows.length, mismatches: failed.length, samples, details: { sampleSize } };
  });
  return [perTask, sampled];
}
