// `npm run demo` on the embedded default: an embedded Postgres from npm, with the real Redis, and with
// Redis deliberately not used (BullMQ's Postgres queue backend instead).
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteQueueKeys, uniquePrefix } from './helpers/services.js';

const DEMO = fileURLToPath(new URL('../dist/src/demo.js', import.meta.url));
const dirs: string[] = [];
const prefix = uniquePrefix('demo');

function runDemo(args: string[], interruptWhen?: (stdout: string) => boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The queues under this file's own prefix (the demo's default is a fixed one), deleted afterwards.
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', TASKFLEET_PREFIX: prefix };
    delete env.REDIS_URL;
    delete env.DATABASE_URL;
    // In a process group of its own: Ctrl-C on a terminal reaches the demo and the migrate it started.
    const child = spawn(process.execPath, [DEMO, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: interruptWhen !== undefined });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (interruptWhen && !interrupted && interruptWhen(stdout)) {
        interrupted = true;
        setTimeout(() => process.kill(-child.pid!, 'SIGINT'), 6000);
      }
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function demoDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'taskfleet-demo-'));
  // Postgres runs as the `postgres` user when tests run as root: it must be able to enter the directory.
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await deleteQueueKeys(prefix);
});

function expectedCounts(dir: string): Record<string, { legacy: number; rejected: number }> {
  const manifest = JSON.parse(readFileSync(join(dir, 'legacy-3000', '_generator_manifest.json'), 'utf8')) as {
    summary: { legacy: Record<string, number>; expectedRejects: Record<string, number> };
  };
  return Object.fromEntries(Object.entries(manifest.summary.legacy).map(([kind, legacy]) => [kind, { legacy, rejected: manifest.summary.expectedRejects[kind] ?? -1 }]));
}

function summaryOf(stdout: string): Record<string, { legacy: number; migrated: number; rejected: number }> {
  const out: Record<string, { legacy: number; migrated: number; rejected: number }> = {};
  for (const m of stdout.matchAll(/^(\w+)\s+legacy\s+(\d+)\s+migrated\s+(\d+)\s+rejected\s+(\d+)$/gm)) {
    out[m[1]!] = { legacy: Number(m[2]), migrated: Number(m[3]), rejected: Number(m[4]) };
  }
  return out;
}

describe('npm run demo', () => {
  it.each([
    { name: 'with the real Redis', args: [], queues: /Queues: Redis at redis:\/\/127\.0\.0\.1:6379/ },
    { name: 'with Redis deliberately not used', args: ['--no-redis'], queues: /Queues: no Redis used, BullMQ's Postgres backend/ },
  ])('migrates a sample dump on an embedded Postgres $name', async ({ args, queues }) => {
    const dir = demoDir();
    const result = await runDemo(['--dir', dir, '--tasks', '3000', '--exit', ...args]);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Starting an embedded Postgres/);
    expect(result.stdout).toMatch(queues);
    expect(result.stdout).toMatch(/Run run-\w+: completed/);
    const summary = summaryOf(result.stdout);
    const expected = expectedCounts(dir);
    for (const kind of ['projects', 'phases', 'tasks', 'task_dependencies']) {
      expect(summary[kind], kind).toEqual({
        legacy: expected[kind]!.legacy,
        migrated: expected[kind]!.legacy - expected[kind]!.rejected,
        rejected: expected[kind]!.rejected,
      });
    }
  });

  it('interrupted, says to run the same demo again (its run is in the embedded Postgres), not taskfleet resume', async () => {
    const dir = demoDir();
    const result = await runDemo(['--dir', dir, '--tasks', '20000', '--exit', '--no-redis'], (out) => out.includes('4. Migrating'));
    expect(result.code, result.stdout + result.stderr).not.toBe(0);
    expect(result.stderr, result.stdout).toContain(`Finish it with: npm run demo -- --tasks 20000 --workers 2 --dir ${dir} --no-redis --exit (the same demo command`);
    expect(result.stderr).not.toContain('taskfleet resume');
  }, 120_000);
});
