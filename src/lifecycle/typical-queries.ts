// The queries the new system's users run most: what verify times against thresholds and optimize
// tunes for (plans and latencies before and after its indexes). Parameters are sampled from the data.
import type { Pool } from '../store/pool.js';

export interface TypicalQuery {
  name: 'project_tasks' | 'phase_board' | 'user_open_tasks';
  description: string;
  sql: string;
  /** Picks `count` parameter sets from the data (fewer when the data is smaller). */
  sample(db: Pool, count: number): Promise<unknown[][]>;
}

export const TYPICAL_QUERIES: readonly TypicalQuery[] = [
  {
    name: 'project_tasks',
    description: "a project's tasks, newest first",
    sql: 'SELECT id, title, status, priority, assignee, due_on FROM tms.tasks WHERE project_id = $1 ORDER BY created_at DESC NULLS LAST LIMIT 200',
    sample: async (db, count) => (await db.query<{ id: string }>('SELECT id::text FROM tms.projects ORDER BY random() LIMIT $1', [count])).rows.map((r) => [r.id]),
  },
  {
    name: 'phase_board',
    description: "a phase's board: its tasks grouped by status",
    sql: 'SELECT status, count(*) AS tasks, sum(estimate_hours) AS hours FROM tms.tasks WHERE phase_id = $1 GROUP BY status',
    sample: async (db, count) => (await db.query<{ id: string }>('SELECT id::text FROM tms.phases ORDER BY random() LIMIT $1', [count])).rows.map((r) => [r.id]),
  },
  {
    name: 'user_open_tasks',
    description: "a user's open tasks by priority and due date",
    sql: `SELECT id, title, project_id, priority, due_on FROM tms.tasks
           WHERE assignee = $1 AND status NOT IN ('done', 'cancelled') ORDER BY due_on NULLS LAST LIMIT 200`,
    sample: async (db, count) => (await db.query<{ assignee: string }>(
      `SELECT assignee FROM (SELECT DISTINCT assignee FROM (SELECT assignee FROM tms.tasks WHERE assignee IS NOT NULL LIMIT 100000) a) b ORDER BY random() LIMIT $1`, [count])).rows.map((r) => [r.assignee]),
  },
];

export interface LatencyFigures {
  query: TypicalQuery['name'];
  samples: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs each query `runs` times over sampled parameters (after one warm-up each) and returns p50/p95. */
export async function measureTypicalQueries(db: Pool, runs = 30): Promise<LatencyFigures[]> {
  const figures: LatencyFigures[] = [];
  for (const query of TYPICAL_QUERIES) {
    const params = await query.sample(db, runs);
    const times: number[] = [];
    if (params.length > 0) await db.query(query.sql, params[0]);
    for (let i = 0; i < runs && params.length > 0; i++) {
      const started = performance.now();
      await db.query(query.sql, params[i % params.length]);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 100) / 100;
    figures.push({ query: query.name, samples: times.length, p50Ms: round(percentile(times, 50)), p95Ms: round(percentile(times, 95)), maxMs: round(times.at(-1) ?? 0) });
  }
  return figures;
}
