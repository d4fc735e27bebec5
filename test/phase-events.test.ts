// phaseEvents(run): the phases of this run and of the prepare it started from — not those of another
// run planned from the same prepare (a rollback, then migrate again, makes one: `status` and the
// progress API showed that run's migrate as this run's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPreparation } from '../src/ledger/preparations.js';
import { insertRun } from '../src/ledger/runs.js';
import { closeInterruptedPhases, finishPhase, phaseEvents, startPhase } from '../src/lifecycle/phase-events.js';
import { prepareDatabase } from '../src/store/database.js';
import { createTestDatabase, type TestDatabase } from './helpers/services.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('phase_events');
  await prepareDatabase(db.url);
});
afterAll(async () => { await db?.drop(); });

describe('phaseEvents', () => {
  it('lists the run\'s own phases and its prepare, not a sibling run\'s', async () => {
    const preparationId = await insertPreparation(db.pool, { legacyDir: '/data', manifest: { version: 1, files: [], sha256: 'a'.repeat(64) }, mappingSha256: 'b'.repeat(64), templatesSha256: null, backupDir: null, reportPath: null });
    const options = { mapping: { fields: {}, values: {}, defaults: {}, timezone: 'UTC' as const, maxRecordBytes: 1024 }, chunkSize: 1, chunkMaxBytes: 1024, maxRejects: null };
    await insertRun(db.pool, { id: 'first', legacyDir: '/data', fingerprint: 'f1', options, preparationId });
    await insertRun(db.pool, { id: 'second', legacyDir: '/data', fingerprint: 'f2', options, preparationId });
    const record = async (phase: 'prepare' | 'migrate' | 'rollback', ids: { runId?: string; preparationId?: number }) =>
      finishPhase(db.pool, await startPhase(db.pool, phase, ids), 'passed');
    await record('prepare', { preparationId });
    await record('migrate', { runId: 'first', preparationId });
    await record('rollback', { runId: 'first' });
    await record('migrate', { runId: 'second', preparationId });

    const of = async (runId: string) => (await phaseEvents(db.pool, runId)).map((e) => `${e.phase}:${e.runId ?? '-'}`);
    expect(await of('first')).toEqual(['prepare:-', 'migrate:first', 'rollback:first']);
    expect(await of('second')).toEqual(['prepare:-', 'migrate:second']);
  });

  // A producer SIGKILLed mid-run left its migrate 'running' in `status` for good, next to the resume's.
  it('a migrate event left running by a dead producer is closed as interrupted when another takes the run over', async () => {
    const dead = await startPhase(db.pool, 'migrate', { runId: 'first' });
    const verifying = await startPhase(db.pool, 'verify', { runId: 'first' });
    expect(await closeInterruptedPhases(db.pool, 'first')).toBe(1);
    const events = await phaseEvents(db.pool, 'first');
    const closed = events.find((e) => e.id === dead);
    expect(closed?.outcome).toBe('failed');
    expect(closed?.error).toMatch(/^interrupted: its producer stopped/);
    expect(events.find((e) => e.id === verifying)?.outcome).toBe('running');
    expect(await closeInterruptedPhases(db.pool, 'second')).toBe(0);
  });
});
