// Issue 5, acceptance 1, in real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// against the real operations server, Redis and Postgres: an operator logs in through the login page,
// opens Bull Board, finds the taskfleet queues with the counts the progress API gives, retries a failed
// job, and a screenshot is saved; a viewer finds no retry button and the retry endpoint answers 403.
// The failed jobs are real: a workflow job whose payload is invalid, refused by a real `taskfleet worker`.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLegacyData } from '../src/generator/generate.js';
import { connectionArgs, runCli, startCli } from './helpers/cli.js';
import { waitFor } from './helpers/ledger.js';
import { summaryOf } from './helpers/legacy-files.js';
import { auditRows, startTestServer, TEST_USERS, type TestServer } from './helpers/server.js';
import { createTestDatabase, deleteQueueKeys, REDIS_URL, uniquePrefix, type TestDatabase } from './helpers/services.js';
import { describeResult } from './helpers/workflows.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run'];
/** Where the screenshots are kept (gitignored): they are the test's evidence for a person to look at. */
const SCREENSHOTS = join(process.cwd(), 'test-results', 'browser');

const prefix = uniquePrefix('browser');
let root: string;
let db: TestDatabase;
let server: TestServer;
let browser: Browser;
let runId: string;
let workflows: Queue;
const failedJobIds: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does`);
  root = await mkdtemp(join(tmpdir(), 'taskfleet-browser-'));
  db = await createTestDatabase('browser');
  const dir = join(root, 'legacy');
  await generateLegacyData({ out: dir, format: 'jsonl', projects: 10, phasesPerProject: 3, tasks: 3000, seed: 9 });
  const migrated = await runCli(['migrate', '--skip-prepare', '--legacy-data', dir, ...connectionArgs(db, prefix, REDIS_URL), '--workers', '1',
    '--chunk-size', '500', '--json'], { timeoutMs: 240_000 });
  expect(migrated.code, describeResult(migrated)).toBe(0);
  runId = summaryOf(migrated).runId;

  // Two workflow jobs no worker can take (their payload is invalid): a real worker fails them for good.
  workflows = new Queue('workflows', { connection: { url: REDIS_URL }, prefix });
  for (const n of [1, 2]) {
    const job = await workflows.add(`broken payload ${n}`, { runId, workflowId: `not-a-workflow-${n}` }, { attempts: 1 });
    failedJobIds.push(job.id!);
  }
  const worker = startCli(['worker', ...connectionArgs(db, prefix, REDIS_URL), '--queues', 'workflows'], { timeoutMs: 120_000 });
  await waitFor(async () => (await workflows.getJobCounts('failed')).failed === 2, 'two failed workflow jobs', 60_000);
  worker.child.kill('SIGTERM');
  expect((await worker.result).code).toBe(0);

  server = await startTestServer({ databaseUrl: db.url, prefix });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  await mkdir(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await workflows?.close();
  await db?.drop().catch(() => undefined);
  await deleteQueueKeys(prefix);
  if (root) await rm(root, { recursive: true, force: true });
});

/** A fresh browser context, logged in through the login page; the page ends on Bull Board. */
async function logIn(username: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/board`);
  // Not logged in: the board sends the browser to the login page.
  expect(new URL(page.url()).pathname).toBe('/login');
  await page.fill('#username', username);
  await page.fill('#password', TEST_USERS[username]!.password);
  await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/board')), page.click('button[type=submit]')]);
  const cookies = await context.cookies();
  const access = cookies.find((c) => c.httpOnly && c.path === '/');
  expect(access, JSON.stringify(cookies.map((c) => c.name))).toBeDefined();
  expect(access!.secure).toBe(true);
  return page;
}

/**
 * The action button of a job card whose tooltip says `name` (Bull Board's job actions are icons with
 * tooltips), or null when the card has no such action.
 */
async function jobAction(page: Page, jobName: string, name: string) {
  const card = page.locator('div[class*="card-"]', { has: page.locator(`a:has-text("${jobName}")`) }).last();
  await card.waitFor();
  const buttons = card.locator('ul[class*="jobActions"] button');
  for (let i = 0; i < await buttons.count(); i++) {
    await buttons.nth(i).hover();
    // The tooltip opens in a portal at the end of the body.
    const tip = page.locator('[data-base-ui-portal] div[class*="popup-"][data-open]').last();
    await expect.poll(() => tip.innerText().catch(() => ''), { timeout: 3000 }).not.toBe('');
    if ((await tip.innerText()).trim() === name) return buttons.nth(i);
  }
  return null;
}

interface BoardQueue { name: string; counts: Record<string, number> }

/** The queues as the board's own page fetched them (its /board/api/queues call). */
async function boardQueues(page: Page): Promise<BoardQueue[]> {
  const response = await page.request.get(`${server.url}/board/api/queues?activeQueue=&page=1&jobsPerPage=10`);
  expect(response.status()).toBe(200);
  return ((await response.json()) as { queues: BoardQueue[] }).queues;
}

describe('Bull Board in a real browser, behind the login page', () => {
  it('operator: sees the taskfleet queues with the progress API\'s counts, retries a failed job, screenshot saved', async () => {
    const page = await logIn('otto');
    await page.waitForSelector('text=migrate');
    await page.waitForSelector('text=workflows');
    expect(await page.title()).toContain('taskfleet');

    // The board's counts and the progress API's (read with the same session cookie) agree: every chunk job
    // of the run completed, and the two broken workflow jobs failed.
    const progress = await page.request.get(`${server.url}/api/runs/${runId}`);
    expect(progress.status()).toBe(200);
    const report = (await progress.json()) as { status: string; stages: { stage: string; ledger: { chunks: number; done: number; failed: number } }[] };
    expect(report.status).toBe('completed');
    const chunkJobs = report.stages.filter((s) => s.stage !== 'workflows').reduce((n, s) => n + s.ledger.done, 0);
    expect(chunkJobs).toBeGreaterThan(5);
    const queues = await boardQueues(page);
    expect(queues.map((q) => q.name).sort()).toEqual(['migrate', 'workflows']);
    const migrate = queues.find((q) => q.name === 'migrate')!;
    expect(migrate.counts.completed).toBe(chunkJobs);
    expect(migrate.counts.failed).toBe(report.stages.reduce((n, s) => n + s.ledger.failed, 0));
    expect(queues.find((q) => q.name === 'workflows')!.counts.failed).toBe(2);
    // ... and the page shows them.
    // ... and the page shows them: the overview's status tabs count every queue's jobs.
    const tab = (status: string) => page.locator(`a[href="/board/?status=${status}"]`);
    await expect.poll(() => tab('completed').innerText()).toMatch(new RegExp(`COMPLETED\\s*${chunkJobs}$`));
    await expect.poll(() => tab('failed').innerText()).toMatch(/FAILED\s*2$/);
    await page.screenshot({ path: join(SCREENSHOTS, 'operator-board.png'), fullPage: true });

    // Retry the first broken job from its failed list.
    await page.goto(`${server.url}/board/queue/workflows?status=failed`);
    await page.waitForSelector('text=broken payload 1');
    const retry = await jobAction(page, 'broken payload 1', 'Retry');
    expect(retry, 'the operator has a Retry action on the failed job').not.toBeNull();
    const before = await workflows.getJobCounts('failed', 'waiting');
    const retried = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/retry'));
    // Move off the icons first: an open tooltip must not be what receives the click.
    await page.mouse.move(0, 0);
    await retry!.click();
    // Bull Board asks "Are you sure that you want to retry this job?" (unless its settings say not to).
    const confirm = page.getByRole('button', { name: 'Confirm', exact: true });
    if (await confirm.waitFor({ timeout: 3000 }).then(() => true, () => false)) {
      expect(await page.getByText('Are you sure that you want to retry this job?').isVisible()).toBe(true);
      await confirm.click();
    }
    expect((await retried).status()).toBe(204);
    await waitFor(async () => (await workflows.getJobCounts('failed')).failed === (before.failed ?? 0) - 1, 'the retried job to leave the failed list', 10_000);
    expect((await workflows.getJobCounts('waiting')).waiting).toBe((before.waiting ?? 0) + 1);
    await page.screenshot({ path: join(SCREENSHOTS, 'operator-retried.png'), fullPage: true });
    expect((await stat(join(SCREENSHOTS, 'operator-board.png'))).size).toBeGreaterThan(10_000);

    // The retry is in the audit log, with who did it.
    // Written once the response is sent: wait for it (auditRows polls).
    const rows = await auditRows(db.pool, `method = 'PUT' AND path LIKE '%/retry%'`, [], 1);
    expect(rows.length).toBe(1);
    expect(rows[0]!.username).toBe('otto');
    await page.context().close();
  });

  it('viewer: no retry button on the failed job, and the retry endpoint answers 403', async () => {
    const page = await logIn('vera');
    await page.goto(`${server.url}/board/queue/workflows?status=failed`);
    await page.waitForSelector('text=broken payload 2');
    await page.screenshot({ path: join(SCREENSHOTS, 'viewer-failed.png'), fullPage: true });
    expect(await jobAction(page, 'broken payload 2', 'Retry')).toBeNull();
    expect(await page.getByRole('button', { name: /^Retry/ }).count()).toBe(0);
    // Nor the queue-level writes the operator's page offers ("Retry all", "Clean all").
    expect(await page.getByRole('button', { name: /^Clean all$/ }).count()).toBe(0);
    const failedBefore = (await workflows.getJobCounts('failed')).failed;
    const denied = await page.request.put(`${server.url}/board/api/queues/workflows/${failedJobIds[1]}/retry`);
    expect(denied.status()).toBe(403);
    expect((await workflows.getJobCounts('failed')).failed).toBe(failedBefore);
    await page.context().close();
  });
});
