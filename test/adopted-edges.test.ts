// A later run's cycle check may close a cycle on an edge an earlier run created: run A migrates
// T-1 → T-2 → T-3 (no cycle); run B's dump declares T-3 → T-1 first, then A's two edges, so in B's
// declaration order (the order its prepare predicts from the files alone) the cycle closes on A's
// edge T-2 → T-3, which B deletes. The ledger keeps that edge, and rolling B back puts it back —
// unless an edge added since would then close a cycle.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionArgs, runCli } from './helpers/cli.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const jsonl = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
const task = (id: string, dependsOn: string[]) => ({ id, project_id: 'P-1', title: `task ${id}`, status: 'todo', priority: 'low', depends_on: dependsOn });

describe('a cycle closed by an edge another run created', () => {
  let db: TestDatabase;
  const work = mkdtempSync(join(tmpdir(), 'tf-adopted-edges-'));
  const prefix = uniquePrefix('adopted_edges');

  function legacyDir(name: string, tasks: object[]): string {
    const dir = join(work, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'projects.jsonl'), jsonl([{ id: 'P-1', name: 'One', status: 'active' }]));
    writeFileSync(join(dir, 'phases.jsonl'), '');
    writeFileSync(join(dir, 'tasks.jsonl'), jsonl(tasks));
    return dir;
  }

  async function edges(): Promise<string[]> {
    const { rows } = await db.pool.query<{ edge: string }>(
      `SELECT t.legacy_id || ' -> ' || d.legacy_id || ' (' || e.run_id || ')' AS edge FROM tms.task_dependencies e
       JOIN tms.tasks t ON t.id = e.task_id JOIN tms.tasks d ON d.id = e.depends_on_id ORDER BY 1`);
    return rows.map((r) => r.edge);
  }

  const migrate = (dir: string, runId: string) =>
    runCli(['migrate', '--skip-prepare', '--legacy-data', dir, '--run-id', runId, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '1', '--json']);

  beforeAll(async () => { db = await createTestDatabase('adopted_edges'); });

  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    await db.drop();
    await deleteQueueKeys(prefix);
  });

  /** The later run: its cycle's edge is its one reject (--max-rejects 1). */
  const migrateOneReject = (dir: string, runId: string, ...flags: string[]) =>
    runCli(['migrate', ...flags, '--legacy-data', dir, '--run-id', runId, '--max-rejects', '1', ...connectionArgs(db, prefix, REDIS_URL), '--workers', '1', '--json']);
  /** Run `label`-a migrates X-1 → X-2 → X-3; run `label`-b declares X-3 → X-1 first, so its cycle check deletes a's X-2 → X-3. */
  async function earlierEdgeDeleted(x: string, label: string): Promise<void> {
    const a = await migrate(legacyDir(`${label}-a`, [task(`${x}-1`, [`${x}-2`]), task(`${x}-2`, [`${x}-3`]), task(`${x}-3`, [])]), `${label}-a`);
    expect(a.code, a.stderr).toBe(0);
    const b = await migrateOneReject(legacyDir(`${label}-b`, [task(`${x}-3`, [`${x}-1`]), task(`${x}-1`, [`${x}-2`]), task(`${x}-2`, [`${x}-3`])]), `${label}-b`, '--skip-prepare');
    expect(b.code, b.stderr).toBe(0);
  }
  /** Rolls a run back, expecting it to go through. */
  const rollbackOk = async (runId: string) => {
    const r = await rollback(runId);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return r;
  };
  const rollback = (runId: string, ...flags: string[]) => runCli(['rollback', '--run-id', runId, '--new-data', db.url, ...flags]);

  it('rejects the edge the later run\'s dump closes the cycle with, and rolling that run back puts the earlier run\'s edge back', async () => {
    const a = await migrate(legacyDir('a', [task('T-1', ['T-2']), task('T-2', ['T-3']), task('T-3', [])]), 'edges-a');
    expect(a.code, a.stderr).toBe(0);
    expect(await edges()).toEqual(['T-1 -> T-2 (edges-a)', 'T-2 -> T-3 (edges-a)']);

    // B goes through prepare, migrate and verify: the reject its prepare predicts from the files is the
    // one its migration makes (--max-rejects 1: the cycle's edge is B's one reject).
    const dirB = legacyDir('b', [task('T-3', ['T-1']), task('T-1', ['T-2']), task('T-2', ['T-3'])]);
    const prepared = await runCli(['prepare', '--legacy-data', dirB, '--new-data', db.url, '--max-rejects', '1',
      '--backup', join(work, 'backup'), '--validation-report', join(work, 'validation-b.json')]);
    expect(prepared.code, prepared.stdout + prepared.stderr).toBe(0);
    const b = await migrateOneReject(dirB, 'edges-b');
    expect(b.code, b.stderr).toBe(0);
    const verified = await runCli(['verify', 'edges-b', '--new-data', db.url, '--verification-report', join(work, 'verification-b.json')]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(await edges()).toEqual(['T-1 -> T-2 (edges-a)', 'T-3 -> T-1 (edges-b)']);
    const { rows: rejects } = await db.pool.query<{ run_id: string; kind: string; ref: string; reason: string }>(
      'SELECT run_id, kind, ref, reason FROM ledger.rejects ORDER BY id');
    expect(rejects).toEqual([{ run_id: 'edges-b', kind: 'task_dependencies', ref: 'tasks.jsonl:3#depends_on[0]', reason: 'dependency T-2->T-3 closes a dependency cycle' }]);
    const { rows: kept } = await db.pool.query<{ run_id: string; created_by: string; legacy_id: string }>(
      `SELECT run_id, created_by, edge->>'legacy_id' AS legacy_id FROM ledger.cycle_deleted_edges`);
    expect(kept).toEqual([{ run_id: 'edges-b', created_by: 'edges-a', legacy_id: 'T-2->T-3' }]);

    // A cannot go first: B's rollback puts A's edge back.
    const early = await rollback('edges-a', '--dry-run');
    expect(early.code, early.stderr).toBe(2);
    expect(early.stdout).toContain('1 dependency edge of run edges-a was deleted by the cycle check of a later run (tms.task_dependencies T-2->T-3 by edges-b)');
    expect(early.stdout).toContain('roll back run edges-b first');

    const preview = await rollback('edges-b', '--dry-run');
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain('put back (created by run edges-a, deleted by this run\'s cycle check): tms.task_dependencies T-2->T-3');
    expect(preview.stdout).toContain('A real rollback would proceed.');

    const undoB = await rollback('edges-b');
    expect(undoB.code, undoB.stdout + undoB.stderr).toBe(0);
    expect(undoB.stdout).toContain('put back 1 dependency edge of other runs that this run\'s cycle check had deleted');
    expect(await edges()).toEqual(['T-1 -> T-2 (edges-a)', 'T-2 -> T-3 (edges-a)']);

    // The same migrate again (a rolled-back run may run again) deletes the edge again; so does its rollback put it back.
    const again = await migrateOneReject(dirB, 'edges-b');
    expect(again.code, again.stderr).toBe(0);
    expect(await edges()).toEqual(['T-1 -> T-2 (edges-a)', 'T-3 -> T-1 (edges-b)']);
    expect((await rollback('edges-b')).code).toBe(0);
    expect(await edges()).toEqual(['T-1 -> T-2 (edges-a)', 'T-2 -> T-3 (edges-a)']);

    // The put-back edge is not "changed after run A": A rolls back without --force, and nothing is left.
    await rollbackOk('edges-a');
    expect(await edges()).toEqual([]);
  });

  it('refuses to put an edge back that would close a cycle with an edge added since, until that run is rolled back', async () => {
    await earlierEdgeDeleted('U', 'later');
    // C adds U-3 → U-2: no cycle now, but one with A's U-2 → U-3 once B puts it back.
    const c = await migrate(legacyDir('later-c', [task('U-2', []), task('U-3', ['U-2'])]), 'later-c');
    expect(c.code, c.stderr).toBe(0);
    expect(await edges()).toEqual(['U-1 -> U-2 (later-a)', 'U-3 -> U-1 (later-b)', 'U-3 -> U-2 (later-c)']);

    const refused = await rollback('later-b');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('Putting back 1 dependency edge that run later-b\'s cycle check deleted would now close a cycle with edges of other runs '
      + '(tms.task_dependencies U-2->U-3 of run later-a), through edges of run later-c: roll back run later-c first');
    expect(await edges()).toEqual(['U-1 -> U-2 (later-a)', 'U-3 -> U-1 (later-b)', 'U-3 -> U-2 (later-c)']);

    expect((await rollback('later-c')).code).toBe(0);
    await rollbackOk('later-b');
    expect(await edges()).toEqual(['U-1 -> U-2 (later-a)', 'U-2 -> U-3 (later-a)']);
  });

  it('gives a put-back edge that a later run declared again back to its creator, so that run\'s rollback leaves it', async () => {
    await earlierEdgeDeleted('V', 'again');
    // C declares V-2 → V-3 again while B holds it deleted: C creates it anew.
    expect((await migrate(legacyDir('again-c', [task('V-2', ['V-3']), task('V-3', [])]), 'again-c')).code).toBe(0);
    const vEdges = async () => (await edges()).filter((e) => e.startsWith('V-'));
    expect(await vEdges()).toEqual(['V-1 -> V-2 (again-a)', 'V-2 -> V-3 (again-c)', 'V-3 -> V-1 (again-b)']);

    expect((await rollbackOk('again-b')).stdout).toContain('put back 1 dependency edge');
    expect(await vEdges()).toEqual(['V-1 -> V-2 (again-a)', 'V-2 -> V-3 (again-a)']);
    // C only adopted it now: its rollback leaves it, and A's then removes it, without --force.
    expect((await rollback('again-c')).code).toBe(0);
    expect(await vEdges()).toEqual(['V-1 -> V-2 (again-a)', 'V-2 -> V-3 (again-a)']);
    await rollbackOk('again-a');
    expect(await vEdges()).toEqual([]);
  });

  it('puts an edge back onto a cycle that only earlier runs made (the state before the later run), without refusing', async () => {
    const dir = (name: string, tasks: object[]) => legacyDir(`before-${name}`, tasks);
    // Runs check only their own edges: C's W-1 → W-2 and X's W-2 → W-1 make a cycle across the two.
    expect((await migrate(dir('c', [task('W-1', ['W-2']), task('W-2', [])]), 'before-c')).code).toBe(0);
    expect((await migrate(dir('x', [task('W-2', ['W-1']), task('W-1', [])]), 'before-x')).code).toBe(0);
    // R declares both; in its order W-1 → W-2 closes the cycle, and goes.
    const r = await migrateOneReject(dir('r', [task('W-2', ['W-1']), task('W-1', ['W-2'])]), 'before-r', '--skip-prepare');
    expect(r.code, r.stderr).toBe(0);
    const wEdges = async () => (await edges()).filter((e) => e.startsWith('W-'));
    expect(await wEdges()).toEqual(['W-2 -> W-1 (before-x)']);
    await rollbackOk('before-r');
    expect(await wEdges()).toEqual(['W-1 -> W-2 (before-c)', 'W-2 -> W-1 (before-x)']);
  });
});
