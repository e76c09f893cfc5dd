/**
 * deploy/prometheus: rules.yml passes promtool check and its unit tests,
 * every alert is complete and tested both ways, the PrometheusRule copies are
 * generated from it, and the sample prometheus.yml is valid.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  applyRunbookBase,
  PROMETHEUS_RULE_FILES,
  renderAll,
  renderPrometheusRule,
  RULES_FILE,
  RULES_TEST_FILE,
  RUNBOOK_BASE,
  runbookUrl,
} from '../../deploy/prometheus/generate-prometheus-rule.js';
import { runTool, toolGate } from '../support/prometheus.js';

const root = path.resolve(import.meta.dirname, '../..');
const read = (rel: string) => readFileSync(path.join(root, rel), 'utf8');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: Rule[];
}

const rulesText = read(RULES_FILE);
const groups = (parse(rulesText) as { groups: RuleGroup[] }).groups;
const rules = groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert);
const records = rules.filter((r) => r.record);

/** Alerts about one exporter process: per instance, never merged across replicas. */
const PER_INSTANCE_ALERTS = ['AliyunSasExporterDown', 'AliyunSasNoSuccessfulPollCycle', 'AliyunSasConfigReloadFailed'];

const EXPECTED_ALERTS = [
  'AliyunSasScanTaskFailed',
  'AliyunSasScanTaskStuck',
  'AliyunSasScanTaskPollFailing',
  'AliyunSasPermissionDenied',
  'AliyunSasApiThrottled',
  'AliyunSasVirusScanSuspiciousMachines',
  'AliyunSasVirusScanMachinesFailed',
  'AliyunSasVirusScanStale',
  'AliyunSasVirusScanRunningTooLong',
  'AliyunSasVirusScanPollFailing',
  'AliyunSasExporterDown',
  'AliyunSasNoSuccessfulPollCycle',
  'AliyunSasConfigReloadFailed',
];

describe('rules.yml content', () => {
  it('has exactly the agreed alerts and the recording rules', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual([...EXPECTED_ALERTS].sort());
    expect(records.map((r) => r.record)).toEqual([
      'aliyun_sas:scan_task_current_status',
      'aliyun_sas:scan_task_target_status',
      'aliyun_sas:scan_task_time_in_status_seconds',
      'aliyun_sas:api_requests_throttled:ratio_rate5m',
    ]);
  });

  it('every alert has a severity, a summary, a description and its README runbook anchor', () => {
    const readme = read('README.md');
    for (const a of alerts) {
      const name = a.alert as string;
      expect(['critical', 'warning'], name).toContain(a.labels?.severity);
      expect(a.annotations?.summary?.trim(), name).toBeTruthy();
      expect(a.annotations?.description?.trim().length ?? 0, name).toBeGreaterThan(80);
      expect(a.annotations?.runbook_url, name).toBe(`${RUNBOOK_BASE}#alert-${name.toLowerCase()}`);
      // The runbook text the lead moves into README.md: "### Alert: Name" gives the anchor #alert-name.
      expect(readme, name).toContain(`### Alert: ${name}\n`);
    }
  });

  it('joins per exporter, never on task_id alone', () => {
    for (const r of rules) expect(r.expr, r.alert ?? r.record).not.toMatch(/on\s*\(\s*task_id\s*\)/);
  });

  it('every join by task is by (account, task): on(job, instance, account, task_id)', () => {
    const joins = rules.flatMap((r) => [...r.expr.matchAll(/\b(?:on|ignoring)\s*\(([^)]*)\)/g)].map((m) => ({ rule: r.alert ?? r.record, labels: m[1]!.split(',').map((l) => l.trim()) })));
    const byTask = joins.filter((j) => j.labels.includes('task_id'));
    expect(byTask.length).toBeGreaterThanOrEqual(6);
    for (const j of byTask) expect(j.labels, j.rule).toEqual(['job', 'instance', 'account', 'task_id']);
    // And no aggregation drops the account: `by (...)` would have to name it.
    for (const r of rules) expect(r.expr, r.alert ?? r.record).not.toMatch(/\bby\s*\(/);
  });

  it('every join over the scan-result families is per account, or per (account, machine): on(job, instance, account[, uuid])', () => {
    const scanRules = rules.filter((r) => /aliyun_sas_virus_scan_/.test(r.expr));
    expect(scanRules.map((r) => r.alert)).toEqual([
      'AliyunSasVirusScanSuspiciousMachines',
      'AliyunSasVirusScanMachinesFailed',
      'AliyunSasVirusScanStale',
      'AliyunSasVirusScanRunningTooLong',
      'AliyunSasVirusScanPollFailing',
    ]);
    for (const r of scanRules) {
      const joins = [...r.expr.matchAll(/\b(?:on|ignoring)\s*\(([^)]*)\)/g)].map((m) => m[1]!.split(',').map((l) => l.trim()));
      expect(joins.length, r.alert).toBeGreaterThan(0);
      for (const labels of joins) expect([['job', 'instance', 'account'], ['job', 'instance', 'account', 'uuid']], `${r.alert}: on(${labels.join(', ')})`).toContainEqual(labels);
      // The machine families are joined per machine, the latest-scan ones per account.
      if (/aliyun_sas_virus_scan_machine_(info|status)\b/.test(r.expr)) expect(r.expr, r.alert).toMatch(/on\(job, instance, account, uuid\)/);
    }
  });

  it('the scan alerts: no `for:` on final data (findings, failed machines, a growing age); Stale waits 15m for its never-ran case', () => {
    const forOf = (name: string) => alerts.find((a) => a.alert === name)!.for;
    expect(forOf('AliyunSasVirusScanSuspiciousMachines')).toBeUndefined();
    expect(forOf('AliyunSasVirusScanMachinesFailed')).toBeUndefined();
    expect(forOf('AliyunSasVirusScanRunningTooLong')).toBeUndefined();
    expect(forOf('AliyunSasVirusScanPollFailing')).toBeUndefined();
    expect(forOf('AliyunSasVirusScanStale')).toBe('15m');
    expect(alerts.find((a) => a.alert === 'AliyunSasVirusScanSuspiciousMachines')!.labels?.severity).toBe('critical');
    // Thresholds written once, in the expression, and named in the description.
    const stale = alerts.find((a) => a.alert === 'AliyunSasVirusScanStale')!;
    expect(stale.expr).toContain('> 8 * 86400');
    expect(stale.annotations?.description).toContain('8 * 86400');
    const running = alerts.find((a) => a.alert === 'AliyunSasVirusScanRunningTooLong')!;
    expect(running.expr).toContain('> 24 * 3600');
    expect(running.annotations?.description).toContain('24 * 3600');
  });

  it('alerts about tasks and accounts give one alert for two replicas: max without (instance, pod)', () => {
    for (const a of alerts) {
      const name = a.alert as string;
      if (PER_INSTANCE_ALERTS.includes(name)) expect(a.expr, name).not.toMatch(/without\s*\(\s*instance/);
      else expect(a.expr.trimStart(), name).toMatch(/^max without \(instance, pod\) \(/);
    }
  });

  it('AliyunSasScanTaskFailed has no `for:` (a failed task is final), and the comment says why', () => {
    expect(alerts.find((a) => a.alert === 'AliyunSasScanTaskFailed')!.for).toBeUndefined();
    expect(rulesText).toMatch(/No `for:`: `failed` is a terminal status/);
  });

  it('alerts that can carry an account name it in their summary and description, only when present', () => {
    for (const a of alerts) {
      const name = a.alert as string;
      if (PER_INSTANCE_ALERTS.includes(name)) continue;
      for (const k of ['summary', 'description'] as const) expect(a.annotations?.[k], `${name} ${k}`).toMatch(/\{\{ with \$labels\.account \}\}[^{]*\{\{ \. \}\}[^{]*\{\{ (?:end|else) \}\}/);
    }
  });

  it('uses only metric names from the README', () => {
    const doc = read('README.md');
    const documented = new Set([...doc.matchAll(/`(aliyun_sas_[a-z_]+)`/g)].map((m) => m[1]));
    const used = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\b(aliyun_sas_[a-z_]+)\b/g)].map((m) => m[1]!.replace(/_bucket$/, ''))));
    for (const m of used) expect(documented, m).toContain(m);
  });
});

describe('runbook links (RUNBOOK_BASE of the generator)', () => {
  const other = 'https://git.example.com/ops/aliyun-sas-exporter/-/blob/main/README.md';

  it('the default base is the relative README, which holds every anchor', () => {
    expect(RUNBOOK_BASE).toBe('README.md');
    expect(runbookUrl('AliyunSasScanTaskFailed')).toBe('README.md#alert-aliyunsasscantaskfailed');
  });

  it('rules.yml and rules.test.yml carry the links the generator writes (regenerate: node dist/deploy/prometheus/generate-prometheus-rule.js)', () => {
    expect(read(RULES_FILE)).toBe(applyRunbookBase(read(RULES_FILE)));
    expect(read(RULES_TEST_FILE)).toBe(applyRunbookBase(read(RULES_TEST_FILE)));
    const tests = parse(read(RULES_TEST_FILE)) as { tests: { alert_rule_test?: { alertname: string; exp_alerts?: { exp_annotations?: Record<string, string> }[] }[] }[] };
    const expected = tests.tests.flatMap((t) => t.alert_rule_test ?? []).flatMap((c) => (c.exp_alerts ?? []).map((e) => [c.alertname, e.exp_annotations?.runbook_url]));
    expect(expected.length).toBeGreaterThan(EXPECTED_ALERTS.length);
    for (const [name, url] of expected) expect(url, name).toBe(runbookUrl(name!));
  });

  it('another base rewrites every link, in the rules, the test expectations and the PrometheusRules, and nothing else', () => {
    const files = renderAll(root, other);
    const rewritten = parse(files.get(RULES_FILE)!) as { groups: RuleGroup[] };
    const rewrittenAlerts = rewritten.groups.flatMap((g) => g.rules).filter((r) => r.alert);
    expect(rewrittenAlerts.map((a) => a.annotations?.runbook_url)).toEqual(alerts.map((a) => `${other}#alert-${a.alert!.toLowerCase()}`));
    const strip = (t: string) => t.replace(/runbook_url: .*/g, 'runbook_url: X');
    expect(strip(files.get(RULES_FILE)!)).toBe(strip(rulesText));
    expect(strip(files.get(RULES_TEST_FILE)!)).toBe(strip(read(RULES_TEST_FILE)));
    expect(files.get(RULES_TEST_FILE)!).not.toContain('runbook_url: README.md#');
    for (const rel of PROMETHEUS_RULE_FILES) expect(files.get(rel)).toBe(renderPrometheusRule(files.get(RULES_FILE)!));
  });

  it('refuses a base that would break the YAML or the anchor, and a link without an alert', () => {
    for (const bad of ['', 'has space', 'a#b', '- x', "'quoted'"]) expect(() => applyRunbookBase('x: 1\n', bad), bad).toThrow(/runbook base/);
    expect(() => applyRunbookBase('groups:\n  - annotations:\n      runbook_url: x\n')).toThrow(/runbook_url before any alert name/);
  });
});

describe('rules.test.yml coverage', () => {
  const tests = (parse(read('deploy/prometheus/rules.test.yml')) as {
    rule_files: string[];
    tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[]; promql_expr_test?: { expr: string }[] }[];
  }).tests;
  const alertCases = tests.flatMap((t) => t.alert_rule_test ?? []);
  const exprCases = tests.flatMap((t) => t.promql_expr_test ?? []);

  it('tests every alert firing and not firing', () => {
    for (const name of EXPECTED_ALERTS) {
      const cases = alertCases.filter((c) => c.alertname === name);
      expect(cases.some((c) => (c.exp_alerts ?? []).length > 0), `${name} fires somewhere`).toBe(true);
      expect(cases.some((c) => (c.exp_alerts ?? []).length === 0), `${name} stays silent somewhere`).toBe(true);
    }
  });

  it('tests every recording rule', () => {
    for (const r of records) expect(exprCases.some((c) => c.expr.includes(r.record as string)), r.record).toBe(true);
  });

  it('tests every task and account alert firing in both forms: without `account` and with it', () => {
    for (const name of EXPECTED_ALERTS.filter((n) => !PER_INSTANCE_ALERTS.includes(n))) {
      const fired = alertCases.filter((c) => c.alertname === name).flatMap((c) => (c.exp_alerts ?? []) as { exp_labels: Record<string, string> }[]);
      expect(fired.some((e) => e.exp_labels.account === undefined), `${name} in the single-account form`).toBe(true);
      expect(fired.some((e) => e.exp_labels.account !== undefined), `${name} in the accounts form`).toBe(true);
      // Merged across replicas: no expected alert of these names has an instance or a pod.
      for (const e of fired) expect(Object.keys(e.exp_labels), name).not.toEqual(expect.arrayContaining(['instance']));
    }
  });

  it('has a two-replica case (series differing only by instance and pod) and a two-account case with a shared task ID', () => {
    const all = (parse(read('deploy/prometheus/rules.test.yml')) as { tests: { input_series: { series: string }[] }[] }).tests;
    const labelsOf = (s: string) => Object.fromEntries([...s.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    const ha = all.filter((t) => t.input_series.some((s) => labelsOf(s.series).pod !== undefined));
    expect(ha.length).toBeGreaterThan(0);
    const shared = all.filter((t) => {
      const infos = t.input_series.filter((s) => s.series.startsWith('aliyun_sas_scan_task_info{')).map((s) => labelsOf(s.series));
      return infos.some((a) => infos.some((b) => a.instance === b.instance && a.task_id === b.task_id && a.account !== undefined && b.account !== undefined && a.account !== b.account));
    });
    expect(shared.length).toBeGreaterThan(0);
  });
});

describe('PrometheusRule (generated from rules.yml)', () => {
  const rendered = renderPrometheusRule(rulesText);

  it.each(PROMETHEUS_RULE_FILES)('%s is up to date (regenerate: npm run build && node dist/deploy/prometheus/generate-prometheus-rule.js)', (rel) => {
    expect(read(rel)).toBe(rendered);
  });

  it('holds exactly the groups of rules.yml', () => {
    const pr = parse(rendered) as { apiVersion: string; kind: string; metadata: { name: string }; spec: { groups: RuleGroup[] } };
    expect(pr).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'aliyun-sas-exporter' } });
    expect(pr.spec.groups).toEqual(groups);
  });

  it('refuses a rules file without groups', () => {
    expect(() => renderPrometheusRule('foo: 1\n')).toThrow(/no rule groups/);
  });
});

const gate = toolGate(['promtool']);
if (gate.skip) console.warn(`[prometheus-rules.test] skipping promtool checks: ${gate.reason}`);
const itPromtool = gate.skip ? it.skip : it;

describe('promtool', () => {
  const tmp: string[] = [];
  afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

  itPromtool('check rules: rules.yml', () => {
    const r = runTool(gate.path('promtool'), ['check', 'rules', RULES_FILE], { cwd: root });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  itPromtool('test rules: rules.test.yml', () => {
    const r = runTool(gate.path('promtool'), ['test', 'rules', 'deploy/prometheus/rules.test.yml'], { cwd: root });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  itPromtool('test rules fails when an expectation is wrong (the tests do test)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rules-mutant-'));
    tmp.push(dir);
    writeFileSync(path.join(dir, 'rules.yml'), rulesText.replace('> 6 * 3600', '> 8 * 3600'));
    writeFileSync(path.join(dir, 'rules.test.yml'), read('deploy/prometheus/rules.test.yml'));
    const r = runTool(gate.path('promtool'), ['test', 'rules', 'rules.test.yml'], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('AliyunSasScanTaskStuck');
  });

  itPromtool('test rules fails when a scan threshold moves (8 days for a stale scan, 24 hours running)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rules-mutant-'));
    tmp.push(dir);
    writeFileSync(path.join(dir, 'rules.test.yml'), read('deploy/prometheus/rules.test.yml'));
    for (const [from, to, alert] of [
      ['> 8 * 86400)', '> 8 * 86400 + 60)', 'AliyunSasVirusScanStale'],
      ['> 24 * 3600)', '> 25 * 3600)', 'AliyunSasVirusScanRunningTooLong'],
    ] as const) {
      expect(rulesText.split(from)).toHaveLength(2);
      writeFileSync(path.join(dir, 'rules.yml'), rulesText.replace(from, to));
      const r = runTool(gate.path('promtool'), ['test', 'rules', 'rules.test.yml'], { cwd: dir });
      expect(r.code, alert).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(alert);
    }
  });

  itPromtool('test rules with another runbook base passes, and checks the link (a rules file and tests that disagree fail)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rules-runbook-'));
    tmp.push(dir);
    const files = renderAll(root, 'https://runbooks.example.org/aliyun-sas-exporter');
    writeFileSync(path.join(dir, 'rules.yml'), files.get(RULES_FILE)!);
    writeFileSync(path.join(dir, 'rules.test.yml'), files.get(RULES_TEST_FILE)!);
    const ok = runTool(gate.path('promtool'), ['test', 'rules', 'rules.test.yml'], { cwd: dir });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    writeFileSync(path.join(dir, 'rules.test.yml'), read(RULES_TEST_FILE));
    const bad = runTool(gate.path('promtool'), ['test', 'rules', 'rules.test.yml'], { cwd: dir });
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toContain('runbooks.example.org');
  });

  itPromtool('check rules: the PrometheusRule spec', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'prometheusrule-'));
    tmp.push(dir);
    const spec = (parse(read(PROMETHEUS_RULE_FILES[0])) as { spec: unknown }).spec;
    writeFileSync(path.join(dir, 'spec.yml'), JSON.stringify(spec));
    const r = runTool(gate.path('promtool'), ['check', 'rules', 'spec.yml'], { cwd: dir });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  itPromtool('check config: the sample prometheus.yml', () => {
    const r = runTool(gate.path('promtool'), ['check', 'config', 'deploy/prometheus/prometheus.yml'], { cwd: root });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const cfg = parse(read('deploy/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; scrape_interval: string; scrape_timeout: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    expect(cfg.rule_files).toEqual(['rules.yml']);
    const job = cfg.scrape_configs.find((j) => j.job_name === 'aliyun-sas-exporter');
    expect(job).toMatchObject({ scrape_interval: '30s', scrape_timeout: '10s', metrics_path: '/metrics' });
    expect(job?.static_configs[0]?.targets[0]).toMatch(/:9717$/);
  });
});
