// Prometheus reads a counter that goes down as a reset (and increase() then counts the whole value again):
// every counter the operations server exports must only go up, however the ledger changes. The ledger
// is changed here as the fleet changes it: the dependency cycle check records a stage with negative
// migrated deltas, and a run's ledger rows go away with it (rollback lowers the tms counts likewise).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertRunningRun, parsePrometheus, sampleValue, startLedgerOpsApp, type OpsApp } from './helpers/ops-app.js';
import type { TestDatabase } from './helpers/services.js';

let db: TestDatabase;
let app: OpsApp;
let close: () => Promise<void>;

/** Every counter sample of a scrape, by name and labels. */
async function counters(): Promise<{ text: string; values: Map<string, number> }> {
  const text = await fetch(`${app.url}/metrics`).then((r) => r.text());
  const values = new Map<string, number>();
  for (const family of parsePrometheus(text).filter((f) => f.type === 'COUNTER')) {
    for (const m of family.metrics) values.set(`${family.name}${JSON.stringify(m.labels ?? {})}`, Number(m.value));
  }
  return { text, values };
}

async function doneChunk(runId: string, stage: string, chunkNo: number, migrated: number, rejected: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO ledger.chunks (run_id, stage, chunk_no, kind, status, legacy_records, migrated, rejected, done_at, duration_ms)
     VALUES ($1, $2, $3, 'task_dependencies', 'done', $4, $5, $6, now(), 10)`, [runId, stage, chunkNo, Math.max(migrated, 0) + rejected, migrated, rejected]);
}

beforeAll(async () => {
  ({ db, app, close } = await startLedgerOpsApp('server_metrics_monotone'));
});

afterAll(async () => {
  await close?.();
});

describe('/metrics counters', () => {
  it('never go down when the ledger\'s counts do; those counts are gauges', async () => {
    await insertRunningRun(db.pool, 'monotone');
    await doneChunk('monotone', 'dependencies', 0, 10, 0);
    const first = await counters();
    // The cycle check deletes an edge the dependencies stage counted: migrated -1, rejected +1.
    await doneChunk('monotone', 'dependency_cycles', 0, -1, 1);
    const second = await counters();
    await db.pool.query(`DELETE FROM ledger.runs WHERE id = 'monotone'`);
    const third = await counters();
    for (const [earlier, later] of [[first, second], [second, third]] as const) {
      for (const [series, value] of earlier.values) expect(later.values.get(series) ?? 0, series).toBeGreaterThanOrEqual(value);
    }
    expect(first.values.size).toBeGreaterThan(0);
    // The ledger's counts, as gauges: what it holds at each scrape.
    expect(sampleValue(first.text, 'taskfleet_entities_migrated', { kind: 'task_dependencies' })).toBe(10);
    expect(sampleValue(second.text, 'taskfleet_entities_migrated', { kind: 'task_dependencies' })).toBe(9);
    expect(sampleValue(third.text, 'taskfleet_entities_migrated', { kind: 'task_dependencies' })).toBeNull();
  });
});
