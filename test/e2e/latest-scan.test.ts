/**
 * What the scans found, end to end: the built exporter polls the simulator's
 * GetVirusScanLatestTaskStatistic and ListVirusScanTask through the real SDK.
 * A scan of 250 machines (3 pages) is replaced by a newer one whose machine
 * names need escaping; an account that never ran a scan; scan-results calls
 * denied while task polling goes on; max_machines.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { select, value, type Sample } from '../support/exposition.js';
import { independentParserGate, parseIndependently } from '../support/independentParser.js';
import { toolGate } from '../support/prometheus.js';
import { Rig, sum, withRigs } from '../support/rig.js';
import { exporterYaml } from '../support/yaml.js';

const FIRST = 'fc98d58eb56f699d49bf7ebbd6d70001';
const SECOND = 'fc98d58eb56f699d49bf7ebbd6d70002';
const WEIRD = ['quote "web" tier', 'back\\slash C:\\data', '数据库-主 (主)', 'new\nline?'];

const machineSeries = (s: Sample[]) => s.filter((x) => x.name.startsWith('aliyun_sas_virus_scan_machine_'));
const latestSeries = (s: Sample[]) => s.filter((x) => x.name.startsWith('aliyun_sas_virus_scan_latest_') || x.name === 'aliyun_sas_virus_scan_machines_dropped');
const stat = (s: Sample[], action: string, code = 'OK') => sum(s, 'aliyun_sas_api_requests_total', { action, code });

describe('the latest scan and its machines', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await Rig.start({
      tag: 'latest-scan',
      scenario: {
        tasks: [{ id: 4001, status: 'Processing' }],
        virus_scans: [
          {
            task_id: FIRST,
            // 250 machines, all finished within a second: stable for the assertions.
            machines: { count: 250, run_time_min: '100ms', run_time_max: '500ms', failed_rate: 0.1, timeout_rate: 0.05, suspicious_rate: 0.1 },
          },
          {
            at: '8s',
            task_id: SECOND,
            scan_type: 'user',
            scan_path: ['/root'],
            machines: WEIRD.map((name, i) => ({
              uuid: `9a8c1d2e-0000-4000-8000-00000000000${i}`,
              instance_name: name,
              internet_ip: '47.96.XX.XX',
              intranet_ip: '172.16.XX.XX',
              timeline: [{ status: 'running', for: '1h' }],
            })),
          },
        ],
      },
      config: (endpoint) => exporterYaml({ endpoint, tasks: ['4001'], extra: 'latest_scan: { enabled: true, page_size: 100 }' }),
    });
  });
  afterAll(() => rig?.close());

  test('250 machines over 3 pages, exactly; the summary beside them', async () => {
    const s = await rig.until(
      (x) =>
        select(x, 'aliyun_sas_virus_scan_machine_info').length === 250 &&
        select(x, 'aliyun_sas_virus_scan_machine_status', { status: 'running' }).every((m) => m.value === 0) &&
        // A scrape between two listings (one mid-listing counts a part of its pages).
        stat(x, 'ListVirusScanTask') % 3 === 0,
      'the 250 machines, finished, between listings',
    );
    const info = select(s, 'aliyun_sas_virus_scan_machine_info');
    expect(new Set(info.map((m) => m.labels.uuid)).size).toBe(250);
    expect(info.every((m) => m.labels.task_id === FIRST && m.value === 1)).toBe(true);
    expect(select(s, 'aliyun_sas_virus_scan_machine_status')).toHaveLength(250 * 5);
    expect(value(s, 'aliyun_sas_virus_scan_latest_info', { task_id: FIRST, scan_type: 'system' })).toBe(1);
    expect(value(s, 'aliyun_sas_virus_scan_latest_status', { status: 'complete' })).toBe(1);
    expect(value(s, 'aliyun_sas_virus_scan_latest_progress_ratio')).toBe(1);
    expect(value(s, 'aliyun_sas_virus_scan_latest_machines', { state: 'scanned' })).toBe(250);
    // The summary agrees with the rows.
    const failedRows = select(s, 'aliyun_sas_virus_scan_machine_status').filter((m) => m.value === 1 && m.labels.status !== 'complete').length;
    expect(value(s, 'aliyun_sas_virus_scan_latest_machines', { state: 'complete' })).toBe(250 - failedRows);
    expect(value(s, 'aliyun_sas_virus_scan_latest_poll_success')).toBe(1);
    expect(value(s, 'aliyun_sas_virus_scan_machines_dropped')).toBe(0);
    // Three pages per listing: never more list calls than three per statistic call.
    expect(stat(s, 'ListVirusScanTask')).toBeLessThanOrEqual(3 * stat(s, 'GetVirusScanLatestTaskStatistic'));
  });

  test('a newer scan replaces the old one: the old machines’ series go in the same scrape the new ones come', async () => {
    const s = await rig.until((x) => value(x, 'aliyun_sas_virus_scan_latest_info', { task_id: SECOND, scan_type: 'user' }) === 1, 'the second scan', 20_000);
    const info = select(s, 'aliyun_sas_virus_scan_machine_info');
    expect(info.map((m) => m.labels.instance_name).sort()).toEqual([...WEIRD].sort());
    expect(info.every((m) => m.labels.task_id === SECOND)).toBe(true);
    expect(machineSeries(s).every((m) => m.labels.uuid!.startsWith('9a8c1d2e-'))).toBe(true);
    expect(value(s, 'aliyun_sas_virus_scan_latest_status', { status: 'running' })).toBe(1);
  });

  test('quoted, backslashed, non-ASCII and multi-line names survive promtool and an independent OpenMetrics parser', async (ctx) => {
    const tools = toolGate(['promtool']);
    const parser = independentParserGate();
    if (tools.skip || parser.skip) {
      console.warn(`SKIPPED: ${[tools.reason, parser.reason].filter(Boolean).join('; ')}`);
      ctx.skip();
    }
    const text = await rig.exporter.scrapeText();
    const om = await (await fetch(`${rig.exporter.base}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } })).text();
    const r = spawnSync(tools.path('promtool'), ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect({ status: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({ status: 0, out: '' });
    for (const [body, format] of [[om, 'openmetrics'], [text, 'text']] as const) {
      const names = parseIndependently(body, format)
        .filter((x) => x.name === 'aliyun_sas_virus_scan_machine_info')
        .map((x) => x.labels.instance_name)
        .sort();
      expect(names, format).toEqual([...WEIRD].sort());
    }
  });
});

describe('edge cases of the scan results', () => {
  test('an account that never ran a scan: poll_success 1 and no other latest-scan or machine series', withRigs(async (start) => {
    const rig = await start({
      scenario: { tasks: [{ id: 4101, status: 'Success' }], no_scan_data: 'absent' },
      config: (endpoint) => exporterYaml({ endpoint, tasks: ['4101'], extra: 'latest_scan: { enabled: true }' }),
    });
    const s = await rig.until((x) => value(x, 'aliyun_sas_virus_scan_latest_poll_success') === 1, 'the first scan poll');
    expect(latestSeries(s).map((x) => x.name)).toEqual(['aliyun_sas_virus_scan_latest_poll_success']);
    expect(machineSeries(s)).toEqual([]);
    expect(stat(s, 'ListVirusScanTask')).toBe(0);
  }));

  test('NoPermission on the scan-results actions leaves task polling untouched', withRigs(async (start) => {
    const rig = await start({
      scenario: {
        tasks: [{ id: 4201, status: 'Processing' }],
        faults: [{ kind: 'no_permission', actions: ['GetVirusScanLatestTaskStatistic', 'ListVirusScanTask'] }],
        virus_scans: [{ machines: { count: 3 } }],
      },
      config: (endpoint) => exporterYaml({ endpoint, tasks: ['4201'], extra: 'latest_scan: { enabled: true }' }),
    });
    const s = await rig.until((x) => value(x, 'aliyun_sas_virus_scan_latest_poll_success') === 0 && sum(x, 'aliyun_sas_poll_cycles_total', { result: 'success' }) >= 2, 'two cycles');
    expect(value(s, 'aliyun_sas_scan_task_poll_success', { task_id: '4201' })).toBe(1);
    expect(value(s, 'aliyun_sas_scan_task_status', { task_id: '4201', status: 'processing' })).toBe(1);
    expect(value(s, 'aliyun_sas_virus_scan_latest_poll_error_info', { class: 'api', code: 'NoPermission' })).toBe(1);
    expect(stat(s, 'GetVirusScanLatestTaskStatistic', 'NoPermission')).toBeGreaterThan(0);
    expect(machineSeries(s)).toEqual([]);
    expect(rig.count('latest virus scan poll failed')).toBe(1); // once, not once per cycle
  }));

  test('max_machines: the rest counted in machines_dropped, logged once, not exported', withRigs(async (start) => {
    const rig = await start({
      scenario: { tasks: [{ id: 4301, status: 'Success' }], virus_scans: [{ machines: { count: 250, run_time_min: '100ms', run_time_max: '200ms' } }] },
      config: (endpoint) => exporterYaml({ endpoint, tasks: ['4301'], extra: 'latest_scan: { enabled: true, max_machines: 120, page_size: 50 }' }),
    });
    const s = await rig.until((x) => value(x, 'aliyun_sas_virus_scan_machines_dropped') === 130, 'the dropped count');
    expect(select(s, 'aliyun_sas_virus_scan_machine_info')).toHaveLength(120);
    // 120 rows need 3 pages of 50: the 4th and 5th page are never fetched.
    expect(stat(s, 'ListVirusScanTask')).toBe(3 * stat(s, 'GetVirusScanLatestTaskStatistic'));
    expect(rig.count('more machines than latest_scan.max_machines')).toBe(1);
  }));
});
