// The live stream's `end` event carries the final phase states: a producer marks its run completed first
// and closes the migrate phase's row after (it stops its workers and writes the summary in between), so
// the stream waits, bounded, for that row. The ledger is driven here by hand, as the producer drives it,
// against real Postgres (the routers alone, test/helpers/ops-app.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateRun } from '../src/ledger/runs.js';
import { finishPhase, startPhase } from '../src/lifecycle/phase-events.js';
import { waitFor } from './helpers/ledger.js';
import { insertRunningRun, openEventStream, startLedgerOpsApp, type OpsApp, type StreamEvent } from './helpers/ops-app.js';
import type { TestDatabase } from './helpers/services.js';

let db: TestDatabase;
let app: OpsApp;
let close: () => Promise<void>;

interface Report { status: string; phases: { phase: string; status: string }[] }
const migratePhase = (e: StreamEvent | undefined) => (e?.data as Report | undefined)?.phases.find((p) => p.phase === 'migrate')?.status;

async function runningRun(id: string): Promise<number> {
  await insertRunningRun(db.pool, id);
  return startPhase(db.pool, 'migrate', { runId: id });
}

beforeAll(async () => {
  ({ db, app, close } = await startLedgerOpsApp('server_stream_end', { stream: { pollMs: 300, heartbeatMs: 10_000, minIntervalMs: 100, phaseCloseWaitMs: 20_000 } }));
});

afterAll(async () => {
  await close?.();
});

describe('the end event', () => {
  it('waits for the migrate phase to close after the run completed, and shows it passed', async () => {
    const phase = await runningRun('closing');
    const stream = openEventStream(`${app.url}/api/runs/closing/events`);
    await waitFor(() => Promise.resolve(stream.events.length > 0), 'the first progress event', 10_000);
    await updateRun(db.pool, 'closing', { status: 'completed', finished: true });
    // The stream has seen the run completed (several polls), with the phase still open ...
    await waitFor(() => Promise.resolve(stream.events.some((e) => (e.data as Report).status === 'completed')), 'the completed status', 10_000);
    await new Promise((r) => setTimeout(r, 700));
    // ... and the producer closes it now.
    await finishPhase(db.pool, phase, 'passed', { summary: {} });
    await stream.done;
    const end = stream.events.at(-1)!;
    expect(end.event).toBe('end');
    expect((end.data as Report).status).toBe('completed');
    expect(migratePhase(end)).toBe('passed');
    const ledger = await fetch(`${app.url}/api/runs/closing`).then((r) => r.json() as Promise<Report>);
    expect((end.data as Report).phases).toEqual(ledger.phases);
  });

  it('does not wait for a phase a producer left open long ago', async () => {
    await runningRun('left-open');
    await updateRun(db.pool, 'left-open', { status: 'completed', finished: true });
    await db.pool.query(`UPDATE ledger.runs SET finished_at = now() - interval '1 hour' WHERE id = 'left-open'`);
    const opened = Date.now();
    const stream = openEventStream(`${app.url}/api/runs/left-open/events`);
    await stream.done;
    expect(Date.now() - opened).toBeLessThan(5000);
    expect(stream.events.at(-1)!.event).toBe('end');
    expect(migratePhase(stream.events.at(-1))).toBe('running');
  });
});
