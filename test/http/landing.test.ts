/**
 * The landing page's renderer, without I/O: what it shows in both
 * configuration forms, escaping, no secret, nothing loaded or run, and its
 * cost independent of the number of tasks.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { renderLandingPage, span } from '../../src/http/landing.js';
import type { TaskState } from '../../src/model/snapshot.js';
import { summariseAccount, type AccountStatus, type ExporterStatus } from '../../src/model/status.js';

const NOW = Date.UTC(2025, 0, 31, 12, 0, 0);
const OPTS = { telemetryPath: '/metrics' };

function account(name: string, over: Partial<AccountStatus> = {}): AccountStatus {
  return {
    name,
    region: 'cn-shanghai',
    endpoint: 'tds.cn-shanghai.aliyuncs.com',
    latestScanEnabled: true,
    tasks: { total: 12, answered: 12, byStatus: { init: 1, processing: 3, success: 6, failed: 1, unknown: 0 }, noStatus: 1, pollsFailing: 1 },
    attention: [
      { id: '282845', name: 'bastion', status: 'failed' },
      { id: '282843', name: 'mail relay', pollError: 'NoPermission' },
    ],
    attentionMore: 0,
    latestScan: { lastPollOk: true, status: 'running', progressPercent: 40, scanTimeMs: NOW - 90_000, machinesScanned: 40, machinesComplete: 16, machinesUncomplete: 24, machinesSuspicious: 2, riskLevel: 'high' },
    lastCycle: { result: 'partial', finishedAt: NOW - 3_000, durationMs: 325, apiCalls: 13 },
    skippedTicks: 0,
    apiCalls: 53,
    apiErrors: 4,
    errorCodes: [{ code: 'NoPermission', count: 4 }],
    rateLimitQps: 20,
    ...over,
  };
}

function status(over: Partial<ExporterStatus> = {}): ExporterStatus {
  return {
    version: '0.1.0',
    revision: 'abc1234',
    nodeVersion: 'v20.19.0',
    startedAt: NOW - 3_723_000,
    now: NOW,
    demo: false,
    multiAccount: true,
    schedule: '*/30 * * * * *',
    readiness: { ready: true, answered: 16, total: 16, timeoutMs: 60_000 },
    config: { lastReloadOk: true, lastSuccessAt: NOW - 60_000 },
    accounts: [
      account('prod'),
      account('audit', {
        region: undefined,
        endpoint: 'tds.ap-southeast-1.aliyuncs.com',
        tasks: { total: 2, answered: 2, byStatus: { init: 0, processing: 0, success: 0, failed: 0, unknown: 0 }, noStatus: 2, pollsFailing: 2 },
        attention: [{ id: '300001', name: '', pollError: 'NoPermission' }],
        latestScan: { lastPollOk: false, pollError: 'NoPermission' },
        lastCycle: { result: 'failure', finishedAt: NOW - 3_000, durationMs: 166, apiCalls: 3 },
        apiCalls: 12,
        apiErrors: 12,
        errorCodes: [{ code: 'NoPermission', count: 12 }],
      }),
    ],
    ...over,
  };
}

/** The visible text, roughly as a browser shows it. */
const text = (html: string) =>
  html
    .replace(/<style>[\s\S]*?<\/style>/, '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&#(\d+);/g, (_m, c: string) => String.fromCharCode(Number(c)))
    .replace(/\s+/g, ' ');
/** The rows of the first table whose header has `th`. */
function rows(html: string, th: string): string[] {
  const table = html.split('<table>').find((t) => t.includes(`<th>${th}</th>`));
  return table ? [...table.slice(0, table.indexOf('</table>')).matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => text(m[1]!).trim()).slice(1) : [];
}
/** Every tag with its attribute values blanked: the markup's shape. */
const shape = (html: string) => (html.match(/<[^>]*>/g) ?? []).map((t) => t.replace(/="[^"]*"/g, '=""'));

describe('the landing page', () => {
  it('the multi-account form: one row per account with its tasks, statuses, last cycle, API errors and latest scan', () => {
    const html = renderLandingPage(status(), OPTS);
    const page = text(html);
    expect(page).toContain('aliyun-sas-exporter 0.1.0');
    expect(page).toMatch(/Readiness Ready 16 of 16 tasks and latest scans answered/);
    expect(page).toMatch(/Tasks 14 in 2 accounts; 1 failed 3 polls failing/);
    expect(page).toContain('Up 1 h 2 min since 2025-01-31 10:57:57 UTC');
    expect(page).toContain('Schedule */30 * * * * *');
    const accounts = rows(html, 'Account');
    expect(accounts).toHaveLength(2);
    expect(accounts[0]).toMatch(/^prod tds\.cn-shanghai\.aliyuncs\.com cn-shanghai 12 init 1 processing 3 success 6 failed 1 no status yet 1 polls failing 1 partial 3 s ago 2025-01-31 11:59:57 UTC, took 325 ms, 13 calls 53 calls, 4 errors NoPermission ×4 rate limit 20 qps running 40 % 40 machines, 16 complete, 24 not complete 2 suspicious risk high started 1 min 30 s ago$/);
    expect(accounts[1]).toMatch(/^audit tds\.ap-southeast-1\.aliyuncs\.com 2 no status yet 2 polls failing 2 failure 3 s ago .* 12 calls, 12 errors NoPermission ×12 rate limit 20 qps poll failing NoPermission$/);
    expect(rows(html, 'Task ID')).toEqual(['prod 282845 bastion failed OK', 'prod 282843 mail relay none yet failing NoPermission', 'audit 300001 (no name) none yet failing NoPermission']);
    expect(page).toContain('Needs attention (3 tasks)');
    expect(page).toContain('Version 0.1.0, revision abc1234, Node.js v20.19.0');
    expect(page).not.toContain('Demo mode');
  });

  it('the single-account form names no account: no account column, in either table', () => {
    const one = status({ multiAccount: false, accounts: [account('')] });
    const html = renderLandingPage(one, OPTS);
    expect(html).not.toContain('<th>Account</th>');
    expect(text(html)).toContain('Polling');
    expect(text(html)).not.toMatch(/\baccounts?\b/i);
    expect(rows(html, 'API endpoint')).toHaveLength(1);
    expect(rows(html, 'API endpoint')[0]).toMatch(/^tds\.cn-shanghai\.aliyuncs\.com cn-shanghai 12 init 1/);
    expect(rows(html, 'Task ID')[0]).toBe('282845 bastion failed OK');
    expect(text(html)).toContain('Tasks 12 1 failed 1 poll failing');
  });

  it('escapes every string from the configuration and the API: hostile names leave the markup as plain names do', () => {
    const hostile = {
      account: '<script>alert(1)</script>',
      endpoint: 'evil.example"><img src=x onerror=alert(2)>:443',
      region: "cn-'shanghai'&amp;",
      task: '"><iframe src=//evil.example></iframe>',
      id: '1<b>2</b>',
      code: '</td></tr></table><h1>pwned</h1>',
      schedule: '*/5 * * * * <svg/onload=alert(3)>',
      revision: '<meta http-equiv=refresh content=0;url=//evil.example>',
      path: '/m"etrics<x>',
    };
    const plain = { account: 'a', endpoint: 'e', region: 'r', task: 't', id: '1', code: 'c', schedule: 's', revision: 'v', path: '/metrics' };
    const page = (n: typeof plain) =>
      renderLandingPage(
        status({
          revision: n.revision,
          schedule: n.schedule,
          accounts: [
            account(n.account, {
              endpoint: n.endpoint,
              region: n.region,
              attention: [{ id: n.id, name: n.task, status: 'failed', pollError: n.code }],
              errorCodes: [{ code: n.code, count: 4 }],
              latestScan: { lastPollOk: false, pollError: n.code },
            }),
          ],
        }),
        { telemetryPath: n.path, documentationUrl: `https://docs.example/${n.path}` },
      );
    const bad = page(hostile);
    expect(shape(bad)).toEqual(shape(page(plain)));
    for (const s of Object.values(hostile)) {
      expect(bad).not.toContain(s);
      // Shown as text, exactly.
      expect(text(bad)).toContain(s.replace(/\s+/g, ' '));
    }
    expect(bad).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
  });

  it('loads nothing and runs nothing: no script, no resource, no event handler, only relative links (and the documentation)', () => {
    for (const html of [renderLandingPage(status({ demo: true }), { telemetryPath: '/metrics', documentationUrl: 'https://docs.example/exporter' }), renderLandingPage(undefined, OPTS)]) {
      expect(html).not.toMatch(/<script|<link|<img|<iframe|<object|<embed|<form|\ssrc=|url\(|@import|\son[a-z]+=/i);
      const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);
      expect(hrefs.filter((h) => !h.startsWith('/'))).toEqual(html.includes('docs.example') ? ['https://docs.example/exporter'] : []);
      expect(html.match(/https?:\/\//g) ?? []).toHaveLength(html.includes('docs.example') ? 1 : 0);
    }
  });

  it('links the telemetry path, health, readiness and the documentation', () => {
    const html = renderLandingPage(status(), { telemetryPath: '/custom/metrics' });
    expect([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1])).toEqual(['/custom/metrics', '/-/healthy', '/-/ready']);
    expect(text(html)).toContain('Documentation: README.md of the exporter');
    const withDocs = renderLandingPage(status(), { telemetryPath: '/metrics', documentationUrl: 'https://docs.example/exporter#readme' });
    expect(withDocs).toContain('<a href="https://docs.example/exporter#readme">Documentation</a>');
  });

  it('without a status (a server without a pipeline): the links only', () => {
    const html = renderLandingPage(undefined, OPTS);
    expect(text(html)).toMatch(/aliyun-sas-exporter Prometheus exporter .* Endpoints \/metrics the metrics/);
    expect(html).not.toContain('<table>');
  });

  it('not ready, a failed reload, demo mode, no cycle yet, scans not polled, without a scan, not enabled', () => {
    const html = renderLandingPage(
      status({
        demo: true,
        readiness: { ready: false, answered: 3, total: 16, timeoutMs: 60_000 },
        config: { lastReloadOk: false, lastSuccessAt: NOW - 600_000 },
        accounts: [
          account('a', { lastCycle: undefined, skippedTicks: 2, latestScan: {}, apiCalls: 0, apiErrors: 0, errorCodes: [], rateLimitQps: undefined }),
          account('b', { latestScan: { lastPollOk: true } }),
          account('c', { latestScanEnabled: false, latestScan: undefined, attention: [], attentionMore: 0 }),
        ],
      }),
      OPTS,
    );
    const page = text(html);
    expect(page).toContain('Demo mode: polling the built-in simulator');
    expect(page).toContain('Not ready 3 of 16 tasks and latest scans answered; ready when all are, or 1 min after start');
    expect(page).toContain('last reload failed the reason is in the exporter log');
    const [a, b, c] = rows(html, 'Account');
    expect(a).toMatch(/none finished yet 2 ticks skipped 0 calls, no error not polled yet$/);
    expect(b).toMatch(/no scan known$/);
    expect(c).toMatch(/not enabled$/);
  });

  it('more tasks need attention than are named: says how many more, and where to find them all', () => {
    const html = renderLandingPage(status({ accounts: [account('prod', { attentionMore: 1_234 })] }), OPTS);
    expect(text(html)).toContain('Needs attention (1,236 tasks)');
    expect(text(html)).toContain('and 1,234 more: aliyun_sas_scan_task_status and aliyun_sas_scan_task_poll_error_info name them all');
    expect(rows(html, 'Task ID')).toHaveLength(2);
    expect(text(renderLandingPage(status({ accounts: [account('prod', { attention: [] })] }), OPTS))).toContain('Needs attention Nothing: no task failed');
  });

  it('costs the same for 100 tasks as for 10,000: no task series, a few named tasks at most', () => {
    const tasks = (n: number): TaskState[] =>
      Array.from({ length: n }, (_, i) => ({ id: String(100_000 + i), name: `task ${i}`, targets: [], lastPollOk: i % 7 !== 0, ...(i % 7 === 0 ? { lastError: { class: 'api' as const, code: 'ServerError' } } : { status: i % 3 ? ('success' as const) : ('failed' as const) }) }));
    const pageOf = (n: number) => {
      const summary = summariseAccount({ name: 'prod', tasks: tasks(n) });
      return renderLandingPage(status({ accounts: [account('prod', summary)] }), OPTS);
    };
    const small = pageOf(100);
    const large = pageOf(10_000);
    expect(Math.abs(large.length - small.length)).toBeLessThan(100);
    expect(large.length).toBeLessThan(16_000);
    expect(large).not.toContain('100999');
    const s = status({ accounts: [account('prod', summariseAccount({ name: 'prod', tasks: tasks(10_000) }))] });
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) renderLandingPage(s, OPTS);
    const perPage = (performance.now() - t0) / 200;
    console.log(`landing page: ${large.length} bytes, ${perPage.toFixed(3)} ms per render`);
    expect(perPage).toBeLessThan(5);
  });

  it('durations in two units at most', () => {
    expect([0, 350, 1_234, 3_000, 42_000, 61_000, 3_600_000, 3_723_000, 93_600_000].map(span)).toEqual(['0 ms', '350 ms', '1.2 s', '3 s', '42 s', '1 min 1 s', '1 h', '1 h 2 min', '1 d 2 h']);
  });
});

// No field of the status could hold a credential: checked by the compiler (npm run typecheck).
type Keys<T> = T extends readonly (infer U)[] ? Keys<U> : T extends object ? { [K in keyof T & string]: K | Keys<T[K]> }[keyof T & string] : never;
type SecretLike = Extract<Lowercase<Keys<ExporterStatus>>, `${string}${'secret' | 'token' | 'password' | 'passwd' | 'credential' | 'key' | 'role' | 'profile' | 'auth' | 'arn' | 'external'}${string}`>;

describe('the status holds no secret', () => {
  it('has no field named like a credential (type level, and in a full status)', () => {
    expectTypeOf<SecretLike>().toBeNever();
    const keys = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) {
          keys.add(k);
          walk(x);
        }
    };
    walk(status());
    expect(keys.size).toBeGreaterThan(30);
    expect([...keys].filter((k) => /secret|token|passw|credential|key|role|profile|auth|arn|external/i.test(k))).toEqual([]);
  });
});
