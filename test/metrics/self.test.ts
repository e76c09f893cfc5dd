import { describe, expect, it } from 'vitest';
import { SelfMetrics } from '../../src/metrics/self.js';
import { ACTIONS } from '../../src/model/vocabulary.js';
import type { CycleStats } from '../../src/poller/observer.js';
import { parseExposition } from '../support/exposition.js';
import { sum } from '../support/rig.js';

const cycle = (over: Partial<CycleStats> = {}): CycleStats => ({
  kind: 'schedule',
  result: 'success',
  startedAt: 1_000_000,
  durationMs: 500,
  tasksPolled: 10,
  tasksFailed: 0,
  apiCalls: 10,
  retriesDropped: 0,
  ...over,
});

async function scrape(self: SelfMetrics) {
  return parseExposition(await self.render());
}

describe('SelfMetrics', () => {
  it('starts counters whose label values are known at 0, so rate() sees their first increment', async () => {
    const s = await scrape(new SelfMetrics({ version: '1', revision: 'r', processMetrics: false }));
    const codes = s.filter((x) => x.name === 'aliyun_sas_exporter_scrapes_total').map((x) => x.labels.code);
    expect(codes.sort()).toEqual(['200', '401', '429', '500', '503']);
    expect(s.filter((x) => x.name === 'aliyun_sas_target_info_errors_total').map((x) => x.labels.reason).sort()).toEqual(['empty', 'malformed', 'missing']);
    expect(s.filter((x) => x.name === 'aliyun_sas_poll_cycles_total').map((x) => x.labels.result).sort()).toEqual(['failure', 'partial', 'skipped', 'success']);
    expect(sum(s, 'aliyun_sas_api_requests_total', { action: ACTIONS.describeScanTaskProgress, code: 'OK' })).toBe(0);
    expect(s.filter((x) => x.name === 'aliyun_sas_api_requests_total').length).toBeGreaterThan(0);
  });

  it('the poll of tasks a reload added is not a cycle: the last cycle figures stay', async () => {
    const self = new SelfMetrics({ version: '1', revision: 'r', processMetrics: false });
    const account = self.account('');
    account.cycleFinished(cycle());
    account.cycleFinished(cycle({ kind: 'added', tasksPolled: 1, apiCalls: 1, startedAt: 2_000_000, durationMs: 10 }));
    const s = await scrape(self);
    expect(sum(s, 'aliyun_sas_poll_cycle_tasks_polled')).toBe(10);
    expect(sum(s, 'aliyun_sas_poll_cycle_api_calls')).toBe(10);
    expect(sum(s, 'aliyun_sas_poll_cycles_total', { result: 'success' })).toBe(1);
    expect(sum(s, 'aliyun_sas_poll_last_cycle_timestamp_seconds')).toBe(1000.5);
  });
});

describe('SelfMetrics in the multi-account form', () => {
  it('labels every account family with the account and lists the accounts in aliyun_sas_account_info', async () => {
    const self = new SelfMetrics({ version: '1', revision: 'r', processMetrics: false, accountLabel: true });
    self.accountsChanged([
      { name: 'prod', endpoint: 'tds.cn-shanghai.aliyuncs.com', region: 'cn-shanghai' },
      { name: 'staging', endpoint: 'tds.ap-southeast-1.aliyuncs.com', region: undefined },
    ]);
    self.account('prod').apiCall(ACTIONS.describeScanTaskProgress, 'OK', 0.1);
    self.account('staging').apiCall(ACTIONS.describeScanTaskProgress, 'NoPermission', 0.1);
    self.account('staging').cycleFinished(cycle({ result: 'failure' }));
    self.account('prod').rateLimitChanged(5);
    const s = await scrape(self);
    expect(sum(s, 'aliyun_sas_api_requests_total', { account: 'prod', code: 'OK' })).toBe(1);
    expect(sum(s, 'aliyun_sas_api_requests_total', { account: 'staging', code: 'NoPermission' })).toBe(1);
    expect(sum(s, 'aliyun_sas_poll_cycles_total', { account: 'staging', result: 'failure' })).toBe(1);
    expect(sum(s, 'aliyun_sas_poll_cycles_total', { account: 'prod', result: 'failure' })).toBe(0);
    expect(sum(s, 'aliyun_sas_api_rate_limit_qps', { account: 'prod' })).toBe(5);
    expect(s.filter((x) => x.name === 'aliyun_sas_account_info').map((x) => x.labels)).toEqual([
      { account: 'prod', endpoint: 'tds.cn-shanghai.aliyuncs.com', region: 'cn-shanghai' },
      { account: 'staging', endpoint: 'tds.ap-southeast-1.aliyuncs.com', region: '' },
    ]);
    // Every per-account series carries the label; the global ones do not.
    for (const x of s) {
      if (
        [
          'aliyun_sas_exporter_build_info',
          'aliyun_sas_exporter_scrapes_total',
          'aliyun_sas_exporter_config_last_reload_successful',
          'aliyun_sas_exporter_config_last_reload_success_timestamp_seconds',
          'aliyun_sas_exporter_label_values_limited_total',
          'aliyun_sas_exporter_http_auth_denied_total',
          'aliyun_sas_exporter_http_connections_shed_total',
        ].includes(x.name)
      ) {
        expect(x.labels.account, x.name).toBeUndefined();
      } else if (x.name.startsWith('aliyun_sas_')) {
        expect(x.labels.account, x.name).toMatch(/^(prod|staging)$/);
      }
    }
  });

  it('an account removed by a reload loses every series, and what its last call reports afterwards is dropped', async () => {
    const self = new SelfMetrics({ version: '1', revision: 'r', processMetrics: false, accountLabel: true });
    self.accountsChanged([{ name: 'a' }, { name: 'b' }]);
    const b = self.account('b');
    b.apiCall(ACTIONS.describeScanTaskProgress, 'OK', 0.2);
    b.cycleFinished(cycle());
    self.accountsChanged([{ name: 'a' }]);
    b.apiCall(ACTIONS.describeScanTaskProgress, 'OK', 0.2); // a call that was in flight
    await new Promise((r) => setTimeout(r, 10));
    const s = await scrape(self);
    expect(s.filter((x) => x.labels.account === 'b').map((x) => x.name)).toEqual([]);
    expect(s.some((x) => x.labels.account === 'a')).toBe(true);
  });
});

describe('SelfMetrics.activity(): the same facts as plain figures, for the landing page', () => {
  it('last cycle, skipped ticks, calls and errors by code (most frequent first, three at most), rate limit', () => {
    const self = new SelfMetrics({ version: '1', revision: 'r', processMetrics: false, accountLabel: true });
    self.accountsChanged([{ name: 'prod' }, { name: 'audit' }]);
    const prod = self.account('prod');
    expect(self.activity('prod')).toEqual({ skippedTicks: 0, apiCalls: 0, apiErrors: 0, errorCodes: [] });
    for (const code of ['OK', 'OK', 'ServerError', 'Throttling.User', 'Throttling.User', 'NoPermission', 'timeout', 'timeout', 'timeout']) prod.apiCall(ACTIONS.describeScanTaskProgress, code, 0.1);
    prod.cycleFinished(cycle({ result: 'partial', startedAt: 5_000, durationMs: 250, apiCalls: 9 }));
    prod.cycleFinished(cycle({ kind: 'added', result: 'failure', startedAt: 9_000 })); // not a cycle
    prod.tickSkipped();
    prod.rateLimitChanged(2.5);
    expect(self.activity('prod')).toEqual({
      lastCycle: { result: 'partial', finishedAt: 5_250, durationMs: 250, apiCalls: 9 },
      skippedTicks: 1,
      apiCalls: 9,
      apiErrors: 7,
      errorCodes: [
        { code: 'timeout', count: 3 },
        { code: 'Throttling.User', count: 2 },
        { code: 'NoPermission', count: 1 },
      ],
      rateLimitQps: 2.5,
    });
    expect(self.activity('audit').apiCalls).toBe(0);
    // Gone with the account; a call still in flight counts nowhere.
    self.accountsChanged([{ name: 'audit' }]);
    prod.apiCall(ACTIONS.describeScanTaskProgress, 'ServerError', 0.1);
    expect(self.activity('prod')).toEqual({ skippedTicks: 0, apiCalls: 0, apiErrors: 0, errorCodes: [] });
  });

  it('configState(): the last load, and when one last succeeded', () => {
    const self = new SelfMetrics({ version: '1', revision: 'r', processMetrics: false });
    self.configLoaded(true, 1_000);
    expect(self.configState()).toEqual({ ok: true, lastSuccessAt: 1_000 });
    self.configLoaded(false, 2_000);
    expect(self.configState()).toEqual({ ok: false, lastSuccessAt: 1_000 });
  });
});
