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
    for (const o of [account, self]) {
      o.cycleFinished(cycle());
      o.cycleFinished(cycle({ kind: 'added', tasksPolled: 1, apiCalls: 1, startedAt: 2_000_000, durationMs: 10 }));
    }
    const s = await scrape(self);
    expect(sum(s, 'aliyun_sas_poll_cycle_tasks_polled')).toBe(10);
    expect(sum(s, 'aliyun_sas_poll_cycle_api_calls')).toBe(10);
    expect(sum(s, 'aliyun_sas_poll_cycles_total', { result: 'success' })).toBe(1);
    expect(sum(s, 'aliyun_sas_poll_last_cycle_timestamp_seconds')).toBe(1000.5);
  });
});
