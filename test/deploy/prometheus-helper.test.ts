/**
 * The Prometheus/Alertmanager test helper against the real binaries:
 * Prometheus scraping itself, and an alert going Prometheus -> Alertmanager
 * -> webhook. Skipped outside CI when the binaries are missing; required in CI.
 */
import { createServer, type Server } from 'node:http';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findBinary, prometheusConfig, startAlertmanager, startPrometheus, toolGate, type PrometheusInstance, type AlertmanagerInstance } from '../support/prometheus.js';

const gate = toolGate(['prometheus', 'alertmanager']);
if (gate.skip) console.warn(`[prometheus-helper.test] skipping: ${gate.reason}`);
const itTools = gate.skip ? it.skip : it;

describe('toolGate / findBinary', () => {
  it('finds nothing for an empty PATH override pointing nowhere, and skips only outside CI', () => {
    const env = { PATH: '/nonexistent', PROMTOOL_BIN: '/nonexistent/promtool' };
    expect(findBinary('promtool', env)).toBeUndefined();
    const local = toolGate(['promtool'], env);
    expect(local).toMatchObject({ available: false, required: false, skip: true, missing: ['promtool'] });
    expect(local.reason).toContain('promtool');
    const ci = toolGate(['promtool'], { ...env, CI: 'true' });
    expect(ci).toMatchObject({ available: false, required: true, skip: false });
    expect(() => ci.path('promtool')).toThrow(/required in CI/);
    expect(local.reason).toContain('apt-get install prometheus');
    expect(toolGate(['systemd-analyze', 'amtool'], { PATH: '/nonexistent', SYSTEMD_ANALYZE_BIN: '/nonexistent/x', AMTOOL_BIN: '/nonexistent/y' }).reason).toContain(
      'apt-get install systemd prometheus-alertmanager',
    );
  });

  it('renders a valid scrape configuration', () => {
    const cfg = prometheusConfig(
      { selfScrape: true, scrapeJobs: [{ job: 'x', targets: ['127.0.0.1:1'] }], ruleFiles: ['r.yml'], alertmanagerUrl: 'http://127.0.0.1:9093' },
      '127.0.0.1:9090',
    );
    expect(cfg).toMatchObject({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      scrape_configs: [
        { job_name: 'prometheus', static_configs: [{ targets: ['127.0.0.1:9090'] }] },
        { job_name: 'x', static_configs: [{ targets: ['127.0.0.1:1'] }] },
      ],
      alerting: { alertmanagers: [{ scheme: 'http', static_configs: [{ targets: ['127.0.0.1:9093'] }] }] },
    });
    expect((cfg.rule_files as string[])[0]).toBe(path.resolve('r.yml'));
  });
});

describe('real Prometheus and Alertmanager', () => {
  let prom: PrometheusInstance | undefined;
  let am: AlertmanagerInstance | undefined;
  let hook: Server | undefined;
  const dirs: string[] = [];

  afterAll(async () => {
    await prom?.stop();
    await am?.stop();
    await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  itTools('starts Prometheus scraping itself and queries up', async () => {
    gate.path('prometheus');
    prom = await startPrometheus({ selfScrape: true });
    const up = await prom.waitFor('up{job="prometheus"}', (s) => s.length === 1 && s[0]?.value === 1);
    expect(up[0]?.metric).toMatchObject({ job: 'prometheus', instance: `127.0.0.1:${prom.port}` });
    expect(await prom.query('1 + 1')).toEqual([expect.objectContaining({ value: 2, metric: {} })]);
    await expect(prom.query('sum(')).rejects.toThrow(/parse error/);
    const targets = await prom.targets();
    expect(targets.map((t) => t.health)).toEqual(['up']);
  });

  itTools('delivers an alert from a rule file through Alertmanager to a webhook', async () => {
    gate.path('alertmanager');
    const received: { alerts: { labels: Record<string, string>; status: string }[] }[] = [];
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook?.listen(0, '127.0.0.1', () => r()));
    const hookPort = (hook.address() as { port: number }).port;

    am = await startAlertmanager({ webhookUrl: `http://127.0.0.1:${hookPort}/hook` });

    const dir = mkdtempSync(path.join(tmpdir(), 'helper-rules-'));
    dirs.push(dir);
    const rules = path.join(dir, 'rules.yml');
    writeFileSync(rules, 'groups:\n  - name: t\n    rules:\n      - alert: HelperAlwaysFiring\n        expr: vector(1)\n        labels: {severity: warning}\n');
    if (!prom) prom = await startPrometheus({ selfScrape: true });
    await prom.reload({ ruleFiles: [rules], alertmanagerUrl: am.url });

    // Prometheus' Alertmanager discovery takes about 5 s to settle.
    const deadline = Date.now() + 45_000;
    while (Date.now() < deadline && !received.some((m) => m.alerts.some((a) => a.labels.alertname === 'HelperAlwaysFiring'))) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const alert = received.flatMap((m) => m.alerts).find((a) => a.labels.alertname === 'HelperAlwaysFiring');
    expect(alert, `webhook got ${JSON.stringify(received)}\nprometheus:\n${prom.logs()}\nalertmanager:\n${am.logs()}`).toMatchObject({
      status: 'firing',
      labels: { alertname: 'HelperAlwaysFiring', severity: 'warning' },
    });
    expect((await prom.alerts()).map((a) => [a.labels.alertname, a.state])).toContainEqual(['HelperAlwaysFiring', 'firing']);
    expect((await am.alerts()).map((a) => a.labels.alertname)).toContain('HelperAlwaysFiring');
  }, 60_000);
});
