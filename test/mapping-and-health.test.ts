// A dump with other field names and enumerations migrates through a mapping file, without code
// changes (--mapping); and a worker serves /healthz and /readyz.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli, startCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';

const prefix = uniquePrefix('mapping');
let db: TestDatabase;
let root: string;

beforeAll(async () => {
  db = await createTestDatabase('mapping');
  root = await mkdtemp(join(tmpdir(), 'taskfleet-mapping-'));
});

afterAll(async () => {
  await db?.drop();
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

/** Rewrites a JSONL file record by record. */
async function rewrite(path: string, change: (record: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  await writeFile(path, lines.map((line) => (line.trim() === '' ? line : JSON.stringify(change(JSON.parse(line) as Record<string, unknown>)))).join('\n'));
}

const STATUS_OUT: Record<string, string> = { todo: 'open', in_progress: 'doing', blocked: 'stuck', review: 'qa', done: 'closed', cancelled: 'dropped' };

describe('a dump with other field names and values, through --mapping', () => {
  let dir: string;
  let originals: Map<string, { title: string; status: string | null; project: string }>;

  beforeAll(async () => {
    dir = join(root, 'renamed');
    await generateLegacyData({ out: dir, projects: 20, phasesPerProject: 3, tasks: 2000, format: 'jsonl', seed: 11, dependencies: true, dependencyFile: false });
    originals = new Map();
    await rewrite(join(dir, 'tasks.jsonl'), (r) => {
      const { title, status, project_id: project, depends_on: blockedBy, ...rest } = r;
      originals.set(String(r.id), { title: String(title), status: (status as string | null | undefined) ?? null, project: String(project) });
      return { ...rest, summary: title, state: typeof status === 'string' ? STATUS_OUT[status] ?? status : status, project_ref: project, blocked_by: blockedBy };
    });
    await writeFile(join(dir, 'mapping.yaml'), [
      'fields:',
      '  tasks: { summary: title, state: status, project_ref: project_id, blocked_by: depends_on }',
      'values:',
      '  tasks:',
      '    priority: { "1": low, "2": medium, "3": high, "4": critical }',
      `    status: { ${Object.entries(STATUS_OUT).map(([to, from]) => `${from}: ${to}`).join(', ')} }`,
      'defaults:',
      '  projects: { status: active }',
      '  phases: { status: planned }',
      '  tasks: { status: todo, priority: medium, type: default }',
      '',
    ].join('\n'));
  });

  it('migrates every record, mapping names and values', async () => {
    const result = await runCli(['migrate', '--skip-prepare', '--legacy-data', dir, '--mapping', join(dir, 'mapping.yaml'), ...connectionArgs(db, prefix, REDIS_URL), '--workers', '2', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout.trim().split('\n').pop()!) as { kinds: { kind: string; legacy: number; migrated: number; rejected: number }[] };
    expect(summary.kinds.find((k) => k.kind === 'tasks')).toEqual({ kind: 'tasks', legacy: 2000, migrated: 2000, rejected: 0 });
    expect(summary.kinds.find((k) => k.kind === 'task_dependencies')!.rejected).toBe(0);
    expect(summary.kinds.find((k) => k.kind === 'task_dependencies')!.migrated).toBeGreaterThan(0);

    const { rows } = await db.pool.query<{ legacy_id: string; title: string; status: string; project_legacy: string; extra: Record<string, unknown> | null }>(
      `SELECT t.legacy_id, t.title, t.status, p.legacy_id AS project_legacy, t.legacy_extra AS extra
       FROM tms.tasks t JOIN tms.projects p ON p.id = t.project_id`);
    expect(rows).toHaveLength(2000);
    for (const row of rows) {
      const original = originals.get(row.legacy_id)!;
      expect(row.title).toBe(original.title);
      expect(row.status).toBe(original.status ?? 'todo');
      expect(row.project_legacy).toBe(original.project);
      // Renamed fields are mapped, not kept as unknown extras.
      expect(Object.keys(row.extra ?? {})).not.toContain('summary');
      expect(Object.keys(row.extra ?? {})).not.toContain('blocked_by');
    }
  });

  it('without the mapping, the same dump is rejected with the field named, not guessed', async () => {
    const result = await runCli(['migrate', '--skip-prepare', '--legacy-data', dir, '--run-id', 'no-mapping', ...connectionArgs(db, prefix, REDIS_URL), '--workers', '1', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const { rows } = await db.pool.query<{ field: string; n: number }>(
      `SELECT field, count(*)::int AS n FROM ledger.rejects WHERE run_id = 'no-mapping' AND kind = 'tasks' GROUP BY field`);
    expect(rows).toEqual([{ field: 'project_id', n: 2000 }]);
  });
});

describe('worker health endpoints', () => {
  it('answers /healthz and /readyz, and stops on SIGTERM', async () => {
    const worker = startCli(['worker', ...connectionArgs(db, prefix, REDIS_URL), '--health-port', '0'], { env: { LOG_LEVEL: 'info' } });
    let port = 0;
    await waitFor(() => {
      const m = /"healthPort":(\d+)/.exec(worker.output().stderr);
      port = m ? Number(m[1]) : 0;
      return Promise.resolve(port > 0);
    }, 'the worker to report its health port', 30_000);
    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(healthz.status).toBe(200);
    const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toEqual({ status: 'ready' });
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    worker.child.kill('SIGTERM');
    const result = await worker.result;
    expect(result.code).toBe(0);
  });
});
