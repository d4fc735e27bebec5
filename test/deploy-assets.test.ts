// Issue 5, acceptance 3: the ops assets in deploy/ only use metrics that exist. The Grafana dashboard and
// the Prometheus alert rules are parsed, every metric name in their PromQL is collected, and each must be
// exported by the operations server's or a worker's registry (the real registries, not a hand-kept list).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createServerMetrics } from '../src/server/metrics.js';
import { createWorkerMetrics } from '../src/workers/worker-metrics.js';
import { opsDeps } from './helpers/ops-app.js';
import { deleteQueueKeys, uniquePrefix } from './helpers/services.js';

const DEPLOY = fileURLToPath(new URL('../deploy/', import.meta.url));

/** Every series name a registry exports: histograms as their _bucket, _sum and _count series. */
function exportedNames(registry: Registry): Set<string> {
  const names = new Set<string>();
  for (const m of registry.getMetricsAsArray()) {
    const type = String(m.type);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${m.name}${suffix}`);
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) names.add(`${m.name}${suffix}`);
    else names.add(m.name);
  }
  return names;
}

/** Metric names in a PromQL expression: identifiers of ours (label values in quotes left out). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...withoutStrings.matchAll(/\btaskfleet_[a-z0-9_]+\b/g)].map((m) => m[0]);
}

interface Panel { title: string; type: string; targets?: { expr: string }[]; panels?: Panel[] }
interface Rule { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }

async function assets() {
  const dashboard = JSON.parse(await readFile(`${DEPLOY}grafana/taskfleet-dashboard.json`, 'utf8')) as { title: string; uid: string; panels: Panel[] };
  const alerts = parseYaml(await readFile(`${DEPLOY}prometheus/taskfleet-alerts.yaml`, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const rules = alerts.groups.flatMap((g) => g.rules);
  return { dashboard, panels, rules };
}

describe('deploy assets', () => {
  it('reference only metrics the server or the workers export', async () => {
    const prefix = uniquePrefix('deploy_assets');
    const deps = opsDeps('postgres://postgres@127.0.0.1:5432/unused', prefix);
    try {
      const exported = new Set([...exportedNames(createServerMetrics(deps).registry), ...exportedNames(createWorkerMetrics().registry)]);
      const { panels, rules } = await assets();
      const expressions = [
        ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
        ...rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
      ];
      expect(expressions.length).toBeGreaterThan(10);
      const missing: string[] = [];
      for (const { where, expr } of expressions) {
        const names = metricNames(expr);
        if (names.length === 0) missing.push(`${where} uses no taskfleet metric: ${expr}`);
        for (const name of names) if (!exported.has(name)) missing.push(`${where}: ${name} is not exported`);
      }
      expect(missing).toEqual([]);
    } finally {
      await Promise.all([...deps.queues.values()].map((q) => q.close()));
      await deps.db.end();
      await deleteQueueKeys(prefix);
    }
  });

  it('the dashboard covers throughput, rejects, queue depth, workflow runs, workers and chunk duration p95', async () => {
    const { dashboard, panels } = await assets();
    expect(dashboard.uid).toBe('taskfleet-overview');
    const titles = panels.map((p) => p.title.toLowerCase());
    for (const topic of ['throughput', 'rejects', 'queue depth', 'workflow runs', 'workers', 'chunk duration p95']) {
      expect(titles.some((t) => t.includes(topic)), topic).toBe(true);
    }
    const p95 = panels.find((p) => p.title.toLowerCase().includes('p95'))!;
    expect(p95.targets!.every((t) => t.expr.startsWith('histogram_quantile(0.95,'))).toBe(true);
  });

  it('the alert rules cover failure rate, a stalled queue, no progress, a lost producer, unreadable queues and the reject ratio, each complete', async () => {
    const { rules } = await assets();
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Taskfleet[A-Za-z]+$/);
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      if (rule.for !== undefined) expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
    }
    const names = rules.map((r) => r.alert);
    for (const name of ['TaskfleetJobFailureRateHigh', 'TaskfleetQueueStalled', 'TaskfleetNoProgress', 'TaskfleetRejectRatioHigh', 'TaskfleetProducerGone', 'TaskfleetMetricsBlind']) expect(names).toContain(name);
    const stalled = rules.find((r) => r.alert === 'TaskfleetQueueStalled')!;
    expect(stalled.expr).toMatch(/taskfleet_queue_jobs\{state="waiting"\}/);
    expect(stalled.expr).toMatch(/increase\(taskfleet_worker_jobs_processed_total\[10m\]\)/);
  });
});
