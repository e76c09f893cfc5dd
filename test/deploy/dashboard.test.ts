/**
 * deploy/grafana: the committed dashboard JSON is what dashboard.ts renders
 * with Grafana's foundation SDK, every panel is wired to the datasource
 * variable with a real query, and every query returns data from a real
 * Prometheus scraping a fake exporter with deploy/prometheus/rules.yml loaded:
 * once in the accounts form (two accounts with the same task IDs) and once
 * in the single-account form (no `account` label at all). The fake exporter
 * also serves a latest virus scan per account (a complete one with findings
 * and failed machines, a running one), so the Latest virus scan row has data
 * and the scan alerts fire on the real Prometheus.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dataquery } from '@grafana/grafana-foundation-sdk/prometheus';
import {
  ACCOUNT_FILTER,
  buildDashboard,
  DASHBOARD_FILE,
  variables,
  dataPanels as dataPanelsOf,
  FILTER,
  FILTER_VARIABLES,
  panelQueries,
  renderDashboard,
  resolveVariables,
} from '../../deploy/grafana/dashboard.js';
import { FAKE_ACCOUNTS, FAKE_FAILED_MACHINES, FAKE_SCANS, startFakeExporter, type FakeExporter } from '../support/fakeExporter.js';
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

  it('has a prometheus datasource variable, then multi-value account and task variables with All (.*), the account first', () => {
    const vars = dashboard.templating.list ?? [];
    expect(vars.map((v) => v.name)).toEqual(['datasource', 'account', 'task']);
    expect(vars.map((v) => v.name)).toEqual(['datasource', ...FILTER_VARIABLES.map((v) => v.name)]);
    expect(vars.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const common = { type: 'query', datasource: { type: 'prometheus', uid: '${datasource}' }, multi: true, includeAll: true, allValue: '.*', current: { value: ['$__all'] } };
    expect(vars.find((v) => v.name === 'account')).toMatchObject({ ...common, definition: 'label_values(aliyun_sas_account_info, account)' });
    // The task IDs offered are those of the selected accounts.
    expect(vars.find((v) => v.name === 'task')).toMatchObject({ ...common, definition: 'label_values(aliyun_sas_scan_task_info{account=~"$account"}, task_id)' });
  });

  it('a further filter variable is one declaration: its values narrowed by the ones before it', () => {
    const vars = variables([...FILTER_VARIABLES, { name: 'zone', label: 'Zone', matcher: 'zone', valuesFrom: 'aliyun_sas_scan_task_info' }]).map((b) => b.build());
    expect(vars.map((v) => v.name)).toEqual(['datasource', 'account', 'task', 'zone']);
    expect(vars[3]).toMatchObject({ type: 'query', multi: true, includeAll: true, definition: 'label_values(aliyun_sas_scan_task_info{account=~"$account", task_id=~"$task"}, zone)' });
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
    expect(rows).toEqual(['Task status overview', 'Accounts', 'Tasks', 'Status over time', 'Latest virus scan', 'Exporter health']);
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
    expect(titles).toEqual(
      expect.arrayContaining(['Accounts', 'Scan tasks', 'Targets of failed tasks', 'Task status', 'Poll cycle duration', 'API requests by account and code', 'API latency', 'API calls per poll cycle', 'Last poll cycle']),
    );
  });

  it('the Latest virus scan row: status and age per account, progress, machines scanned / safe / suspicious, alerts and risk level, and the machines that failed or timed out', () => {
    const row = panels.findIndex((p) => p.type === 'row' && p.title === 'Latest virus scan');
    const next = panels.findIndex((p, i) => i > row && p.type === 'row');
    const inRow = panels.slice(row + 1, next).map((p) => p.title);
    expect(inRow).toEqual([
      'Suspicious machines',
      'Scan alerts',
      'Machines scanned',
      'Safe machines',
      'Failed or timed out',
      'Oldest latest scan',
      'Latest virus scan by account',
      'Machines whose scan failed or timed out',
      'Latest scan progress',
      'Machines of the latest scan',
    ]);
    const byAccount = panelQueries().filter((q) => q.panel === 'Latest virus scan by account');
    for (const family of ['latest_info', 'latest_status', 'latest_progress_ratio', 'latest_start_timestamp_seconds', 'latest_alerts', 'latest_risk_level', 'latest_poll_success']) {
      expect(byAccount.some((q) => q.expr.includes(`aliyun_sas_virus_scan_${family}{`)), family).toBe(true);
    }
    for (const state of ['scanned', 'safe', 'suspicious', 'uncomplete']) expect(byAccount.some((q) => q.expr.includes(`state="${state}"`)), state).toBe(true);
    const failed = panelQueries().find((q) => q.panel === 'Machines whose scan failed or timed out' && q.refId === 'A')!.expr;
    expect(failed).toMatch(/group_left\(task_id, instance_name, internet_ip, intranet_ip\)/);
  });

  it('filters every scan-result query by $account only (the scan\'s task_id is no configured task), and keeps the account in every grouping and join', () => {
    const scanQueries = panelQueries().filter((q) => /aliyun_sas_virus_scan_/.test(q.expr));
    expect(scanQueries.length).toBeGreaterThanOrEqual(20);
    for (const q of scanQueries) {
      expect(q.expr, q.panel).toContain(ACCOUNT_FILTER);
      expect(q.expr, q.panel).not.toContain('$task');
      for (const by of q.expr.matchAll(/\b(?:by|on)\s*\(([^)]*)\)/g)) expect(by[1]!.split(',').map((l) => l.trim()), `${q.panel}: ${by[0]}`).toContain('account');
    }
  });

  it('filters every task-level query by $account and $task, and groups it by (account, task_id)', () => {
    expect(FILTER).toBe('account=~"$account", task_id=~"$task"');
    for (const q of panelQueries()) {
      if (!/aliyun_sas(:scan_task|_scan_task)/.test(q.expr)) continue;
      expect(q.expr, q.panel).toContain(FILTER);
      for (const by of q.expr.matchAll(/\b(?:by|on)\s*\(([^)]*)\)/g)) {
        const labels = by[1]!.split(',').map((l) => l.trim());
        if (labels.includes('task_id')) expect(labels, `${q.panel}: ${by[0]}`).toContain('account');
      }
    }
  });

  it('filters every query of a per-account self-metric by $account, and splits API calls and the accounts table by account', () => {
    expect(ACCOUNT_FILTER).toBe('account=~"$account"');
    const perAccount = /aliyun_sas_(api_requests_total|api_request_duration_seconds|api_rate_limit_qps|target_info_errors_total|poll_cycle_api_calls|poll_cycle_tasks_polled|tasks|account_info)\b/;
    const matched = panelQueries().filter((q) => perAccount.test(q.expr));
    expect(matched.length).toBeGreaterThanOrEqual(6);
    for (const q of matched) expect(q.expr, q.panel).toContain(ACCOUNT_FILTER);
    expect(panelQueries().find((q) => q.panel === 'API requests by account and code')!.expr).toMatch(/sum by \(account, code\)/);
    const accounts = panelQueries().filter((q) => q.panel === 'Accounts');
    expect(accounts[0]!.expr).toMatch(/^max by \(account, endpoint, region\) \(aliyun_sas_account_info\{/);
    for (const q of accounts.slice(1)) expect(q.expr, q.refId).toMatch(/^(count|sum|min) by \(account\)/);
  });

  it('panelQueries lists every target, and resolveVariables leaves no $ behind', () => {
    expect(panelQueries().length).toBe(dataPanels.reduce((n, p) => n + (p.targets ?? []).length, 0));
    for (const q of panelQueries()) expect(resolveVariables(q.expr, ALL)).not.toContain('$');
    expect(resolveVariables('rate(x{task_id=~"$task"}[$__rate_interval]) ${task:regex}', { task: '1|2', __rate_interval: '5s' })).toBe('rate(x{task_id=~"1|2"}[5s]) 1|2');
    expect(() => resolveVariables('x{a="$nope"}', {})).toThrow(/unknown variable \$nope/);
  });
});

/** Every variable at All, as Grafana sends it: the allValue `.*`. */
const ALL = { account: '.*', task: '.*' } as const;

const gate = toolGate(['prometheus']);
if (gate.skip) console.warn(`[dashboard.test] skipping the queries against Prometheus: ${gate.reason}`);

/** Queries that only have data in the accounts form: aliyun_sas_account_info does not exist in the single-account form. */
const ACCOUNTS_FORM_ONLY = new Set(['Accounts/A']);

interface Stack {
  prom: PrometheusInstance;
  exporter: FakeExporter;
}

/** The fake exporter in one form, scraped by a Prometheus with the shipped rules, once its rates and recording rules have data. */
async function startStack(multiAccount: boolean): Promise<Stack> {
  const exporter = await startFakeExporter({ multiAccount });
  let prom: PrometheusInstance | undefined;
  try {
    prom = await startPrometheus({
      scrapeJobs: [{ job: 'aliyun-sas-exporter', targets: [exporter.address] }],
      ruleFiles: [path.join(root, 'deploy/prometheus/rules.yml')],
    });
    // Rates need a few samples; the recording rules need an evaluation after that.
    await prom.waitFor('aliyun_sas:api_requests_throttled:ratio_rate5m', (s) => s.length === (multiAccount ? 2 : 1), 40_000);
    await prom.waitFor('aliyun_sas:scan_task_target_status', (s) => s.length === (multiAccount ? 6 : 3), 20_000);
    return { prom, exporter };
  } catch (e) {
    await prom?.stop();
    await exporter.close();
    throw e;
  }
}

async function stopStack(s: Stack | undefined): Promise<void> {
  await s?.prom.stop();
  await s?.exporter.close();
}

/** The value of each single-valued query, by panel title (refId A). */
async function singleValues(prom: PrometheusInstance, vars: Record<string, string>): Promise<Map<string, number>> {
  const byPanel = new Map<string, number>();
  for (const q of panelQueries()) {
    if (q.refId !== 'A') continue;
    const s = await prom.query(resolveVariables(q.expr, { ...vars, __rate_interval: '10s' }));
    if (s.length === 1) byPanel.set(q.panel, s[0]!.value);
  }
  return byPanel;
}

const STATUS_PANELS = ['Configured tasks', 'Failed', 'Processing', 'Success', 'Not polled yet', 'Polls failing'] as const;
const pickPanels = (m: Map<string, number>) => Object.fromEntries(STATUS_PANELS.map((k) => [k, m.get(k)]));
const byTarget = (a: Record<string, string>, b: Record<string, string>) => `${a.account}/${a.target}`.localeCompare(`${b.account}/${b.target}`);

describe.skipIf(gate.skip)('dashboard queries against a real Prometheus', () => {
  const stacks: { accounts?: Stack; single?: Stack } = {};

  beforeAll(async () => {
    gate.path('prometheus');
    // Both forms at once: each needs about 20 s of scrapes before its rates have data.
    const [accounts, single] = await Promise.allSettled([startStack(true), startStack(false)]);
    if (accounts.status === 'fulfilled') stacks.accounts = accounts.value;
    if (single.status === 'fulfilled') stacks.single = single.value;
    for (const r of [accounts, single]) if (r.status === 'rejected') throw r.reason;
  }, 120_000);

  afterAll(async () => {
    await Promise.all([stopStack(stacks.accounts), stopStack(stacks.single)]);
  });

  describe.each([
    { form: 'accounts form (prod and staging, the same task IDs)', key: 'accounts' as const },
    { form: 'single-account form (no account label)', key: 'single' as const },
  ])('$form', ({ key }) => {
    const multi = key === 'accounts';
    const stack = () => stacks[key]!;

    it('every rule is healthy (no many-to-many join)', async () => {
      const groups = (await stack().prom.rules()) as { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
      const rules = groups.flatMap((g) => g.rules);
      expect(rules.length).toBe(17);
      for (const r of rules) expect(r.health, `${r.name}: ${r.lastError ?? ''}`).toBe('ok');
    });

    it(`every panel query returns data with every variable at All (.*)${multi ? '' : ', but the accounts-form-only ones'}`, async () => {
      const empty: string[] = [];
      const emptyAsExpected: string[] = [];
      for (const q of panelQueries()) {
        const samples = await stack().prom.query(resolveVariables(q.expr, { ...ALL, __rate_interval: '10s' }));
        const id = `${q.panel}/${q.refId}`;
        if (samples.length > 0) continue;
        if (!multi && ACCOUNTS_FORM_ONLY.has(id)) emptyAsExpected.push(id);
        else empty.push(`${id}: ${q.expr}`);
      }
      expect(empty).toEqual([]);
      expect(emptyAsExpected).toEqual(multi ? [] : [...ACCOUNTS_FORM_ONLY]);
    });

    it('the account variable offers the accounts (accounts form) or nothing, whose All still matches every series (single form)', async () => {
      const match = FILTER_VARIABLES.find((v) => v.name === 'account')!.valuesFrom;
      const res = (await (await fetch(`${stack().prom.url}/api/v1/label/account/values?match[]=${encodeURIComponent(match)}`)).json()) as { data: string[] };
      expect(res.data).toEqual(multi ? [...FAKE_ACCOUNTS] : []);
      const tasks = (await (await fetch(`${stack().prom.url}/api/v1/label/task_id/values?match[]=${encodeURIComponent('aliyun_sas_scan_task_info{account=~".*"}')}`)).json()) as { data: string[] };
      expect(tasks.data).toEqual(['1001', '1002', '1003']);
    });

    it('the status panels count what the fake exporter serves: a task is (account, task_id)', async () => {
      const n = multi ? FAKE_ACCOUNTS.length : 1;
      expect(pickPanels(await singleValues(stack().prom, ALL))).toEqual({
        'Configured tasks': 3 * n,
        Failed: 1 * n,
        Processing: 1 * n,
        Success: 0,
        'Not polled yet': 1 * n,
        'Polls failing': 1 * n,
      });
      const failedTargets = panelQueries().find((q) => q.panel === 'Targets of failed tasks')!.expr;
      const targets = await stack().prom.query(resolveVariables(failedTargets, { account: '.*', task: '1001|1002' }));
      const expected = (account?: string) => [
        { ...(account ? { account } : {}), task_id: '1001', task_name: 'nightly full scan', target_type: 'groupId', target: '42', target_name: 'production' },
        { ...(account ? { account } : {}), task_id: '1001', task_name: 'nightly full scan', target_type: 'uuid', target: 'srv-a', target_name: 'web-1' },
      ];
      expect(targets.map((s) => s.metric).sort(byTarget)).toEqual(multi ? FAKE_ACCOUNTS.flatMap((a) => expected(a)) : expected());
      expect(await stack().prom.query(resolveVariables(failedTargets, { account: '.*', task: '1002' }))).toEqual([]);
    });

    if (multi) {
      it('the account variable narrows every task panel to that account', async () => {
        expect(pickPanels(await singleValues(stack().prom, { account: 'staging', task: '.*' }))).toEqual({
          'Configured tasks': 3,
          Failed: 1,
          Processing: 1,
          Success: 0,
          'Not polled yet': 1,
          'Polls failing': 1,
        });
        const tasks = await stack().prom.query(resolveVariables(panelQueries().find((q) => q.panel === 'Scan tasks' && q.refId === 'A')!.expr, { account: 'staging', task: '.*' }));
        expect(tasks.map((s) => `${s.metric.account}/${s.metric.task_id}`).sort()).toEqual(['staging/1001', 'staging/1002', 'staging/1003']);
        const calls = await stack().prom.query(resolveVariables(panelQueries().find((q) => q.panel === 'API requests by account and code')!.expr, { account: 'prod', __rate_interval: '10s' }));
        expect(new Set(calls.map((s) => s.metric.account))).toEqual(new Set(['prod']));
      });

      it('the accounts table: one row per account, with its endpoint, tasks, failures and rate limit', async () => {
        const rows = new Map<string, Record<string, unknown>>();
        for (const q of panelQueries().filter((x) => x.panel === 'Accounts')) {
          for (const s of await stack().prom.query(resolveVariables(q.expr, { ...ALL, __rate_interval: '10s' }))) {
            const row = rows.get(s.metric.account!) ?? {};
            if (q.refId === 'A') Object.assign(row, { endpoint: s.metric.endpoint, region: s.metric.region });
            else row[q.refId] = q.refId === 'E' ? s.value > 0 : s.value;
            rows.set(s.metric.account!, row);
          }
        }
        const row = { endpoint: 'tds.cn-shanghai.aliyuncs.com', region: 'cn-shanghai', B: 3, C: 1, D: 1, E: true, F: 5 };
        expect(Object.fromEntries(rows)).toEqual({ prod: row, staging: row });
      });
    }

    it('the Latest virus scan row counts what the fake exporter serves, an account (and a machine) once', async () => {
      const v = await singleValues(stack().prom, ALL);
      const scan = ['Suspicious machines', 'Scan alerts', 'Machines scanned', 'Safe machines', 'Failed or timed out'];
      // prod (and the single account): 5 machines, 3 safe, 2 suspicious, 5 alerts, 2 failed or timed out; staging: 4, 2 safe, 1 timed out.
      expect(Object.fromEntries(scan.map((k) => [k, v.get(k)]))).toEqual(
        multi
          ? { 'Suspicious machines': 2, 'Scan alerts': 5, 'Machines scanned': 9, 'Safe machines': 5, 'Failed or timed out': 3 }
          : { 'Suspicious machines': 2, 'Scan alerts': 5, 'Machines scanned': 5, 'Safe machines': 3, 'Failed or timed out': 2 },
      );
      // Both latest scans: the complete one started 48 hours ago, the running one 30.
      expect(Math.abs(v.get('Oldest latest scan')! - 48 * 3600)).toBeLessThan(300);

      const table = new Map<string, Record<string, unknown>>();
      for (const q of panelQueries().filter((x) => x.panel === 'Latest virus scan by account')) {
        for (const s of await stack().prom.query(resolveVariables(q.expr, ALL))) {
          const row = table.get(s.metric.account ?? '') ?? {};
          if (q.refId === 'A') Object.assign(row, { task_id: s.metric.task_id, scan_type: s.metric.scan_type });
          else if (q.refId === 'B') row.status = s.metric.status;
          else if (q.refId === 'K') row.level = s.metric.level;
          else if (q.refId === 'D') row.D = Math.round(s.value / 3600);
          else row[q.refId] = s.value;
          table.set(s.metric.account ?? '', row);
        }
      }
      const complete = { task_id: FAKE_SCANS.complete, scan_type: 'user', status: 'complete', C: 1, D: 48, E: 5, F: 3, G: 2, H: 2, I: 2, J: 5, level: 'high', L: 1 };
      const running = { task_id: FAKE_SCANS.running, scan_type: 'system', status: 'running', C: 0.4, D: 30, E: 4, F: 2, G: 0, H: 3, I: 1, J: 0, level: 'none', L: 1 };
      expect(Object.fromEntries(table)).toEqual(multi ? { prod: complete, staging: running } : { '': complete });

      const failedQuery = panelQueries().find((q) => q.panel === 'Machines whose scan failed or timed out' && q.refId === 'A')!.expr;
      const rows = (account: string) => stack().prom.query(resolveVariables(failedQuery, { account }));
      const expected = (account: string | undefined, scan: 'complete' | 'running') =>
        FAKE_FAILED_MACHINES[scan].map((m) => ({
          ...(account ? { account } : {}),
          uuid: m.uuid,
          status: m.status,
          task_id: FAKE_SCANS[scan],
          instance_name: m.instanceName,
          ...(m.internetIp ? { internet_ip: m.internetIp } : {}),
          ...(m.intranetIp ? { intranet_ip: m.intranetIp } : {}),
        }));
      const order = (a: Record<string, string>, b: Record<string, string>) => `${a.account}/${a.uuid}`.localeCompare(`${b.account}/${b.uuid}`);
      expect((await rows('.*')).map((s) => s.metric).sort(order)).toEqual(
        (multi ? [...expected('prod', 'complete'), ...expected('staging', 'running')] : expected(undefined, 'complete')).sort(order),
      );
      if (multi) expect((await rows('staging')).map((s) => s.metric)).toEqual(expected('staging', 'running'));
      // The other columns of that table: one value per failed machine, the running scan's timed-out machine with its end.
      for (const refId of ['B', 'C', 'D']) {
        const q = panelQueries().find((x) => x.panel === 'Machines whose scan failed or timed out' && x.refId === refId)!.expr;
        expect((await stack().prom.query(resolveVariables(q, ALL))).length, refId).toBe(multi ? 3 : 2);
      }
    });

    it('the scan alerts fire at once on the fake scans (no `for:`): suspicious machines, failed or timed-out machines by name, the scan running over 24h', async () => {
      const expected = multi
        ? [
            `AliyunSasVirusScanMachinesFailed prod ${FAKE_SCANS.complete} ${FAKE_FAILED_MACHINES.complete[0]!.instanceName} failed`,
            `AliyunSasVirusScanMachinesFailed prod ${FAKE_SCANS.complete} ${FAKE_FAILED_MACHINES.complete[1]!.instanceName} timeout`,
            `AliyunSasVirusScanMachinesFailed staging ${FAKE_SCANS.running} ${FAKE_FAILED_MACHINES.running[0]!.instanceName} timeout`,
            `AliyunSasVirusScanRunningTooLong staging ${FAKE_SCANS.running} - running`,
            `AliyunSasVirusScanSuspiciousMachines prod ${FAKE_SCANS.complete} - high`,
          ]
        : [
            `AliyunSasVirusScanMachinesFailed - ${FAKE_SCANS.complete} ${FAKE_FAILED_MACHINES.complete[0]!.instanceName} failed`,
            `AliyunSasVirusScanMachinesFailed - ${FAKE_SCANS.complete} ${FAKE_FAILED_MACHINES.complete[1]!.instanceName} timeout`,
            `AliyunSasVirusScanSuspiciousMachines - ${FAKE_SCANS.complete} - high`,
          ];
      const alerts = await stack().prom.waitFor('ALERTS{alertname=~"AliyunSasVirusScan.*"}', (s) => s.length === expected.length, 20_000);
      expect(alerts.every((a) => a.metric.alertstate === 'firing')).toBe(true);
      const key = (l: Record<string, string>) => `${l.alertname} ${l.account ?? '-'} ${l.task_id} ${l.instance_name ?? '-'} ${l.status ?? l.risk_level}`;
      expect(alerts.map((a) => key(a.metric)).sort()).toEqual(expected.sort());
    });

    it('the failed task fires AliyunSasScanTaskFailed at once (no `for:`), one alert per account and target', async () => {
      const alerts = await stack().prom.waitFor('ALERTS{alertname="AliyunSasScanTaskFailed"}', (s) => s.length === 2 * (multi ? FAKE_ACCOUNTS.length : 1), 20_000);
      expect(alerts.every((a) => a.metric.alertstate === 'firing')).toBe(true);
      expect(alerts.map((a) => `${a.metric.account ?? '-'}/${a.metric.task_id}/${a.metric.target}`).sort()).toEqual(
        multi ? ['prod/1001/42', 'prod/1001/srv-a', 'staging/1001/42', 'staging/1001/srv-a'] : ['-/1001/42', '-/1001/srv-a'],
      );
    });
  });
});
