/**
 * deploy/grafana: the committed dashboard JSON is what dashboard.ts renders
 * with Grafana's foundation SDK, every panel is wired to the datasource
 * variable with a real query, and every query returns data from a real
 * Prometheus scraping a fake exporter with deploy/prometheus/rules.yml loaded.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dataquery } from '@grafana/grafana-foundation-sdk/prometheus';
import { buildDashboard, DASHBOARD_FILE, variables, dataPanels as dataPanelsOf, FILTER, FILTER_VARIABLES, panelQueries, renderDashboard, resolveVariables } from '../../deploy/grafana/dashboard.js';
import { startFakeExporter, type FakeExporter } from '../support/fakeExporter.js';
import { startPrometheus, toolGate, type PrometheusInstance } from '../support/prometheus.js';

const root = path.resolve(import.meta.dirname, '../..');
const committed = readFileSync(path.join(root, DASHBOARD_FILE), 'utf8');
const dashboard = buildDashboard();
const panels = dashboard.panels ?? [];
const dataPanels = dataPanelsOf(dashboard);

describe('Grafana dashboard', () => {
  it('the committed JSON is the generated one (regenerate: npm run build && node dist/deploy/grafana/dashboard.js)', () => {
    expect(committed).toBe(renderDashboard());
  });

  it('is an importable dashboard document, in the schema version of the SDK', () => {
    const d = JSON.parse(committed) as Record<string, unknown>;
    expect(d).toMatchObject({ schemaVersion: defaultDashboard().schemaVersion, uid: 'aliyun-sas-exporter', editable: true });
    expect(d.id ?? null, 'a new dashboard on import').toBeNull();
    expect(typeof d.title).toBe('string');
    expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
  });

  it('has a prometheus datasource variable and a multi-value task variable with All', () => {
    const vars = dashboard.templating.list ?? [];
    expect(vars.map((v) => v.name)).toEqual(['datasource', ...FILTER_VARIABLES.map((v) => v.name)]);
    expect(vars.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.find((v) => v.name === 'task')).toMatchObject({
      type: 'query',
      datasource: { type: 'prometheus', uid: '${datasource}' },
      definition: 'label_values(aliyun_sas_scan_task_info, task_id)',
      multi: true,
      includeAll: true,
    });
  });

  it('a further filter variable is one declaration: its values narrowed by the ones before it', () => {
    const vars = variables([...FILTER_VARIABLES, { name: 'zone', label: 'Zone', matcher: 'zone', valuesFrom: 'aliyun_sas_scan_task_info' }]).map((b) => b.build());
    expect(vars.map((v) => v.name)).toEqual(['datasource', 'task', 'zone']);
    expect(vars[2]).toMatchObject({ type: 'query', multi: true, includeAll: true, definition: 'label_values(aliyun_sas_scan_task_info{task_id=~"$task"}, zone)' });
  });

  it('every panel has the datasource variable and a non-empty query on each target', () => {
    expect(dataPanels.length).toBeGreaterThan(10);
    for (const p of dataPanels) {
      const targets = (p.targets ?? []) as Dataquery[];
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(targets.length, p.title).toBeGreaterThan(0);
      for (const t of targets) {
        expect(t.datasource, `${p.title} ${t.refId}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(t.refId, p.title).toMatch(/^[A-Z]$/);
        expect(t.expr.trim(), `${p.title} ${t.refId}`).not.toBe('');
      }
      expect(new Set(targets.map((t) => t.refId)).size, p.title).toBe(targets.length);
    }
  });

  it('has the rows asked for, unique panel ids and a non-overlapping grid', () => {
    const rows = panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual(['Task status overview', 'Tasks', 'Status over time', 'Exporter health']);
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => typeof id === 'number' && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of panels) {
      expect(p.gridPos, p.title).toBeDefined();
      const { x, y, w, h } = p.gridPos!;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          const key = `${i},${j}`;
          expect(cells.has(key), `${p.title} overlaps at ${key}`).toBe(false);
          cells.add(key);
        }
      }
    }
    const titles = dataPanels.map((p) => p.title);
    expect(titles).toEqual(expect.arrayContaining(['Scan tasks', 'Targets of failed tasks', 'Task status', 'Poll cycle duration', 'API requests by code', 'API latency', 'Last poll cycle']));
  });

  it('filters every task-level query by $task', () => {
    expect(FILTER).toContain('task_id=~"$task"');
    for (const q of panelQueries()) {
      if (/aliyun_sas(:scan_task|_scan_task)/.test(q.expr)) expect(q.expr, q.panel).toContain(FILTER);
    }
  });

  it('panelQueries lists every target, and resolveVariables leaves no $ behind', () => {
    expect(panelQueries().length).toBe(dataPanels.reduce((n, p) => n + (p.targets ?? []).length, 0));
    for (const q of panelQueries()) expect(resolveVariables(q.expr, { task: '.*' })).not.toContain('$');
    expect(resolveVariables('rate(x{task_id=~"$task"}[$__rate_interval]) ${task:regex}', { task: '1|2', __rate_interval: '5s' })).toBe('rate(x{task_id=~"1|2"}[5s]) 1|2');
    expect(() => resolveVariables('x{a="$nope"}', {})).toThrow(/unknown variable \$nope/);
  });
});

const gate = toolGate(['prometheus']);
if (gate.skip) console.warn(`[dashboard.test] skipping the queries against Prometheus: ${gate.reason}`);

describe.skipIf(gate.skip)('dashboard queries against a real Prometheus', () => {
  let prom: PrometheusInstance;
  let exporter: FakeExporter;

  beforeAll(async () => {
    gate.path('prometheus');
    exporter = await startFakeExporter();
    prom = await startPrometheus({
      scrapeJobs: [{ job: 'aliyun-sas-exporter', targets: [exporter.address] }],
      ruleFiles: [path.join(root, 'deploy/prometheus/rules.yml')],
    });
    // Rates need a few samples; the recording rules need an evaluation after that.
    await prom.waitFor('aliyun_sas:api_requests_throttled:ratio_rate5m', (s) => s.length > 0, 40_000);
    await prom.waitFor('aliyun_sas:scan_task_target_status', (s) => s.length === 3, 20_000);
  }, 90_000);

  afterAll(async () => {
    await prom?.stop();
    await exporter?.close();
  });

  it('every rule is healthy', async () => {
    const groups = (await prom.rules()) as { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
    const rules = groups.flatMap((g) => g.rules);
    expect(rules.length).toBe(12);
    for (const r of rules) expect(r.health, `${r.name}: ${r.lastError ?? ''}`).toBe('ok');
  });

  it('every panel query returns data for task=.*', async () => {
    const empty: string[] = [];
    for (const q of panelQueries()) {
      const samples = await prom.query(resolveVariables(q.expr, { task: '.*', __rate_interval: '10s' }));
      if (samples.length === 0) empty.push(`${q.panel} (${q.refId}): ${q.expr}`);
    }
    expect(empty).toEqual([]);
  });

  it('the status panels count what the fake exporter serves', async () => {
    const byPanel = new Map<string, number>();
    for (const q of panelQueries()) {
      const s = await prom.query(resolveVariables(q.expr, { task: '.*', __rate_interval: '10s' }));
      if (s.length === 1) byPanel.set(q.panel, s[0]!.value);
    }
    expect(Object.fromEntries(['Configured tasks', 'Failed', 'Processing', 'Success', 'Not polled yet', 'Polls failing'].map((k) => [k, byPanel.get(k)]))).toEqual({
      'Configured tasks': 3,
      Failed: 1,
      Processing: 1,
      Success: 0,
      'Not polled yet': 1,
      'Polls failing': 1,
    });
    const failedTargets = await prom.query(resolveVariables(panelQueries().find((q) => q.panel === 'Targets of failed tasks')!.expr, { task: '1001|1002' }));
    expect(failedTargets.map((s) => s.metric).sort((a, b) => (a.target ?? '').localeCompare(b.target ?? ''))).toEqual([
      { task_id: '1001', task_name: 'nightly full scan', target_type: 'groupId', target: '42', target_name: 'production' },
      { task_id: '1001', task_name: 'nightly full scan', target_type: 'uuid', target: 'srv-a', target_name: 'web-1' },
    ]);
    const onlyWeekly = await prom.query(resolveVariables(panelQueries().find((q) => q.panel === 'Targets of failed tasks')!.expr, { task: '1002' }));
    expect(onlyWeekly).toEqual([]);
  });

  it('the failed task raises AliyunSasScanTaskFailed per target (pending: for 1m)', async () => {
    const alerts = await prom.alerts();
    const failed = alerts.filter((a) => a.labels.alertname === 'AliyunSasScanTaskFailed').map((a) => a.labels.target);
    expect(failed.sort()).toEqual(['42', 'srv-a']);
  });
});
