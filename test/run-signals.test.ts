// `taskfleet run` stopped by SIGTERM (kill, systemd, Kubernetes) in the middle of its migrate phase: the
// signal reaches the phase command, which stops as it does by hand (its run left resumable, its workers
// stopped), the migrate phase is recorded failed in the ledger, no further phase starts, the lifecycle
// line is printed and the exit code is 143. No process of the run is left behind.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectionArgs, startCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { FLEET_APP_NAME, jsonLines } from './helpers/legacy-files.js';
import { useGeneratedDumps } from './helpers/generated-dumps.js';

const dumps = useGeneratedDumps('run-signals', { legacy: { projects: 30, phasesPerProject: 4, tasks: 30_000, format: 'jsonl', seed: 31 } });

async function fleetSessions(): Promise<number> {
  const { rows: [r] } = await dumps.db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1', [FLEET_APP_NAME]);
  return r!.n;
}

describe('taskfleet run and signals', () => {
  it('SIGTERM during migrate stops the phase as by hand, records it, starts no other phase and exits 143', async () => {
    const run = startCli(['run', '--legacy-data', dumps.dir('legacy'), '--workers', '1', '--chunk-size', '100', '--no-progress',
      '--backup', join(dumps.root, 'backup'), '--logs-dir', join(dumps.root, 'logs'), '--validation-report', join(dumps.root, 'reports', 'validation.json'),
      ...connectionArgs(dumps.db, dumps.prefix)], { cwd: dumps.root, env: { PGAPPNAME: FLEET_APP_NAME }, timeoutMs: 240_000 });
    await waitFor(async () => {
      const { rows } = await dumps.db.pool.query(`SELECT 1 FROM ledger.chunks WHERE stage = 'tasks' AND status = 'done' OFFSET 4`).catch(() => ({ rows: [] }));
      return rows.length > 0;
    }, 'five task chunks', 120_000);
    run.child.kill('SIGTERM');
    const result = await run.result;

    expect(result.code, result.stderr).toBe(143);
    const lifecycle = jsonLines(result.stdout).find((e) => e.event === 'lifecycle') as { exitCode: number; runId: string; phases: { phase: string; outcome: string; error?: string }[] } | undefined;
    expect(lifecycle?.exitCode).toBe(143);
    expect(lifecycle?.phases.map((p) => [p.phase, p.outcome])).toEqual([['prepare', 'passed'], ['migrate', 'failed']]);
    expect(lifecycle?.phases[1]?.error).toMatch(/^interrupted: run \S+ is left where it stopped .* Finish it with: taskfleet resume \S+ --prefix '\{tf_run_signals_\w+\}'$/);
    expect(result.stderr).toContain('Stopped by SIGTERM: verify, optimize, decommission not run');
    // The run it left (to resume or roll back), for scripts: named though migrate printed no summary.
    const { rows: [planned] } = await dumps.db.pool.query<{ id: string }>('SELECT id FROM ledger.runs');
    expect(lifecycle?.runId).toBe(planned!.id);

    const { rows: events } = await dumps.db.pool.query<{ phase: string; outcome: string }>('SELECT phase, outcome FROM ledger.phase_events ORDER BY id');
    expect(events).toEqual([{ phase: 'prepare', outcome: 'passed' }, { phase: 'migrate', outcome: 'failed' }]);
    const { rows: [chunks] } = await dumps.db.pool.query<{ done: number; total: number }>(
      `SELECT count(*) FILTER (WHERE status = 'done')::int AS done, count(*)::int AS total FROM ledger.chunks`);
    expect(chunks!.done).toBeLessThan(chunks!.total);
    // The migrate command and its worker ended with the lifecycle: none of their sessions is left.
    await waitFor(async () => (await fleetSessions()) === 0, 'the run\'s processes to end', 15_000);
  }, 300_000);
});
