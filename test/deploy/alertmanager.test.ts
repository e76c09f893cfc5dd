/**
 * deploy/alertmanager/alertmanager.yml: valid for amtool, routes every alert
 * of rules.yml by severity, groups per (account, task) and inhibits the
 * NoPermission symptoms of an account whose permission is missing (checked
 * on a real Alertmanager).
 */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runTool, startAlertmanager, toolGate, type AlertmanagerInstance } from '../support/prometheus.js';

const root = path.resolve(import.meta.dirname, '../..');
const CONFIG = 'deploy/alertmanager/alertmanager.yml';
const configText = readFileSync(path.join(root, CONFIG), 'utf8');

const alerts = (parse(readFileSync(path.join(root, 'deploy/prometheus/rules.yml'), 'utf8')) as {
  groups: { rules: { alert?: string; labels?: Record<string, string> }[] }[];
}).groups
  .flatMap((g) => g.rules)
  .filter((r) => r.alert);

const RECEIVER_BY_SEVERITY: Record<string, string> = { critical: 'pager', warning: 'ticket' };

describe('alertmanager.yml content', () => {
  const cfg = parse(configText) as {
    route: { receiver: string; group_by: string[]; routes: { receiver: string; matchers: string[] }[] };
    inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
    receivers: { name: string; webhook_configs?: { url: string }[] }[];
  };

  it('groups by alertname, account and task_id (a task is (account, task_id))', () => {
    expect(cfg.route.group_by).toEqual(['alertname', 'account', 'task_id']);
  });

  it('inhibits the NoPermission poll failures (tasks and latest virus scan) of the account AliyunSasPermissionDenied fires for, and nothing by exporter instance', () => {
    expect(cfg.inhibit_rules).toEqual([
      {
        source_matchers: ['alertname="AliyunSasPermissionDenied"'],
        target_matchers: ['alertname=~"AliyunSasScanTaskPollFailing|AliyunSasVirusScanPollFailing"', 'code="NoPermission"'],
        equal: ['job', 'account'],
      },
    ]);
  });

  it('has webhook receivers with placeholder URLs only', () => {
    expect(cfg.receivers.map((r) => r.name).sort()).toEqual(['pager', 'ticket']);
    for (const r of cfg.receivers) for (const w of r.webhook_configs ?? []) expect(new URL(w.url).hostname).toMatch(/\.invalid$/);
  });
});

const amtool = toolGate(['amtool']);
if (amtool.skip) console.warn(`[alertmanager.test] skipping amtool checks: ${amtool.reason}`);
const itAmtool = amtool.skip ? it.skip : it;

function routeOf(labels: Record<string, string>): string {
  const r = runTool(amtool.path('amtool'), ['config', 'routes', 'test', `--config.file=${CONFIG}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)], { cwd: root });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe('amtool', () => {
  itAmtool('check-config passes', () => {
    const r = runTool(amtool.path('amtool'), ['check-config', CONFIG], { cwd: root });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  itAmtool.each(alerts.map((a) => [a.alert as string, a.labels?.severity as string]))('routes %s (severity %s) by severity', (alertname, severity) => {
    expect(routeOf({ alertname, severity, task_id: '1001' })).toBe(RECEIVER_BY_SEVERITY[severity]);
  });

  itAmtool('sends an alert without severity to the ticket queue instead of dropping it', () => {
    expect(routeOf({ alertname: 'SomethingElse' })).toBe('ticket');
  });

  itAmtool('--verify.receivers fails on a wrong receiver', () => {
    const r = runTool(amtool.path('amtool'), ['config', 'routes', 'test', `--config.file=${CONFIG}`, '--verify.receivers=pager', 'severity=warning'], { cwd: root });
    expect(r.code).not.toBe(0);
  });
});

const amGate = toolGate(['alertmanager']);
if (amGate.skip) console.warn(`[alertmanager.test] skipping the inhibition check: ${amGate.reason}`);

describe.skipIf(amGate.skip)('inhibition on a real Alertmanager', () => {
  let am: AlertmanagerInstance;
  let hook: Server;

  afterAll(async () => {
    await am?.stop();
    await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
  });

  it('suppresses the NoPermission poll failures (tasks, latest virus scan) of the denied account only; a replica down suppresses nothing', async () => {
    amGate.path('alertmanager');
    hook = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const local = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook`;
    // The same configuration, with the placeholder webhooks pointed at a local sink.
    am = await startAlertmanager({ config: configText.replace(/https:\/\/[a-z.]+\.invalid\/[^\s]*/g, local) });

    const job = 'aliyun-sas-exporter';
    const single = 'aliyun-sas-exporter-single';
    const action = 'DescribeScanTaskProgress';
    // Task and account alerts as the rules make them: merged across replicas, without instance.
    await am.postAlerts([
      { labels: { alertname: 'AliyunSasExporterDown', severity: 'critical', job, instance: 'exporter-a:9717' } },
      { labels: { alertname: 'AliyunSasScanTaskFailed', severity: 'warning', job, account: 'prod', task_id: '1001', target: 'srv-a' } },
      { labels: { alertname: 'AliyunSasScanTaskFailed', severity: 'warning', job, account: 'staging', task_id: '1001', target: 'srv-a' } },
      { labels: { alertname: 'AliyunSasPermissionDenied', severity: 'critical', job, account: 'prod', action, code: 'NoPermission' } },
      { labels: { alertname: 'AliyunSasScanTaskPollFailing', severity: 'warning', job, account: 'prod', task_id: '1002', class: 'api', code: 'NoPermission' } },
      { labels: { alertname: 'AliyunSasScanTaskPollFailing', severity: 'warning', job, account: 'prod', task_id: '1003', class: 'timeout', code: 'timeout' } },
      { labels: { alertname: 'AliyunSasScanTaskPollFailing', severity: 'warning', job, account: 'staging', task_id: '1002', class: 'api', code: 'NoPermission' } },
      // The latest virus scan's polls: denied in prod (inhibited), timing out in prod, denied in staging (no PermissionDenied there).
      { labels: { alertname: 'AliyunSasVirusScanPollFailing', severity: 'warning', job, account: 'prod', class: 'api', code: 'NoPermission' } },
      { labels: { alertname: 'AliyunSasVirusScanPollFailing', severity: 'warning', job, account: 'prod', class: 'timeout', code: 'timeout' } },
      { labels: { alertname: 'AliyunSasVirusScanPollFailing', severity: 'warning', job, account: 'staging', class: 'api', code: 'NoPermission' } },
      // A scan finding is never inhibited.
      { labels: { alertname: 'AliyunSasVirusScanSuspiciousMachines', severity: 'critical', job, account: 'prod', task_id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa0001', scan_type: 'system', risk_level: 'high' } },
      // The single-account form: no account label on either side.
      { labels: { alertname: 'AliyunSasPermissionDenied', severity: 'critical', job: single, action, code: 'NoPermission' } },
      { labels: { alertname: 'AliyunSasScanTaskPollFailing', severity: 'warning', job: single, task_id: '1002', class: 'api', code: 'NoPermission' } },
    ]);

    const key = (l: Record<string, string>) => `${l.alertname} ${l.job === single ? '(single)' : (l.account ?? l.instance)} ${l.task_id ?? (l.alertname === 'AliyunSasVirusScanPollFailing' ? l.code : '-')}`;
    let states: Record<string, string> = {};
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      states = Object.fromEntries((await am.alerts()).map((x) => [key(x.labels), x.status.state]));
      if (Object.keys(states).length === 13 && !Object.values(states).includes('unprocessed')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(states).toEqual({
      'AliyunSasExporterDown exporter-a:9717 -': 'active',
      'AliyunSasScanTaskFailed prod 1001': 'active',
      'AliyunSasScanTaskFailed staging 1001': 'active',
      'AliyunSasPermissionDenied prod -': 'active',
      'AliyunSasScanTaskPollFailing prod 1002': 'suppressed',
      'AliyunSasScanTaskPollFailing prod 1003': 'active',
      'AliyunSasScanTaskPollFailing staging 1002': 'active',
      'AliyunSasVirusScanPollFailing prod NoPermission': 'suppressed',
      'AliyunSasVirusScanPollFailing prod timeout': 'active',
      'AliyunSasVirusScanPollFailing staging NoPermission': 'active',
      'AliyunSasVirusScanSuspiciousMachines prod aaaaaaaaaaaaaaaaaaaaaaaaaaaa0001': 'active',
      'AliyunSasPermissionDenied (single) -': 'active',
      'AliyunSasScanTaskPollFailing (single) 1002': 'suppressed',
    });

    // The same task ID in two accounts is two notification groups.
    const groups = (await (await fetch(`${am.url}/api/v2/alerts/groups`)).json()) as { labels: Record<string, string> }[];
    const failedGroups = groups.filter((g) => g.labels.alertname === 'AliyunSasScanTaskFailed').map((g) => g.labels);
    expect(failedGroups.sort((a, b) => (a.account ?? '').localeCompare(b.account ?? ''))).toEqual([
      { alertname: 'AliyunSasScanTaskFailed', account: 'prod', task_id: '1001' },
      { alertname: 'AliyunSasScanTaskFailed', account: 'staging', task_id: '1001' },
    ]);
  }, 60_000);
});
