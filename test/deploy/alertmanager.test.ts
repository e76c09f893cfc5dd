/**
 * deploy/alertmanager/alertmanager.yml: valid for amtool, routes every alert
 * of rules.yml by severity, and inhibits per-task alerts while the exporter
 * is down (checked on a real Alertmanager).
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

  it('groups by alertname and task_id', () => {
    expect(cfg.route.group_by).toEqual(['alertname', 'task_id']);
  });

  it('inhibits alerts with a task_id while AliyunSasExporterDown fires for the same exporter', () => {
    expect(cfg.inhibit_rules).toContainEqual({
      source_matchers: ['alertname="AliyunSasExporterDown"'],
      target_matchers: ['task_id=~".+"'],
      equal: ['job', 'instance'],
    });
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

  it('suppresses the down exporter’s task alerts only', async () => {
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
    const a = 'exporter-a:9717';
    const b = 'exporter-b:9717';
    await am.postAlerts([
      { labels: { alertname: 'AliyunSasExporterDown', severity: 'critical', job, instance: a } },
      { labels: { alertname: 'AliyunSasScanTaskFailed', severity: 'warning', job, instance: a, task_id: '1001', target: 'srv-a' } },
      { labels: { alertname: 'AliyunSasScanTaskFailed', severity: 'warning', job, instance: b, task_id: '1001', target: 'srv-a' } },
      { labels: { alertname: 'AliyunSasConfigReloadFailed', severity: 'warning', job, instance: a } },
      { labels: { alertname: 'AliyunSasPermissionDenied', severity: 'critical', job, instance: b, action: 'DescribeScanTaskProgress', code: 'NoPermission' } },
      { labels: { alertname: 'AliyunSasScanTaskPollFailing', severity: 'warning', job, instance: b, task_id: '1002', class: 'api', code: 'NoPermission' } },
      { labels: { alertname: 'AliyunSasScanTaskPollFailing', severity: 'warning', job, instance: b, task_id: '1003', class: 'timeout', code: 'timeout' } },
    ]);

    const key = (l: Record<string, string>) => `${l.alertname} ${l.instance} ${l.task_id ?? '-'}`;
    let states: Record<string, string> = {};
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      states = Object.fromEntries((await am.alerts()).map((x) => [key(x.labels), x.status.state]));
      if (Object.keys(states).length === 7 && !Object.values(states).includes('unprocessed')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(states).toEqual({
      [`AliyunSasExporterDown ${a} -`]: 'active',
      [`AliyunSasScanTaskFailed ${a} 1001`]: 'suppressed',
      [`AliyunSasScanTaskFailed ${b} 1001`]: 'active',
      [`AliyunSasConfigReloadFailed ${a} -`]: 'active',
      [`AliyunSasPermissionDenied ${b} -`]: 'active',
      [`AliyunSasScanTaskPollFailing ${b} 1002`]: 'suppressed',
      [`AliyunSasScanTaskPollFailing ${b} 1003`]: 'active',
    });
  }, 60_000);
});
