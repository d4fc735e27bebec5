// Shared by the workflow tests: the test templates and runner settings, the summary's workflows part,
// and reads of tms.workflows / tms.workflow_runs with the tests' own SQL.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { jsonLines, type SummaryEvent } from './legacy-files.js';
import type { CliResult } from './cli.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
/** runner: local, every alpine image allowed, cache on. */
export const TEST_DAGGER_CONFIG = `${FIXTURES}workflow-dagger.yaml`;

export interface WorkflowsSummary {
  workflows: number;
  created: number;
  onMigrate: number;
  total: number;
  done: number;
  succeeded: number;
  failed: number;
  cached: number;
  abandoned: number;
}

export function workflowsOf(result: CliResult): WorkflowsSummary {
  const summary = jsonLines(result.stdout).filter((e) => e.event === 'summary').at(-1) as (SummaryEvent & { workflows?: WorkflowsSummary | null }) | undefined;
  if (!summary?.workflows) throw new Error(`no workflows in the summary (exit ${String(result.code)}):\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-3000)}`);
  return summary.workflows;
}

/** workflow_runs rows of a run, by status. */
export async function attemptsByStatus(pool: pg.Pool, runId: string): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM tms.workflow_runs WHERE run_id = $1 GROUP BY status ORDER BY status', [runId]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export function describeResult(r: CliResult): string {
  return `code ${r.code} signal ${r.signal}\n--- stderr (tail)\n${r.stderr.slice(-4000)}\n--- stdout (tail)\n${r.stdout.slice(-1500)}`;
}

/** Writes DIR/default.yaml: one on-migrate step (alpine image; `command` is the script for `sh -c`). */
export async function writeOneStepTemplate(dir: string, step: { name: string; script: string; env: Record<string, string>; timeoutSeconds: number }): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'default.yaml'), [
    'version: "1"', 'run: on-migrate', 'steps:', `  - name: ${step.name}`, '    image: alpine:3.20',
    `    command: [sh, -c, ${JSON.stringify(step.script)}]`, `    env: ${JSON.stringify(step.env)}`, `    timeoutSeconds: ${step.timeoutSeconds}`, ''].join('\n'));
}
