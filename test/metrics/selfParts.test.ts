import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ExpositionCache, storedGzipMember } from '../../src/metrics/cache.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import type { Snapshot } from '../../src/model/snapshot.js';
import { snapshotOf } from '../fixtures/snapshots.js';

const snapshot: Snapshot = snapshotOf([{ id: '1', name: 'a', status: 'processing', rawStatus: 'Processing', targets: [{ type: 'uuid', target: 'u', name: 'h' }], lastPollOk: true }]);

describe('storedGzipMember', () => {
  it('is a gzip member of the bytes as they are, whatever their size', () => {
    for (const size of [0, 1, 100, 65_535, 65_536, 200_001]) {
      const data = Buffer.alloc(size, 'metric_line 1\n');
      const gz = storedGzipMember(data);
      expect(gunzipSync(gz).equals(data)).toBe(true);
      // Concatenated with a compressed member it still decodes as one stream.
      expect(gunzipSync(Buffer.concat([gz, storedGzipMember(Buffer.from('x'))])).toString()).toBe(data.toString() + 'x');
    }
  });
});

describe('self-metrics in parts', () => {
  it('serve the same bytes as the whole text, in every format', async () => {
    // Process metrics on (two parts), collected once: a frozen clock keeps them from expiring mid-test.
    const self = new SelfMetrics({ version: '1', revision: 'r', now: () => 0 });
    const whole = new ExpositionCache(() => self.render());
    const parts = new ExpositionCache(() => self.renderParts());
    await whole.update(snapshot);
    await parts.update(snapshot);
    const body = async (c: ExpositionCache, openMetrics: boolean, gzip: boolean) => {
      const e = await c.expose({ openMetrics, gzip });
      const raw = Buffer.concat(e.chunks);
      expect(raw.length).toBe(e.length);
      return (gzip ? gunzipSync(raw) : raw).toString();
    };
    for (const openMetrics of [false, true]) {
      // Twice: the second answer reuses the compressed stable part.
      for (let i = 0; i < 2; i++) {
        const a = await body(whole, openMetrics, false);
        for (const gzip of [false, true]) expect(await body(parts, openMetrics, gzip)).toBe(a);
      }
    }
    expect(await body(parts, false, false)).toContain('process_cpu_user_seconds_total');
    expect(await body(parts, true, true)).toMatch(/# EOF\n$/);
  });
});

describe('self-metrics between scrapes', () => {
  const parse = (text: string, line: string): number | undefined => {
    const m = text.split('\n').find((l) => l.startsWith(`${line} `));
    return m === undefined ? undefined : Number(m.slice(line.length + 1));
  };

  it('are rendered by prom-client only after an event changed them, and every event shows at the next scrape', async () => {
    const self = new SelfMetrics({ version: '1', revision: 'r', processMetrics: false });
    const account = self.account('');
    let renders = 0;
    const metrics = self.registry.metrics.bind(self.registry);
    self.registry.metrics = () => {
      renders++;
      return metrics();
    };
    const first = await self.renderParts();
    for (let i = 0; i < 50; i++) {
      self.scraped(200);
      const p = await self.renderParts();
      // The very same string, in the very same array: the cache keeps their compressed form.
      expect(p.stable![0]).toBe(first.stable![0]);
      expect(p.stable).toBe(first.stable);
      // The scrape counter is exact at every scrape.
      expect(parse(p.volatile, 'aliyun_sas_exporter_scrapes_total{code="200"}')).toBe(i + 1);
    }
    expect(renders).toBe(1);

    const events: [string, () => void, string, number][] = [
      ['apiCall', () => account.apiCall('DescribeScanTaskProgress', 'OK', 0.2), 'aliyun_sas_api_requests_total{action="DescribeScanTaskProgress",code="OK"}', 1],
      ['targetInfoError', () => account.targetInfoError('empty'), 'aliyun_sas_target_info_errors_total{reason="empty"}', 1],
      ['tickSkipped', () => account.tickSkipped(), 'aliyun_sas_poll_cycles_total{result="skipped"}', 1],
      ['cycleFinished', () => account.cycleFinished({ kind: 'schedule', result: 'success', durationMs: 1500, startedAt: 1_000_000, apiCalls: 7, tasksPolled: 3, tasksFailed: 0, retriesDropped: 0 }), 'aliyun_sas_poll_cycle_api_calls', 7],
      ['rateLimitChanged', () => account.rateLimitChanged(12), 'aliyun_sas_api_rate_limit_qps', 12],
      ['configLoaded', () => self.configLoaded(false, 0), 'aliyun_sas_exporter_config_last_reload_successful', 0],
      ['tasksServed', () => self.tasksServed(snapshotOf(Array.from({ length: 42 }, (_, i) => ({ id: String(i + 1), name: '', targets: [] })))), 'aliyun_sas_tasks', 42],
      ['accountsChanged', () => self.accountsChanged([{ name: '', latestScan: { enabled: true } }]), 'aliyun_sas_api_requests_total{action="ListVirusScanTask",code="OK"}', 0],
    ];
    for (const [what, event, line, value] of events) {
      const before = renders;
      event();
      const text = await self.render();
      expect(parse(text, line), what).toBe(value);
      expect(renders, what).toBe(before + 1);
      await self.render();
      expect(renders, what).toBe(before + 1);
    }
  });

  it('render the scrape counter as prom-client renders a counter', async () => {
    const self = new SelfMetrics({ version: '1', revision: 'r', processMetrics: false });
    const head = '# HELP aliyun_sas_exporter_scrapes_total Responses of the telemetry path by HTTP status code.\n# TYPE aliyun_sas_exporter_scrapes_total counter\n';
    const lines = (counts: [number, number][]) => counts.map(([code, n]) => `aliyun_sas_exporter_scrapes_total{code="${code}"} ${n}\n`).join('');
    // The codes known in advance start at 0.
    expect((await self.renderParts()).volatile).toBe(head + lines([[200, 0], [401, 0], [429, 0], [500, 0], [503, 0]]));
    self.scraped(200);
    self.scraped(503);
    self.scraped(200);
    self.scraped(404);
    expect((await self.renderParts()).volatile).toBe(head + lines([[200, 2], [401, 0], [429, 0], [500, 0], [503, 1], [404, 1]]));
    expect(self.familyNames()).toContain('aliyun_sas_exporter_scrapes_total');
  });
});
