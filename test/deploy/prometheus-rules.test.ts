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
import { PROMETHEUS_RULE_FILES, renderPrometheusRule, RULES_FILE } from '../../deploy/prometheus/generate-prometheus-rule.js';
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

const EXPECTED_ALERTS = [
  'AliyunSasScanTaskFailed',
  'AliyunSasScanTaskStuck',
  'AliyunSasScanTaskPollFailing',
  'AliyunSasPermissionDenied',
  'AliyunSasApiThrottled',
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
      expect(a.annotations?.runbook_url, name).toBe(`https://github.com/aliyun-sas-exporter/aliyun-sas-exporter/blob/main/README.md#alert-${name.toLowerCase()}`);
      // The runbook text the lead moves into README.md: "### Alert: Name" gives the anchor #alert-name.
      expect(readme, name).toContain(`### Alert: ${name}\n`);
    }
  });

  it('joins per exporter, never on task_id alone', () => {
    for (const r of rules) expect(r.expr, r.alert ?? r.record).not.toMatch(/on\s*\(\s*task_id\s*\)/);
  });

  it('uses only metric names from the README', () => {
    const doc = read('README.md');
    const documented = new Set([...doc.matchAll(/`(aliyun_sas_[a-z_]+)`/g)].map((m) => m[1]));
    const used = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\b(aliyun_sas_[a-z_]+)\b/g)].map((m) => m[1]!.replace(/_bucket$/, ''))));
    for (const m of used) expect(documented, m).toContain(m);
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
